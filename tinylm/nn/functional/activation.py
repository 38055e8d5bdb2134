"""Activations: relu, gelu, sigmoid, tanh, softmax, log_softmax.

softmax and log_softmax are fused ops with hand-written backward:
    y = softmax(x):     dx = y * (dy - sum(dy * y))
    y = log_softmax(x): dx = dy - exp(y) * sum(dy)
both computed stably from x - max(x). The work is done by the kernels
(kernels/softmax.py, kernels/gelu.py) for the device holding the data; each
sits beside its NumPy reference. The kernels work over the last axis, so
another dim is moved last and back.
"""
import warnings

import numpy as np

from ..._tensor import _dim
from ...autograd import Function
from ...backend import kernels_for
from ...ops import relu, sigmoid, tanh  # noqa: F401  (re-exported as F.relu, ...)


class GELU(Function):
    def forward(self, x, approximate):
        self.approximate = approximate
        self.save_for_backward(x)
        return kernels_for(x).gelu_forward(x, approximate)

    def backward(self, g):
        x = self.saved[0]
        return kernels_for(x).gelu_backward(g, x, self.approximate)


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


def _along(kernel, axis, *arrays):
    """Run a last-axis row kernel along `axis`: move that axis last and back
    (a 0-d tensor is one row of one element)."""
    shape = arrays[0].shape
    if not shape:
        return kernel(*(a.reshape(1) for a in arrays)).reshape(shape)
    if axis == len(shape) - 1:
        return kernel(*arrays)
    return np.moveaxis(kernel(*(np.moveaxis(a, axis, -1) for a in arrays)), -1, axis)


class Softmax(Function):
    def forward(self, x, axis):
        self.axis = axis
        y = _along(kernels_for(x).softmax_forward, axis, x)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        y = self.saved[0]
        return _along(kernels_for(y).softmax_backward, self.axis, g, y)


class SafeSoftmax(Function):
    """softmax whose all -inf rows give 0 (and gradient 0), as attention needs."""

    def forward(self, x, axis):
        e = np.exp(_shift(x, axis))
        s = e.sum(axis=axis, keepdims=True)
        y = e / np.where(s == 0, 1, s).astype(x.dtype)
        self.axis = axis
        self.save_for_backward(y)
        return y

    def backward(self, g):
        y = self.saved[0]
        return y * (g - (g * y).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    def forward(self, x, axis):
        self.axis = axis
        y = _along(kernels_for(x).log_softmax_forward, axis, x)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        y = self.saved[0]
        return _along(kernels_for(y).log_softmax_backward, self.axis, g, y)


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
    return Softmax.apply(x, axis=_softmax_dim(x, dim, "softmax"))


def log_softmax(input, dim=None, dtype=None):
    x = _floating_input(input, dtype, "log_softmax")
    return LogSoftmax.apply(x, axis=_softmax_dim(x, dim, "log_softmax"))


def safe_softmax(input, dim):
    """softmax whose all -inf rows give zeros, as PyTorch's attention uses."""
    return SafeSoftmax.apply(input, axis=_dim(dim, input.ndim))

