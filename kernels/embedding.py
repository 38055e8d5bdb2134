"""Embedding lookup (a gather of rows) and its backward (a scatter-add).

Shapes: ids is an integer array of any shape (flattened to n = ids.size
positions by the wrappers), weight is (V, D), out and dout are
(*ids.shape, D), dweight is (V, D).
    forward:   out[i] = weight[ids[i]]
    backward:  dweight[v] = sum of dout[i] over the positions i with ids[i] = v
               (repeated ids add up), and dweight[padding_idx] = 0
References: *_reference below, matching torch.nn.functional.embedding and
its backward torch.ops.aten.embedding_dense_backward(dout, ids, V,
padding_idx, scale_grad_by_freq=False). As there, padding_idx = -1 means no
padding row (F.embedding's negative padding_idx counts from the end: the
caller turns it into padding_idx % V first). An id outside [0, V) raises
IndexError naming the id and V, in both directions. The CUDA twins are in
kernels/cuda/embedding.py.
"""
import operator

import numpy as np

from .jit import cpu_kernel
from .registry import Kernel, register
from .validate import as_float, lazy_cuda

# ---- references ------------------------------------------------------------


def _check_range_reference(ids, V):
    if ids.size and (ids.min() < 0 or ids.max() >= V):  # NumPy would wrap negative ids
        raise IndexError(f"index {ids.min() if ids.min() < 0 else ids.max()} is out of range "
                         f"for a table of {V} rows")


def embedding_forward_reference(ids, weight):
    _check_range_reference(ids, weight.shape[0])
    return weight[ids]


def embedding_backward_reference(dout, ids, num_embeddings, padding_idx=-1):
    _check_range_reference(ids, num_embeddings)
    D = dout.shape[-1]
    dweight = np.zeros((num_embeddings, D))
    np.add.at(dweight, ids.reshape(-1), dout.reshape(-1, D).astype(np.float64))
    if padding_idx not in (-1, None):
        dweight[padding_idx] = 0
    return dweight.astype(dout.dtype)


# ---- Numba CPU kernels -------------------------------------------------------
# Both return -1, or the first position whose id is outside [0, V) (then
# the output is incomplete and the wrapper raises).


@cpu_kernel
def _embedding_forward(out, ids, weight):
    # out (n, D), ids (n,), weight (V, D)
    V, D = weight.shape
    for i in range(ids.shape[0]):
        v = ids[i]
        if v < 0 or v >= V:
            return i
        dst, src = out[i], weight[v]
        for j in range(D):
            dst[j] = src[j]
    return -1


@cpu_kernel
def _embedding_backward(dweight, dout, ids, padding_idx):
    # dweight (V, D) zeros, dout (n, D), ids (n,)
    V, D = dweight.shape
    for i in range(ids.shape[0]):
        v = ids[i]
        if v < 0 or v >= V:
            return i
        if v == padding_idx:
            continue
        dst, src = dweight[v], dout[i]
        for j in range(D):
            dst[j] += src[j]
    return -1


def check_ids(name, ids):
    """ids as a flat C-contiguous int64 array (n,)."""
    if not isinstance(ids, np.ndarray) or ids.dtype.kind not in "iu":
        raise TypeError(f"{name}: ids must be an integer numpy.ndarray, got "
                        f"{getattr(ids, 'dtype', type(ids).__name__)}")
    return np.ascontiguousarray(ids, dtype=np.int64).reshape(ids.size)


def check_padding_idx(name, padding_idx, V):
    """padding_idx as an int in [-1, V) (-1: no padding row)."""
    padding_idx = -1 if padding_idx is None else operator.index(padding_idx)
    if not -1 <= padding_idx < V:
        raise ValueError(f"{name}: padding_idx must be -1 (none) or in [0, {V}), got {padding_idx}")
    return padding_idx


def bad_id_error(name, bad_id, V):
    return IndexError(f"{name}: index {bad_id} is out of range for a table of {V} rows "
                      f"(ids must be in [0, {V}))")


def embedding_forward(ids, weight):
    name = "embedding_forward"
    flat = check_ids(name, ids)
    w = as_float(name, weight, "weight", ndim=2)
    out = np.empty((flat.size, w.shape[1]), w.dtype)
    bad = _embedding_forward(out, flat, w)
    if bad >= 0:
        raise bad_id_error(name, flat[bad], w.shape[0])
    return out.reshape(ids.shape + (w.shape[1],))


def embedding_backward(dout, ids, num_embeddings, padding_idx=-1):
    name = "embedding_backward"
    flat = check_ids(name, ids)
    g = as_float(name, dout, "dout")  # checked on dout: as_float makes a 0-d array 1-d
    if dout.ndim == 0 or dout.shape[:-1] != ids.shape:
        raise ValueError(f"{name}: dout must have shape (*ids.shape, D) = {ids.shape + ('D',)}, "
                         f"got {dout.shape}")
    V = operator.index(num_embeddings)
    if V < 0:
        raise ValueError(f"{name}: num_embeddings must be >= 0, got {V}")
    padding_idx = check_padding_idx(name, padding_idx, V)
    dweight = np.zeros((V, g.shape[-1]), g.dtype)
    bad = _embedding_backward(dweight, g.reshape(flat.size, g.shape[-1]), flat, padding_idx)
    if bad >= 0:
        raise bad_id_error(name, flat[bad], V)
    return dweight


# ---- registry ------------------------------------------------------------------


def _example_forward(rng, dtype, B, T, V, D):
    return rng.integers(0, V, (B, T)), rng.standard_normal((V, D)).astype(dtype)


def _example_backward(rng, dtype, B, T, V, D):
    """Few rows for many ids, so that repeats are common; padding sometimes."""
    ids = rng.integers(0, V, (B, T))
    padding_idx = int(rng.integers(V)) if rng.random() < 0.5 else -1
    return rng.standard_normal((B, T, D)).astype(dtype), ids, V, padding_idx


SIZES = {"B": (1, 4), "T": (0, 20), "V": (1, 40), "D": (1, 70)}
SIM_SIZES = {"B": (1, 2), "T": (0, 4), "V": (1, 5), "D": (1, 4)}
BENCH = {"B": 32, "T": 64, "V": 8192, "D": 128}

register(Kernel("embedding_forward", embedding_forward_reference, embedding_forward,
                lazy_cuda("embedding", "embedding_forward"), _example_forward,
                SIZES, SIM_SIZES, BENCH, rtol=0, atol=0))
# float32 sums of up to B*T dout rows (the reference sums in float64)
register(Kernel("embedding_backward", embedding_backward_reference, embedding_backward,
                lazy_cuda("embedding", "embedding_backward"), _example_backward,
                SIZES, SIM_SIZES, BENCH, rtol=1e-5, atol=1e-5))
