"""Indexing: t[key] with ints, slices, None, Ellipsis, integer arrays/tensors
and bool masks, with NumPy's (= PyTorch's) rules; and in-place t[key] = v.

The backward of an index scatters the gradient back into a zero tensor. With
integer-array keys an element can be picked twice (x[[0, 0]]); np.add.at
adds both contributions where plain assignment would keep only the last.
"""
import numpy as np

from .. import autograd
from .._tensor import Tensor
from ..autograd import Function, SliceGrad


def _index_array(k):
    a = k.data if isinstance(k, Tensor) else np.asarray(k)
    if a.dtype == np.bool_:
        return a
    if a.size == 0 and a.dtype == np.float64 and not isinstance(k, Tensor):
        return a.astype(np.int64)  # x[[]] picks nothing, as in PyTorch
    if not np.issubdtype(a.dtype, np.integer):
        raise IndexError(f"tensors used as indices must be long, int or bool tensors, got {a.dtype}")
    return a


def normalize_key(key):
    """Turn Tensors and lists in an index key into NumPy arrays; report
    whether the key uses advanced (array) indexing."""
    if not isinstance(key, tuple):
        key = (key,)
    out, advanced = [], False
    for k in key:
        if isinstance(k, (Tensor, list, np.ndarray)):
            out.append(_index_array(k))
            advanced = True
        elif isinstance(k, slice) and k.step is not None and k.step <= 0:
            raise ValueError(f"slice step must be positive, got {k.step} (flip with tensor.flip "
                             "is not supported; index with a reversed integer tensor)")
        elif k is None or k is Ellipsis or isinstance(k, slice):
            out.append(k)
        elif isinstance(k, (bool, np.bool_)):
            out.append(np.bool_(k))
            advanced = True
        elif isinstance(k, (int, np.integer)):
            out.append(int(k))
        else:
            raise IndexError(f"only integers, slices, None, Ellipsis, and integer or bool "
                             f"tensors are valid indices, got {type(k).__name__}")
    return tuple(out), advanced


def _checked(fn, key, shape):
    try:
        return fn()
    except IndexError as e:
        raise IndexError(f"{e} (indexing a tensor of shape {shape})") from None


class GetItem(Function):
    def forward(self, x, key, advanced):
        self.in_shape, self.dtype, self.key, self.advanced = x.shape, x.dtype, key, advanced
        # basic indexing returns a view sharing memory, as PyTorch's does
        return _checked(lambda: x[key], key, x.shape)

    def backward(self, g):
        # g at key, zero elsewhere: autograd adds it into the input's gradient
        return SliceGrad(self.in_shape, self.key, g, self.advanced)


def getitem(x, key):
    key, advanced = normalize_key(key)
    return GetItem.apply(x, key=key, advanced=advanced)


def setitem(x, key, value):
    """x[key] = value in place. Autograd does not track in-place writes, so
    this is refused where a graph would be corrupted."""
    if autograd.is_grad_enabled() and (x.requires_grad or (isinstance(value, Tensor) and value.requires_grad)):
        raise RuntimeError("in-place assignment x[key] = value is not differentiable in tinylm: "
                           "build the result with tl.where/masked_fill/cat, or assign under "
                           "tl.no_grad()")
    key, _ = normalize_key(key)
    v = value.data if isinstance(value, Tensor) else value
    _checked(lambda: x.data.__setitem__(key, v), key, x.shape)
