"""Scaled dot-product attention, as torch.nn.functional.scaled_dot_product_attention.

    q (..., L, E), k (..., S, E), v (..., S, Ev)  ->  out (..., L, Ev)
    scores = q @ k^T * scale        (scale = 1/sqrt(E) by default)
    attn_mask: bool (True = may attend) or float (added to the scores);
    is_causal: query i sees keys 0..i (top-left aligned, tril of ones(L, S));
    given together with attn_mask, both apply (as PyTorch 2.13 does)
    out = dropout(softmax(scores)) @ v

Like PyTorch, a query row whose keys are all masked out gives zeros, not NaN.
The forward and backward run as the attention kernels (kernels/attention.py),
which see the leading dims as one batch dim; with dropout the op is composed
from matmul, masked_fill and softmax instead, and autograd derives it.
"""
import math

import numpy as np

from ... import ops
from ..._tensor import Tensor
from ...autograd import Function
from ...backend import kernels_for
from .activation import safe_softmax
from .layers import dropout


def _as_4d(a):
    """(B, H, ., .): 4-D arrays stay as they are (the kernels read any strides,
    so the head-split views of a fused qkv projection are not copied); others
    get their leading dims flattened into B, with H = 1."""
    return a if a.ndim == 4 else a.reshape((-1, 1) + a.shape[-2:])


class Attention(Function):
    def forward(self, q, k, v, mask, causal, scale):
        lead = q.shape[:-2]
        q4, k4, v4 = _as_4d(q), _as_4d(k), _as_4d(v)
        if mask is not None and q.ndim != 4:  # a 4-D q takes the mask as it broadcasts
            mask = _as_4d(np.broadcast_to(mask, lead + (q.shape[-2], k.shape[-2])))
        out, att = kernels_for(q).attention_forward(q4, k4, v4, mask, causal, scale)
        self.save_for_backward(q4, k4, v4, att)
        self.scale, self.causal, self.shapes = scale, causal, (q.shape, k.shape, v.shape)
        return out.reshape(lead + out.shape[-2:])

    def backward(self, g):
        q4, k4, v4, att = self.saved
        g4 = _as_4d(g)
        grads = kernels_for(g).attention_backward(g4, q4, k4, v4, att, self.scale, self.causal)
        return tuple(d.reshape(shape) for d, shape in zip(grads, self.shapes)) + (None,)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    q, k, v = query, key, value
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise RuntimeError(f"scaled_dot_product_attention: query, key and value need at least 2 "
                           f"dims, got {q.shape}, {k.shape}, {v.shape}")
    if q.shape[-1] != k.shape[-1]:
        raise RuntimeError(f"scaled_dot_product_attention: query {q.shape} and key {k.shape} "
                           f"must have the same last dim: {q.shape[-1]} != {k.shape[-1]}")
    if k.shape[-2] != v.shape[-2]:
        raise RuntimeError(f"scaled_dot_product_attention: key {k.shape} and value {v.shape} "
                           f"must have the same sequence length: {k.shape[-2]} != {v.shape[-2]}")
    if enable_gqa and q.ndim >= 3 and q.shape[-3] != k.shape[-3]:
        # grouped-query attention: each key/value head serves several query heads
        group = q.shape[-3] // k.shape[-3]
        k = ops.repeat_interleave(k, group, -3)
        v = ops.repeat_interleave(v, group, -3)
    L, S = q.shape[-2], k.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    mask = None
    if attn_mask is not None:
        mask = attn_mask if isinstance(attn_mask, Tensor) else Tensor(np.asarray(attn_mask))
        if mask.dtype != np.bool_ and not mask.is_floating_point():
            raise TypeError(f"scaled_dot_product_attention: attn_mask must be bool or float, "
                            f"got {mask.dtype}")
        try:
            if np.broadcast_shapes(mask.shape, q.shape[:-2] + (L, S)) != q.shape[:-2] + (L, S):
                raise ValueError
        except ValueError:
            raise RuntimeError(f"scaled_dot_product_attention: attn_mask of shape {mask.shape} "
                               f"does not broadcast to the scores' shape {q.shape[:-2] + (L, S)}") from None
    same_batch = q.shape[:-2] == k.shape[:-2] == v.shape[:-2] and q.dtype == k.dtype == v.dtype
    # the fused kernel takes the mask as a constant: a float mask that wants a gradient takes the op path
    mask_needs_grad = mask is not None and mask.requires_grad
    if dropout_p == 0.0 and same_batch and q.is_floating_point() and not mask_needs_grad:
        m = None if mask is None else (mask.data if mask.dtype == np.bool_ else mask.data.astype(q.dtype))
        return Attention.apply(q, k, v, m, causal=is_causal, scale=scale)
    scores = ops.matmul(q, k.mT) * scale  # (..., L, S)
    if is_causal:
        scores = scores.masked_fill(Tensor(~np.tri(L, S, dtype=bool, like=scores.data)), float("-inf"))
    if mask is not None:
        if mask.dtype == np.bool_:
            scores = ops.where(~mask, float("-inf"), scores)
        else:
            scores = scores + mask
    attn = safe_softmax(scores, -1)
    if dropout_p > 0.0:
        attn = dropout(attn, dropout_p)
    return ops.matmul(attn, v)
