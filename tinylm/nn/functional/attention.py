"""Scaled dot-product attention, as torch.nn.functional.scaled_dot_product_attention.

    q (..., L, E), k (..., S, E), v (..., S, Ev)  ->  out (..., L, Ev)
    scores = q @ k^T * scale        (scale = 1/sqrt(E) by default)
    attn_mask: bool (True = may attend) or float (added to the scores);
    is_causal: query i sees keys 0..i (top-left aligned, tril of ones(L, S));
    given together with attn_mask, both apply (as PyTorch 2.13 does)
    out = dropout(softmax(scores)) @ v

Like PyTorch, a query row whose keys are all masked out gives zeros, not NaN.
Composed from matmul, masked_fill and softmax, so autograd derives the backward.
"""
import math

import numpy as np

from ... import ops
from ..._tensor import Tensor
from .activation import safe_softmax
from .layers import dropout


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
    scores = ops.matmul(q, k.mT) * scale  # (..., L, S)
    if is_causal:
        scores = scores.masked_fill(Tensor(~np.tri(L, S, dtype=bool)), float("-inf"))
    if attn_mask is not None:
        mask = attn_mask if isinstance(attn_mask, Tensor) else Tensor(np.asarray(attn_mask))
        try:
            np.broadcast_shapes(mask.shape, scores.shape)
        except ValueError:
            raise RuntimeError(f"scaled_dot_product_attention: attn_mask of shape {mask.shape} "
                               f"does not broadcast to the scores' shape {scores.shape}") from None
        if mask.dtype != np.bool_ and not mask.is_floating_point():
            raise TypeError(f"scaled_dot_product_attention: attn_mask must be bool or float, "
                            f"got {mask.dtype}")
        if mask.dtype == np.bool_:
            scores = ops.where(~mask, float("-inf"), scores)
        else:
            scores = scores + mask
    attn = safe_softmax(scores, -1)
    if dropout_p > 0.0:
        attn = dropout(attn, dropout_p)
    return ops.matmul(attn, v)
