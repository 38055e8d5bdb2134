"""CUDA reductions over one axis, several axes or all of them, of operands
of any (nonnegative) strides: sum, mean, max, min, argmax, argmin, var
(with Bessel's `correction`) and logsumexp; the NumPy reference is
`reduce_reference`.

    reduce(op, x, axis=None, keepdims=False, correction=1)
      axis     None (all), an int, or a tuple of ints (not for arg*)
      result   x's shape without (or, keepdims, with 1 in) the reduced
               dims; dtype x's, int64 for argmax/argmin
      dtypes   float32/float64 for every op; int64 also for sum, max,
               min, argmax, argmin

One block per output element (grid-stride over the outputs). Its threads
stride over the R reduced elements, accumulating in a register, then
combine in shared memory with a tree (threads per block a power of two).
float32 accumulates in float32: each thread adds R / threads elements in
sequence, the tree adds pairwise, so the error grows like
(R / threads + log2 threads) ulp; the tests hold it to the float64 NumPy
reference at rtol 1e-5. var takes two passes in the kernel (the mean, then
the squared deviations from it: no cancellation); logsumexp shifts by the
max, by 0 when the max is infinite, as torch.logsumexp.

Semantics as PyTorch: max/min propagate NaN; argmax/argmin give the first
position of the extreme (NaN counts as the extreme), in C order over the
reduced dims; an all -inf logsumexp is -inf; var divides by
max(R - correction, 0). Over zero elements: sum 0, mean and var NaN,
logsumexp -inf, and max/min/arg* raise ValueError, as torch does.

The reduced dims and the kept dims are each coalesced (layout.py), so
reducing the last axis of a contiguous array reads each row as one run.
Known slow cases, left for later: a full reduction of a large array runs
on one block, and a reduction over a leading axis reads with a stride."""
import math

import numpy as np
from numba import cuda, float32, float64, int64

from ..jit import MAX_THREADS, SIM_LAUNCH, simulating
from .layout import (DIMS, FLOATS, NB_TYPES, axis_index, coalesce, dtype_of, elem_strides,
                     operand, ptx_entry, shape_of, size_of, specialised)

F, I = FLOATS, (np.dtype(np.int64),)
OPS = {"sum": F + I, "max": F + I, "min": F + I, "argmax": F + I, "argmin": F + I,
       "mean": F, "var": F, "logsumexp": F}
THREADS = 256           # default threads per block: fewer for short reductions


def _reduce_factory(T, op):
    ZERO = T(0)
    if T in (float32, float64):
        LOW, HIGH = T(-math.inf), T(math.inf)
    else:
        LOW, HIGH = T(np.iinfo(np.int64).min), T(np.iinfo(np.int64).max)
    SUMS = op in ("sum", "mean", "var")
    BIG = op in ("max", "argmax", "logsumexp")   # looks for the largest value
    ARG = op in ("argmax", "argmin")
    TWO_PASS = op in ("var", "logsumexp")
    START = ZERO if SUMS else (LOW if BIG else HIGH)

    def kernel(out, x, kshape, ks, knd, rshape, rs, rnd, n_out, R, correction):
        # out (n_out,) contiguous; x read at (kept offset) + (reduced offset)
        buf = cuda.shared.array(MAX_THREADS, T)
        ibuf = cuda.shared.array(MAX_THREADS, int64)
        tid, nt = cuda.threadIdx.x, cuda.blockDim.x
        for o in range(cuda.blockIdx.x, n_out, cuda.gridDim.x):
            rem, base = o, 0
            for d in range(5, 5 - knd, -1):
                q = rem // kshape[d]
                base += (rem - q * kshape[d]) * ks[d]
                rem = q
            # pass 1, in registers: sum, or extreme value and its first position
            acc, at = START, -1
            for r in range(tid, R, nt):
                rem, off = r, base
                for d in range(5, 5 - rnd, -1):
                    q = rem // rshape[d]
                    off += (rem - q * rshape[d]) * rs[d]
                    rem = q
                v = x[off]
                if SUMS:
                    acc += v
                elif BIG:
                    if at < 0 or v > acc or (v != v and acc == acc):
                        acc, at = v, r
                elif at < 0 or v < acc or (v != v and acc == acc):
                    acc, at = v, r
            buf[tid] = acc
            ibuf[tid] = at
            cuda.syncthreads()
            step = nt // 2
            while step > 0:
                if tid < step:
                    a, b = buf[tid], buf[tid + step]
                    ia, ib = ibuf[tid], ibuf[tid + step]
                    if SUMS:
                        buf[tid] = a + b
                    elif ib >= 0:  # b wins if more extreme, or as extreme and earlier
                        if BIG:
                            wins = b > a or (b != b and a == a)
                            loses = a > b or (a != a and b == b)
                        else:
                            wins = b < a or (b != b and a == a)
                            loses = a < b or (a != a and b == b)
                        if ia < 0 or wins or (ib < ia and not loses):
                            buf[tid] = b
                            ibuf[tid] = ib
                cuda.syncthreads()
                step //= 2
            result, first = buf[0], ibuf[0]
            cuda.syncthreads()  # buf is written again below or for the next output
            if TWO_PASS:
                if op == "var":
                    shift = result / T(R)  # the mean
                else:
                    shift = ZERO if result == HIGH or result == LOW else result
                acc = ZERO
                for r in range(tid, R, nt):
                    rem, off = r, base
                    for d in range(5, 5 - rnd, -1):
                        q = rem // rshape[d]
                        off += (rem - q * rshape[d]) * rs[d]
                        rem = q
                    if op == "var":
                        dev = x[off] - shift
                        acc += dev * dev
                    else:
                        acc += math.exp(x[off] - shift)
                buf[tid] = acc
                cuda.syncthreads()
                step = nt // 2
                while step > 0:
                    if tid < step:
                        buf[tid] += buf[tid + step]
                    cuda.syncthreads()
                    step //= 2
                total = buf[0]
                cuda.syncthreads()
                if tid == 0:
                    if op == "var":
                        denom = T(R) - correction
                        out[o] = total / (denom if denom > ZERO else ZERO)
                    elif total == ZERO:  # every exp underflowed or x is all -inf
                        out[o] = LOW
                    else:
                        out[o] = math.log(total) + shift
            elif tid == 0:
                if ARG:
                    out[o] = first
                elif op == "mean":
                    out[o] = result / T(R)
                else:
                    out[o] = result
    return kernel


