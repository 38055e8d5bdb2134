"""Reductions: sum, mean, var/std, max/min, amax/amin, argmax/argmin, logsumexp.

`dim` is an int, a tuple of ints or None (all dims); `keepdim` keeps reduced
dims as size 1. Gradients follow PyTorch: max()/min() over everything and
amax/amin share the gradient evenly between tied elements, while max(dim)
sends it to the one index it returns.
"""
import builtins
from collections import namedtuple

import numpy as np

from .. import dtypes
from .._tensor import Tensor, _dim
from ..autograd import Function

# This module defines sum/max/min as ops; the builtins are reached as builtins.*
values_indices = namedtuple("values_indices", ["values", "indices"])  # torch.return_types.max


def dims(dim, ndim):
    """Normalise `dim` (int, tuple or None) to a sorted tuple of axes."""
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return tuple(range(ndim))  # PyTorch reads dim=() as every dim
    if ndim == 0:  # a 0-d tensor takes dim 0 or -1 and has nothing to reduce
        for d in (dim if isinstance(dim, (list, tuple)) else (dim,)):
            _dim(d, 0)
        return ()
    if isinstance(dim, (list, tuple)):
        axes = tuple(sorted(_dim(d, ndim) for d in dim))
        if len(set(axes)) != len(axes):
            raise ValueError(f"dim {tuple(dim)} names a dimension more than once")
        return axes
    return (_dim(dim, ndim),)


def _expand_back(g, in_shape, axes, keepdim):
    """Put reduced axes back into g so it broadcasts against the input."""
    if not keepdim:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, in_shape)


def _require_nonempty(name, x, axes):
    for a in axes:
        if x.shape[a] == 0:
            raise RuntimeError(f"{name}(): cannot reduce over dimension {a} of size 0 "
                               f"(input shape {x.shape}): the result has no identity")
    if not axes and x.size == 0:
        raise RuntimeError(f"{name}(): cannot reduce an empty tensor")


class Sum(Function):
    def forward(self, x, axes, keepdim):
        self.in_shape, self.axes, self.keepdim = x.shape, axes, keepdim
        out = x.sum(axis=axes, keepdims=keepdim)
        return out if dtypes.is_floating(x.dtype) else out.astype(np.int64)

    def backward(self, g):
        return _expand_back(g, self.in_shape, self.axes, self.keepdim)


class AMax(Function):
    """amax/amin and max()/min() with no dim: ties share the gradient evenly."""

    def forward(self, x, axes, keepdim, largest):
        out = (np.max if largest else np.min)(x, axis=axes, keepdims=True)
        self.save_for_backward(x == out)
        self.axes, self.keepdim = axes, keepdim
        return out if keepdim else np.squeeze(out, axis=axes)

    def backward(self, g):
        hit = self.saved[0]
        count = hit.sum(axis=self.axes, keepdims=True)
        if not self.keepdim:
            g = np.expand_dims(g, self.axes)
        # a NaN maximum matches nothing (count 0): no element gets a gradient
        return np.where(hit, g / np.maximum(count, 1), 0).astype(g.dtype)


class MaxDim(Function):
    """max(dim)/min(dim): values and the indices they came from."""

    def forward(self, x, axis, keepdim, largest):
        idx = (np.argmax if largest else np.argmin)(x, axis=axis, keepdims=True)
        values = np.take_along_axis(x, idx, axis=axis)
        self.in_shape, self.axis, self.keepdim = x.shape, axis, keepdim
        self.save_for_backward(idx)
        if not keepdim:
            values, idx = values.squeeze(axis), idx.squeeze(axis)
        return values, idx.astype(np.int64)

    def backward(self, g):
        idx = self.saved[0]
        if not self.keepdim:
            g = np.expand_dims(g, self.axis)
        dx = np.zeros_like(g, shape=self.in_shape)
        np.put_along_axis(dx, idx, g, axis=self.axis)
        return dx


def sum(x, dim=None, keepdim=False, dtype=None):
    if dtype is not None:
        x = x.to(dtype)
    return Sum.apply(x, axes=dims(dim, x.ndim), keepdim=keepdim)


def mean(x, dim=None, keepdim=False, dtype=None):
    if dtype is not None:
        x = x.to(dtype)
    if not x.is_floating_point():
        raise TypeError(f"mean(): input dtype must be floating point, got {x.dtype}; "
                        "convert with .float() first")
    axes = dims(dim, x.ndim)
    n = int(np.prod([x.shape[a] for a in axes]))
    return sum(x, axes, keepdim) / n if n else sum(x, axes, keepdim) * float("nan")


