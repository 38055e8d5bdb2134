"""In-place ops (add_, mul_, zero_, copy_, +=, ...): they write into t.data.

Autograd does not track in-place writes, so they are refused on a tensor
that requires grad while grad mode is on (the optimizer-step pattern
`with tl.no_grad(): p -= lr * p.grad` works, as in PyTorch).
"""
import numpy as np

from .. import autograd
from .. import random as _random
from .._tensor import Tensor


def _writable(t, name):
    if autograd.is_grad_enabled() and t.requires_grad:
        kind = "a leaf tensor that requires grad" if t.is_leaf else "a tensor in the autograd graph"
        raise RuntimeError(f"{name}: in-place operation on {kind}; wrap it in tl.no_grad() "
                           "or use the out-of-place op")
    return t


def _value(v, t):
    a = v.data if isinstance(v, Tensor) else np.asarray(v)
    if np.broadcast_shapes(a.shape, t.shape) != t.shape:
        raise RuntimeError(f"in-place op: value of shape {a.shape} does not broadcast to "
                           f"the tensor's shape {t.shape}")
    return a


def _inplace(name, ufunc):
    def op(t, other, alpha=None):
        _writable(t, name)
        v = _value(other, t)
        if alpha is not None:
            v = v * alpha
        ufunc(t.data, v, out=t.data, casting="same_kind")
        return t
    op.__name__ = name
    return op


add_ = _inplace("add_", np.add)
sub_ = _inplace("sub_", np.subtract)
mul_ = _inplace("mul_", np.multiply)
div_ = _inplace("div_", np.true_divide)


def zero_(t):
    _writable(t, "zero_").data[...] = 0
    return t


def fill_(t, value):
    _writable(t, "fill_").data[...] = value.item() if isinstance(value, Tensor) else value
    return t


def copy_(t, src):
    _writable(t, "copy_").data[...] = _value(src, t)
    return t


def clamp_(t, min=None, max=None):
    np.clip(_writable(t, "clamp_").data, min, max, out=t.data)
    return t


def normal_(t, mean=0.0, std=1.0):
    _writable(t, "normal_").data[...] = _random.normal(t.shape, t.dtype, t.device, mean, std)
    return t


def uniform_(t, a=0.0, b=1.0):
    _writable(t, "uniform_").data[...] = _random.uniform(t.shape, t.dtype, t.device, a, b)
    return t
