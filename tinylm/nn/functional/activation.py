"""Activations: relu, gelu, sigmoid, tanh, softmax, log_softmax.

softmax and log_softmax are fused ops with hand-written backward:
    y = softmax(x):     dx = y * (dy - sum(dy * y))
    y = log_softmax(x): dx = dy - exp(y) * sum(dy)
both computed stably from x - max(x). GELU runs as a Numba kernel (NumPy
has no erf); its NumPy reference sits beside it in kernels/gelu.py.
"""
import warnings

import numpy as np

from kernels import gelu as gelu_kernels

from ..._tensor import _dim
from ...autograd import Function
from ...ops import relu, sigmoid, tanh  # noqa: F401  (re-exported as F.relu, ...)


class GELU(Function):
    def forward(self, x, approximate):
        self.approximate = approximate
        self.save_for_backward(x)
        return gelu_kernels.gelu_forward(x, approximate)

    def backward(self, g):
        return gelu_kernels.gelu_backward(g, self.saved[0], self.approximate)


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    if not input.is_floating_point():
        raise TypeError(f"gelu: expected a floating point tensor, got {input.dtype}")
    return GELU.apply(input, approximate=approximate)


def _shift(x, axis):
    """x - max(x) along axis, with all -inf rows shifted by 0 (they stay -inf)."""
    m = np.max(x, axis=axis, keepdims=True) if x.size else np.zeros((), x.dtype)
    return x - np.where(np.isneginf(m), 0, m).astype(x.dtype)


class Softmax(Function):
    def forward(self, x, axis, safe=False):
        e = np.exp(_shift(x, axis))
        s = e.sum(axis=axis, keepdims=True)
        if safe:  # rows that are all -inf give 0 instead of NaN (attention)
            s = np.where(s == 0, 1, s).astype(x.dtype)
        y = e / s
        self.axis = axis
        self.save_for_backward(y)
        return y

    def backward(self, g):
        y = self.saved[0]
        return y * (g - (g * y).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    def forward(self, x, axis):
        z = _shift(x, axis)
        y = z - np.log(np.exp(z).sum(axis=axis, keepdims=True))
        self.axis = axis
        self.save_for_backward(y)
        return y

    def backward(self, g):
        y = self.saved[0]
        return g - np.exp(y) * g.sum(axis=self.axis, keepdims=True)


def _softmax_dim(x, dim, name):
    if dim is None:  # PyTorch's deprecated implicit choice
        warnings.warn(f"Implicit dimension choice for {name} has been deprecated. "
                      "Change the call to include dim=X as an argument.", stacklevel=3)
        dim = 0 if x.ndim in (0, 1, 3) else 1
    return _dim(dim, x.ndim)


def _floating_input(x, dtype, name):
    if dtype is not None:
        x = x.to(dtype)
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a floating point tensor, got {x.dtype}")
    return x


def softmax(input, dim=None, dtype=None):
    x = _floating_input(input, dtype, "softmax")
    return Softmax.apply(x, axis=_softmax_dim(x, dim, "softmax") if x.ndim else None)


def log_softmax(input, dim=None, dtype=None):
    x = _floating_input(input, dtype, "log_softmax")
    return LogSoftmax.apply(x, axis=_softmax_dim(x, dim, "log_softmax") if x.ndim else None)


def safe_softmax(input, dim):
    """softmax whose all -inf rows give zeros, as PyTorch's attention uses."""
    return Softmax.apply(input, axis=_dim(dim, input.ndim), safe=True)