def reduce_reference(op, x, axis=None, keepdims=False, correction=1):
    """NumPy in float64 (exact int64 for ints), rounded once to x's dtype."""
    if op in ("argmax", "argmin"):
        return getattr(np, op)(x, axis=axis, keepdims=keepdims)
    w = x.astype(np.float64) if x.dtype.kind == "f" else x
    with np.errstate(all="ignore"):
        if op == "var":
            out = np.var(w, axis=axis, ddof=correction, keepdims=keepdims)
        elif op == "logsumexp":
            m = np.max(w, axis=axis, keepdims=True)
            shift = np.where(np.isinf(m), 0.0, m)
            out = np.log(np.sum(np.exp(w - shift), axis=axis, keepdims=True)) + shift
            out = out if keepdims else np.squeeze(out, axis=axis)
        else:
            out = getattr(np, op)(w, axis=axis, keepdims=keepdims)
    return np.asarray(out).astype(x.dtype)


def _axes(name, axis, ndim, op):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        if op in ("argmax", "argmin"):
            raise ValueError(f"{name}: axis must be None or one int, got {axis}")
        axes = tuple(axis_index(name, a, ndim) for a in axis)
        if len(set(axes)) != len(axes):
            raise ValueError(f"{name}: axis {tuple(axis)} repeats a dim")
        return tuple(sorted(axes))
    return (axis_index(name, axis, ndim),)


def _threads(R, launch):
    if launch is not None:
        blocks, threads = launch
        if threads > MAX_THREADS or threads & (threads - 1):
            raise ValueError(f"reduce: threads per block must be a power of two <= {MAX_THREADS}, "
                             f"got {threads}")
        return launch
    if simulating():
        return SIM_LAUNCH
    threads = 32
    while threads < min(R, THREADS):
        threads *= 2
    return None, threads


def reduce(op, x, axis=None, keepdims=False, correction=1, launch=None):
    name = f"reduce({op!r})"
    if op not in OPS:
        raise ValueError(f"reduce: unknown op {op!r}; known: {sorted(OPS)}")
    dt = dtype_of(name, x, "x", OPS[op])
    shape, strides = shape_of(x), elem_strides(name, x)
    axes = _axes(name, axis, len(shape), op)
    kept = [d for d in range(len(shape)) if d not in axes]
    R, n_out = size_of([shape[d] for d in axes]), size_of([shape[d] for d in kept])
    out_shape = (tuple(1 if d in axes else n for d, n in enumerate(shape)) if keepdims
                 else tuple(shape[d] for d in kept))
    out_dt = np.dtype(np.int64) if op in ("argmax", "argmin") else dt
    out = cuda.device_array(n_out, out_dt)
    if R == 0 and op in ("max", "min", "argmax", "argmin"):
        raise ValueError(f"{name}: cannot reduce over zero elements (x has shape {shape}, "
                         f"axis {axis}); {op} has no identity")
    if n_out == 0:
        return out.reshape(out_shape)
    if R == 0:  # sum 0, mean and var NaN, logsumexp -inf
        from .movement import fill_
        value = {"sum": 0, "mean": math.nan, "var": math.nan, "logsumexp": -math.inf}[op]
        return fill_(out, value).reshape(out_shape)
    kshape, (ks,), knd = coalesce([shape[d] for d in kept], [strides[d] for d in kept])
    rshape, (rs,), rnd = coalesce([shape[d] for d in axes], [strides[d] for d in axes])
    blocks, threads = _threads(R, launch)
    blocks = blocks or max(1, min(65535, n_out))
    kernel = specialised(_reduce_factory, NB_TYPES[dt], op)
    kernel[blocks, threads](out, operand(x, strides, shape), kshape, ks, knd, rshape, rs, rnd,
                            n_out, R, dt.type(correction))
    return out.reshape(out_shape)


_SIG = (float32[::1], float32[::1], DIMS, DIMS, int64, DIMS, DIMS, int64, int64, int64, float32)
PTX = [ptx_entry(_reduce_factory, op, signature=((int64[::1],) + _SIG[1:]) if op.startswith("arg")
                 else _SIG) for op in OPS]


def variants():
    """(label, python kernel, signature) for tests/test_cuda_primitives.py:
    int64 sum, max and argmax (min and argmin mirror them) and float64 var
    (the float64 code of the other ops types as float32's does)."""
    out = []
    for op, dts in OPS.items():
        for dt in dts:
            if (dt == np.int64 and op in ("sum", "max", "argmax")) or (dt == np.float64 and op == "var"):
                T = NB_TYPES[dt]
                o = int64[::1] if op.startswith("arg") else T[::1]
                out.append((f"reduce {op} {dt}", _reduce_factory(T, op),
                            (o, T[::1], DIMS, DIMS, int64, DIMS, DIMS, int64, int64, int64, T)))
    return out
