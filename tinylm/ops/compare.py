"""Comparisons and logic: ==, <, ..., all/any, logical and bitwise ops.

None of these is differentiable: they return bool (or integer) tensors
without a graph. Operands promote as PyTorch promotes them (dtypes.result_type)
before comparing, so float32 [0.1] == a float64 0-d tensor(0.1) is True.
"""
import numpy as np

from .. import dtypes
from .._tensor import Tensor
from ..backend import is_array
from .pointwise import _raw


def _cast(v, dtype):
    """An operand as `dtype`: arrays stay on their device, scalars become 0-d arrays."""
    return v.astype(dtype, copy=False) if is_array(v) else np.asarray(v, dtype)


def _compare(ufunc):
    def op(a, b):
        if b is None:  # t == None is a Python identity question, as in PyTorch
            return ufunc is np.not_equal
        a_, b_ = _raw(a), _raw(b)
        dtype = dtypes.result_type(a_, b_)
        try:
            return Tensor(ufunc(_cast(a_, dtype), _cast(b_, dtype)))
        except ValueError:
            raise ValueError(f"{ufunc.__name__}: shapes {np.shape(a_)} and {np.shape(b_)} "
                             "cannot be broadcast together") from None
    op.__name__ = ufunc.__name__
    return op


eq, ne, lt, le, gt, ge = map(_compare, (np.equal, np.not_equal, np.less, np.less_equal,
                                        np.greater, np.greater_equal))


def all(x, dim=None, keepdim=False):
    from .reduce import dims
    return Tensor(np.all(_raw(x), axis=dims(dim, x.ndim), keepdims=keepdim))


def any(x, dim=None, keepdim=False):
    from .reduce import dims
    return Tensor(np.any(_raw(x), axis=dims(dim, x.ndim), keepdims=keepdim))


def logical_not(x):
    return Tensor(np.logical_not(_raw(x)))


def bitwise_not(x):
    """~x: logical not on bool tensors, two's-complement not on integers."""
    if dtypes.is_floating(x.dtype):
        raise TypeError(f"~ (bitwise_not) is only defined for bool and integer tensors, got {x.dtype}")
    return Tensor(np.invert(x.data))


def bitwise_and(a, b):
    return Tensor(np.bitwise_and(_raw(a), _raw(b)))


def bitwise_or(a, b):
    return Tensor(np.bitwise_or(_raw(a), _raw(b)))


def logical_and(a, b):
    return Tensor(np.logical_and(_raw(a), _raw(b)))


def logical_or(a, b):
    return Tensor(np.logical_or(_raw(a), _raw(b)))
