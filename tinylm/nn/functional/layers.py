"""The functional forms of the basic layers: linear, embedding, dropout, layer_norm.

linear runs the linear kernels (kernels/linear.py: matmul with the bias
folded in) with W in its (out, in) layout. embedding and layer_norm are fused ops whose
forward and backward run as kernels (kernels/embedding.py and
kernels/layernorm.py, llm.c's encoder and layernorm passes):
    embedding:  out = W[idx];  dW[idx[i]] += dout[i]  (scatter-add; repeated
                ids add up, the padding_idx row gets no gradient)
    layer_norm: xhat = (x - mean) * rstd,  y = xhat * w + b, over the last dims;
                dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
"""
import numpy as np

from ... import random as _random
from ..._tensor import Tensor
from ...autograd import Function
from ...backend import kernels_for


class Linear(Function):
    """y = x @ W.T + b over rows x (M, in): W stays in its (out, in) layout.
    The linear kernels add b (and sum db) inside their matmul threads."""

    def forward(self, x, w, b):
        rows = x.reshape(-1, x.shape[-1])
        y = kernels_for(x).linear_forward(rows, w, b)
        self.save_for_backward(rows, w)
        self.x_shape, self.has_bias = x.shape, b is not None
        return y.reshape(x.shape[:-1] + (w.shape[0],))

    def backward(self, g):
        rows, w = self.saved
        grads = kernels_for(g).linear_backward(g.reshape(-1, w.shape[0]), rows, w, self.has_bias)
        db = grads[2] if self.has_bias else None
        return grads[0].reshape(self.x_shape), grads[1], db


def linear(input, weight, bias=None):
    """y = input @ weight.T + bias; input (*, in), weight (out, in), bias (out,)."""
    if weight.ndim != 2:
        raise RuntimeError(f"linear: weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    if input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise RuntimeError(f"linear: input of shape {input.shape} has {input.shape[-1] if input.ndim else 0} "
                           f"features but weight of shape {weight.shape} expects {weight.shape[1]}")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise RuntimeError(f"linear: bias of shape {bias.shape} doesn't match weight of shape "
                           f"{weight.shape}: expected ({weight.shape[0]},)")
    dtype = input.dtype
    if not input.is_floating_point() or weight.dtype != dtype or (bias is not None and bias.dtype != dtype):
        raise RuntimeError(f"linear: input, weight and bias must share one floating dtype, got "
                           f"{input.dtype}, {weight.dtype}" + (f", {bias.dtype}" if bias is not None else ""))
    return Linear.apply(input, weight, bias)


class Embedding(Function):
    def forward(self, idx, weight, padding_idx):
        self.save_for_backward(idx)
        self.num, self.padding_idx = weight.shape[0], padding_idx
        return kernels_for(weight).embedding_forward(idx, weight)

    def backward(self, g):
        idx = self.saved[0]
        pad = -1 if self.padding_idx is None else self.padding_idx
        return None, kernels_for(g).embedding_backward(g, idx, self.num, pad)


def embedding(input, weight, padding_idx=None):
    """Rows of `weight` (num_embeddings, dim) picked by integer `input` of any shape."""
    idx = input.data if isinstance(input, Tensor) else np.asarray(input)
    if not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"embedding: indices must be an integer tensor, got {idx.dtype}")
    if weight.ndim != 2:
        raise RuntimeError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got {weight.shape}")
    num = weight.shape[0]
    # (on cuda the kernel checks, raising at the next copy to the host: no sync here)
    if isinstance(idx, np.ndarray) and idx.size and (idx.min() < 0 or idx.max() >= num):
        bad = idx.min() if idx.min() < 0 else idx.max()
        raise IndexError(f"embedding: index {bad} is out of range for a table of {num} rows")
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"embedding: padding_idx {padding_idx} must be within [{-num}, {num})")
        padding_idx %= num
    return Embedding.apply(Tensor(idx), weight, padding_idx=padding_idx)


def dropout(input, p=0.5, training=True):
    """Zero each element with probability p and scale the rest by 1/(1-p),
    drawing the mask from the global generator (tl.manual_seed)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not input.is_floating_point():
        raise TypeError(f"dropout: expected a floating point tensor, got {input.dtype}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    keep = _random.keep_mask(input.shape, p, input.device)
    return input * Tensor((keep / (1.0 - p)).astype(input.dtype))


class LayerNorm(Function):
    """Over the last k dims, seen by the kernel as rows of their product."""

    def forward(self, x, w, b, k, eps):
        C = int(np.prod(x.shape[x.ndim - k:]))
        rows = x.reshape(-1, C)
        flat = [None if p is None else p.reshape(C) for p in (w, b)]
        y, mean, rstd = kernels_for(x).layernorm_forward(rows, flat[0], flat[1], eps)
        self.save_for_backward(rows, flat[0], mean, rstd)
        self.shapes = x.shape, None if w is None else w.shape, None if b is None else b.shape
        return y.reshape(x.shape)

    def backward(self, g):
        rows, w, mean, rstd = self.saved
        x_shape, w_shape, b_shape = self.shapes
        dx, dw, db = kernels_for(rows).layernorm_backward(g.reshape(rows.shape), rows, w, mean, rstd)
        return (dx.reshape(x_shape), None if w_shape is None else dw.reshape(w_shape),
                None if b_shape is None else db.reshape(b_shape))


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the last len(normalized_shape) dims, then scale and shift."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise RuntimeError(f"layer_norm: normalized_shape {list(shape)} doesn't match the last "
                           f"dims of input of shape {input.shape}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and p.shape != shape:
            raise RuntimeError(f"layer_norm: {name} of shape {p.shape} must have shape {shape}")
    if not input.is_floating_point():
        raise TypeError(f"layer_norm: expected a floating point tensor, got {input.dtype}")
    dtype = input.dtype  # weight and bias follow the input's dtype
    weight, bias = (p if p is None or p.dtype == dtype else p.to(dtype) for p in (weight, bias))
    return LayerNorm.apply(input, weight, bias, k=k, eps=eps)
