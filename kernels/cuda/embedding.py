"""CUDA embedding lookup and its scatter-add backward; see
kernels/embedding.py for the maths and the NumPy references.

Every kernel loops grid-stride over the n * D elements of out or dout
(element i is position i // D, column i % D), so neighbouring threads
touch neighbouring columns of one row. The backward zeroes dweight in a
first launch, then adds with cuda.atomic.add: repeated ids hit the same
row of dweight from different threads. An id outside [0, V) gives a row
of zeros (forward) or adds nothing (backward), and is recorded in the
device-side error register (errors.py) as the keyword `check` says: True
(the default unless errors.set_default_check changed it) reads the
register back and raises IndexError, one copy to the host and a wait per
call; "defer" leaves it for errors.raise_if_set(); False records nothing.
ids must be an int64 device array; with D = 0 no element is visited and no
id checked."""
import operator

import numpy as np
from numba import cuda, float32, int64

from ..embedding import check_padding_idx
from ..jit import grid
from . import errors
from .common import NB_TYPES, per_dtype
from .errors import CODE, EXTRA, LIMIT, VALUE


def _forward_factory(T):
    ZERO = T(0)

    def kernel(out, reg, code, ids, weight):
        # out (n, D), reg: the error register, ids (n,), weight (V, D)
        n, D = out.shape
        V = weight.shape[0]
        for i in range(cuda.grid(1), n * D, cuda.gridsize(1)):
            p = i // D
            j = i - p * D
            v = ids[p]
            if v < 0 or v >= V:
                out[p, j] = ZERO
                if code != 0 and cuda.atomic.cas(reg, CODE, 0, code) == 0:  # the first error
                    reg[VALUE], reg[LIMIT], reg[EXTRA] = v, V, 0
            else:
                out[p, j] = weight[v, j]
    return kernel


def _zero_factory(T):
    ZERO = T(0)

    def kernel(a):
        rows, D = a.shape
        for i in range(cuda.grid(1), rows * D, cuda.gridsize(1)):
            r = i // D
            a[r, i - r * D] = ZERO
    return kernel


def _backward_factory(T):
    def kernel(dweight, reg, code, dout, ids, padding_idx):
        # dweight (V, D) zeroed, reg: the error register, dout (n, D), ids (n,)
        n, D = dout.shape
        V = dweight.shape[0]
        for i in range(cuda.grid(1), n * D, cuda.gridsize(1)):
            p = i // D
            j = i - p * D
            v = ids[p]
            if v < 0 or v >= V:
                if code != 0 and cuda.atomic.cas(reg, CODE, 0, code) == 0:
                    reg[VALUE], reg[LIMIT], reg[EXTRA] = v, V, 0
            elif v != padding_idx:
                cuda.atomic.add(dweight, (v, j), dout[p, j])
    return kernel


_FORWARD = per_dtype(_forward_factory)
_ZERO = per_dtype(_zero_factory)
_BACKWARD = per_dtype(_backward_factory)


def _device(name, a, what):
    if not hasattr(a, "copy_to_host"):  # a numba device array (real or simulated)
        raise TypeError(f"{name}: {what} must be a CUDA device array "
                        f"(kernels.cuda.transfers.to_device)")
    return a


def _flat_ids(name, ids):
    if np.dtype(_device(name, ids, "ids").dtype) != np.int64:
        raise TypeError(f"{name}: ids must be int64 on the device, got {ids.dtype}")
    return ids.reshape(ids.size)


def _float(name, a, what, ndim=None):
    dt = np.dtype(_device(name, a, what).dtype)
    if dt not in NB_TYPES:
        raise TypeError(f"{name}: {what} must be float32 or float64, got {dt}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name}: {what} must have {ndim} dims, got shape {tuple(a.shape)}")
    return a, dt


def embedding_forward(ids, weight, *, check=None, launch=None):
    name = "embedding_forward"
    mode = errors.resolve(check)
    flat = _flat_ids(name, ids)
    w, dt = _float(name, weight, "weight", ndim=2)
    (V, D), n = w.shape, flat.size
    out = cuda.device_array((n, D), dt)
    if n * D:
        blocks, threads = grid(n * D, launch)
        _FORWARD[dt][blocks, threads](out, errors.register(), errors.code_for(name, mode), flat, w)
        errors.check_now(mode)
    return out.reshape(tuple(ids.shape) + (D,))


def embedding_backward(dout, ids, num_embeddings, padding_idx=-1, *, check=None, launch=None):
    name = "embedding_backward"
    mode = errors.resolve(check)
    flat = _flat_ids(name, ids)
    g, dt = _float(name, dout, "dout")
    shape = tuple(g.shape)  # the simulator's shapes refuse negative indices
    if g.ndim == 0 or shape[:-1] != tuple(ids.shape):
        raise ValueError(f"{name}: dout must have shape (*ids.shape, D) = "
                         f"{tuple(ids.shape) + ('D',)}, got {shape}")
    V, D, n = operator.index(num_embeddings), shape[-1], flat.size
    if V < 0:
        raise ValueError(f"{name}: num_embeddings must be >= 0, got {V}")
    padding_idx = check_padding_idx(name, padding_idx, V)
    dweight = cuda.device_array((V, D), dt)
    if V * D:
        blocks, threads = grid(V * D, launch)
        _ZERO[dt][blocks, threads](dweight)
    if n * D:
        blocks, threads = grid(n * D, launch)
        _BACKWARD[dt][blocks, threads](dweight, errors.register(), errors.code_for(name, mode),
                                       g.reshape(n, D), flat, padding_idx)
        errors.check_now(mode)
    return dweight


_M, _IDS = float32[:, ::1], int64[::1]
PTX = [(_forward_factory, (_M, _IDS, int64, _IDS, _M)),
       (_zero_factory, (_M,)),
       (_backward_factory, (_M, _IDS, int64, _M, _IDS, int64))]
