"""Input checks shared by the kernel wrappers, so that bad input fails in
Python with a message naming the kernel, never as a Numba typing error or a
silent recompile for a new dtype or memory layout."""
import importlib

import numpy as np

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def as_float(name, a, what="x", ndim=None):
    """a as a C-contiguous float32/float64 ndarray, checked."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name}: {what} must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype not in FLOATS:
        raise TypeError(f"{name}: {what} must be float32 or float64, got {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name}: {what} must have {ndim} dims, got shape {a.shape}")
    return np.asarray(a, order="C")  # keeps 0-d arrays 0-d, unlike np.ascontiguousarray


def as_rows(name, a, like=None, what="x"):
    """a viewed as rows (N, C) over its last axis; with `like`, its shape and
    dtype must match that array's."""
    a = as_float(name, a, what)
    if a.ndim == 0:
        raise ValueError(f"{name}: {what} needs at least 1 dim, got a 0-d array")
    rows = a.reshape(int(np.prod(a.shape[:-1])), a.shape[-1])  # works for C = 0 too
    if like is not None and (rows.shape != like.shape or rows.dtype != like.dtype):
        raise ValueError(f"{name}: {what} has shape {a.shape} and dtype {a.dtype}, expected "
                         f"{like.shape} rows of {like.dtype}")
    return rows


def same_dtype(name, **arrays):
    dtypes = {k: v.dtype for k, v in arrays.items() if v is not None}
    if len(set(dtypes.values())) > 1:
        raise TypeError(f"{name}: arrays must share one dtype, got {dtypes}")


def lazy_cuda(module, name):
    """The CUDA wrapper kernels.cuda.<module>.<name>, imported on first call so
    that importing kernels never touches CUDA."""
    def call(*args, **kwargs):
        fn = getattr(importlib.import_module(f"kernels.cuda.{module}"), name)
        return fn(*args, **kwargs)
    call.__name__ = f"{name}_cuda"
    call.__qualname__ = call.__name__
    call.target = (module, name)  # for callers that inspect the wrapper's keywords
    return call