def var(x, dim=None, unbiased=True, keepdim=False, *, correction=None):
    """Variance with Bessel's correction by default (correction=1)."""
    if correction is None:
        correction = 1 if unbiased else 0
    if not x.is_floating_point():
        raise TypeError(f"var(): input dtype must be floating point, got {x.dtype}")
    axes = dims(dim, x.ndim)
    n = int(np.prod([x.shape[a] for a in axes]))
    centred = x - mean(x, axes, keepdim=True)
    return sum(centred * centred, axes, keepdim) / builtins.max(0, n - correction)


class StdFromVar(Function):
    """sqrt for std: where the std is 0 the gradient is 0, as in PyTorch,
    instead of 0 * inf = NaN."""

    def forward(self, v):
        y = np.sqrt(v)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        y = self.saved[0]
        return np.where(y == 0, 0, g / (2 * y)).astype(g.dtype)


def std(x, dim=None, unbiased=True, keepdim=False, *, correction=None):
    return StdFromVar.apply(var(x, dim, unbiased, keepdim, correction=correction))


def _amax(x, dim, keepdim, largest, name):
    axes = dims(dim, x.ndim)
    _require_nonempty(name, x, axes)
    return AMax.apply(x, axes=axes, keepdim=keepdim, largest=largest)


def amax(x, dim=None, keepdim=False):
    return _amax(x, dim, keepdim, True, "amax")


def amin(x, dim=None, keepdim=False):
    return _amax(x, dim, keepdim, False, "amin")


def _max_or_min(x, dim, keepdim, largest):
    from .clamp import maximum, minimum
    name = "max" if largest else "min"
    if isinstance(dim, Tensor):  # x.max(other): elementwise, as torch.max(a, b)
        return (maximum if largest else minimum)(x, dim)
    if dim is None:
        return _amax(x, None, False, largest, name)
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"{name}(dim) takes a single int dim; use a{name}() for several")
    axis = _dim(dim, x.ndim)
    if x.ndim == 0:  # the value itself, from index 0
        return values_indices(x * 1, Tensor(np.zeros_like(x.data, shape=(), dtype=np.int64)))
    _require_nonempty(name, x, (axis,))
    values, indices = MaxDim.apply(x, axis=axis, keepdim=keepdim, largest=largest)
    return values_indices(values, indices)


def max(x, dim=None, keepdim=False):
    """max() -> a 0-d tensor; max(dim) -> (values, indices); max(other) -> elementwise."""
    return _max_or_min(x, dim, keepdim, True)


def min(x, dim=None, keepdim=False):
    return _max_or_min(x, dim, keepdim, False)


def _arg(x, dim, keepdim, largest):
    name = "argmax" if largest else "argmin"
    find = np.argmax if largest else np.argmin
    if dim is None:
        _require_nonempty(name, x, ())
        out = find(x.data)
        return Tensor(np.full_like(x.data, out, shape=(1,) * x.ndim if keepdim else (), dtype=np.int64))
    axis = _dim(dim, x.ndim)
    _require_nonempty(name, x, (axis,) if x.ndim else ())
    if x.ndim == 0:
        return Tensor(np.zeros_like(x.data, shape=(), dtype=np.int64))
    return Tensor(find(x.data, axis=axis, keepdims=keepdim).astype(np.int64))


def argmax(x, dim=None, keepdim=False):
    return _arg(x, dim, keepdim, True)


def argmin(x, dim=None, keepdim=False):
    return _arg(x, dim, keepdim, False)


def logsumexp(x, dim=None, keepdim=False):
    """log(sum(exp(x))) computed stably as m + log(sum(exp(x - m))), m = max.

    m is a constant for autograd, so the gradient is softmax(x). As in
    PyTorch, an infinite max is replaced by 0 so that all -inf gives -inf."""
    axes = dims(dim, x.ndim)
    if not x.is_floating_point():
        x = x.to(dtypes.get_default_dtype())
    if all(x.shape[a] for a in axes):
        m = np.max(x.data, axis=axes, keepdims=True)
    else:  # reducing over an empty dim: the sum is 0 and the result -inf
        m = np.zeros_like(x.data, shape=[1 if i in axes else n for i, n in enumerate(x.shape)])
    m = np.where(np.isinf(m), 0, m).astype(x.dtype)
    out = (x - m).exp().sum(axes, keepdim=True).log() + m
    return out if keepdim else out.squeeze(axes)
