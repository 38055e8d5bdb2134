"""clamp, maximum and minimum: the elementwise ops with a kink, whose
gradients follow PyTorch's rules there: clamp passes the gradient at its
bounds (to x with scalar bounds; to the bound that was chosen with tensor
bounds), and maximum/minimum split it in half on ties."""
import numpy as np

from .. import dtypes
from .._tensor import Tensor
from ..autograd import Function, sum_to
from .pointwise import _raw, as_operand, binary


class Clamp(Function):
    """clamp(x, min, max) with scalar bounds (either may be None)."""

    def forward(self, x, lo, hi):
        keep = np.ones_like(x, dtype=bool)
        if lo is not None:
            keep &= x >= lo
        if hi is not None:
            keep &= x <= hi
        self.save_for_backward(keep)
        return np.clip(x, lo, hi).astype(x.dtype, copy=False)

    def backward(self, g):
        return g * self.saved[0]


def _winner_grads(g, a, b, a_loses, b_loses):
    """Gradients of maximum/minimum as PyTorch gives them: the winner takes
    it, a tie splits it in half, and a NaN comparison gives it to both."""
    half = np.asarray(0.5, g.dtype)
    tie = a == b
    da = np.where(tie, g * half, np.where(a_loses, 0, g))
    db = np.where(tie, g * half, np.where(b_loses, 0, g))
    return sum_to(da.astype(g.dtype), a.shape), sum_to(db.astype(g.dtype), b.shape)


class ClampTensor(Function):
    """clamp with tensor bounds: x keeps the gradient where lo <= x <= hi, a
    bound takes it where it was the one chosen."""

    def forward(self, x, lo, hi):
        below = x < lo if lo is not None else np.zeros_like(x, dtype=bool)
        above = x > hi if hi is not None else np.zeros_like(x, dtype=bool)
        self.save_for_backward(below, above)
        self.shapes = [None if a is None else a.shape for a in (x, lo, hi)]
        return np.clip(x, lo, hi).astype(x.dtype, copy=False)

    def backward(self, g):
        below, above = self.saved
        zero = np.zeros((), g.dtype)
        out_shape = np.broadcast_shapes(*(s for s in self.shapes if s is not None))
        g = np.broadcast_to(g, out_shape)
        dx = sum_to(np.where(below | above, zero, g), self.shapes[0])
        dlo = None if self.shapes[1] is None else sum_to(np.where(below & ~above, g, zero), self.shapes[1])
        dhi = None if self.shapes[2] is None else sum_to(np.where(above, g, zero), self.shapes[2])
        return dx, dlo, dhi


class Maximum(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return np.maximum(a, b)

    def backward(self, g):
        a, b = self.saved
        return _winner_grads(g, a, b, a < b, a > b)


class Minimum(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return np.minimum(a, b)

    def backward(self, g):
        a, b = self.saved
        return _winner_grads(g, a, b, a > b, a < b)


# ---- the functions behind tl.* and Tensor methods ---------------------------
def clamp(x, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    dtype = x.dtype
    for bound in (min, max):
        if bound is not None:
            dtype = dtypes.result_type(np.empty(x.shape, dtype), _raw(bound))
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        lo = None if min is None else as_operand(min, dtype)
        hi = None if max is None else as_operand(max, dtype)
        return ClampTensor.apply(as_operand(x, dtype), lo, hi)
    return Clamp.apply(as_operand(x, dtype), lo=min, hi=max)


clip = clamp


def maximum(a, b):
    return binary(Maximum, a, b)


def minimum(a, b):
    return binary(Minimum, a, b)
