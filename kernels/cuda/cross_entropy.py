"""CUDA cross-entropy loss and dlogits in one fused pass; see
kernels/cross_entropy.py for the maths and the NumPy reference.

Three launches:
  _prepare  one block: checks the targets, sums the 'mean' denominator
            sum_{kept i} w[t_i] and W = sum_c w[c] into scal = [denominator,
            W], and records the lowest bad row's target in the device-side
            error register (errors.py);
  _rows     one block per row (grid-stride over rows): shared-memory tree
            reductions of the row max, of sum exp and, with label smoothing,
            of sum_c w[c] (lse - x[c]); writes loss_i and the row of dlogits;
  _total    one block: sum_i loss_i (divided by the denominator for 'mean').
Threads per block is a power of two (the tree reductions halve it).

A target outside [0, C) that is not ignore_index: with check=True (the
default unless errors.set_default_check changed it) the wrapper reads the
register after _prepare and raises IndexError (one copy to the host, and a
wait); with check="defer" it is left for errors.raise_if_set() and, as
with check=False (nothing recorded), its row counts as ignored: loss 0,
dlogits 0, not in the 'mean' denominator."""
import math

import numpy as np
from numba import boolean, cuda, float32, int64

from ..cross_entropy import NAME, check_options
from ..jit import MAX_THREADS, rows_grid
from . import errors
from .common import NB_TYPES, check_launch, per_dtype
from .errors import CODE, EXTRA, LIMIT, VALUE


def _prepare_factory(T):
    ZERO, ONE = T(0), T(1)

    def kernel(scal, reg, code, targets, weight, C, ignore_index, weighted):
        # scal (2,) = [sum of kept rows' w[t], sum_c w[c]]; reg: the error register
        denom = cuda.shared.array(MAX_THREADS, T)
        wsum = cuda.shared.array(MAX_THREADS, T)
        first = cuda.shared.array(MAX_THREADS, int64)  # lowest bad row seen, N if none
        tid, nt = cuda.threadIdx.x, cuda.blockDim.x
        N = targets.shape[0]
        d = ZERO
        bad = N
        for n in range(tid, N, nt):
            t = targets[n]
            if t != ignore_index:
                if t < 0 or t >= C:
                    bad = min(bad, n)
                else:
                    d += weight[t] if weighted else ONE
        s = ZERO
        for c in range(tid, C, nt):
            s += weight[c] if weighted else ONE
        denom[tid], wsum[tid], first[tid] = d, s, bad
        cuda.syncthreads()
        step = nt // 2
        while step > 0:
            if tid < step:
                denom[tid] += denom[tid + step]
                wsum[tid] += wsum[tid + step]
                first[tid] = min(first[tid], first[tid + step])
            cuda.syncthreads()
            step //= 2
        if tid == 0:
            scal[0], scal[1] = denom[0], wsum[0]
            bad = first[0]
            if bad < N and code != 0 and cuda.atomic.cas(reg, CODE, 0, code) == 0:
                reg[VALUE], reg[LIMIT], reg[EXTRA] = targets[bad], C, ignore_index
    return kernel


def _rows_factory(T):
    ZERO, ONE, NEG_INF = T(0), T(1), T(-math.inf)

    def kernel(losses, dlogits, logits, targets, weight, scal, ignore_index, eps, weighted, mean):
        buf = cuda.shared.array(MAX_THREADS, T)
        tid, nt = cuda.threadIdx.x, cuda.blockDim.x
        N, C = logits.shape
        scale = ONE / scal[0] if mean else ONE    # inf when all rows are ignored: unused then
        keep, smooth = ONE - eps, eps / T(C)      # weights of the one-hot and uniform terms
        for n in range(cuda.blockIdx.x, N, cuda.gridDim.x):
            t = targets[n]                        # the same for the whole block: branches agree
            if t == ignore_index or t < 0 or t >= C:  # ignored, or bad (recorded by _prepare)
                for c in range(tid, C, nt):
                    dlogits[n, c] = ZERO
                if tid == 0:
                    losses[n] = ZERO
                continue
            m = NEG_INF
            for c in range(tid, C, nt):
                m = max(m, logits[n, c])
            buf[tid] = m
            cuda.syncthreads()
            step = nt // 2
            while step > 0:
                if tid < step:
                    buf[tid] = max(buf[tid], buf[tid + step])
                cuda.syncthreads()
                step //= 2
            m = buf[0]
            cuda.syncthreads()
            s = ZERO
            for c in range(tid, C, nt):
                s += math.exp(logits[n, c] - m)
            buf[tid] = s
            cuda.syncthreads()
            step = nt // 2
            while step > 0:
                if tid < step:
                    buf[tid] += buf[tid + step]
                cuda.syncthreads()
                step //= 2
            s = buf[0]
            cuda.syncthreads()
            lse = m + math.log(s)                 # -logp[c] = lse - x[c]
            wt = weight[t] if weighted else ONE
            a = scale * (keep * wt + smooth * scal[1]) / s
            u = ZERO                              # this thread's part of sum_c w[c] (lse - x[c])
            for c in range(tid, C, nt):
                wc = weight[c] if weighted else ONE
                if eps > ZERO:                    # skipped at eps = 0 as in PyTorch: 0 * inf is NaN
                    u += wc * (lse - logits[n, c])
                g = math.exp(logits[n, c] - m) * a - scale * smooth * wc
                if c == t:
                    g -= scale * keep * wt
                dlogits[n, c] = g
            if eps > ZERO:
                buf[tid] = u
                cuda.syncthreads()
                step = nt // 2
                while step > 0:
                    if tid < step:
                        buf[tid] += buf[tid + step]
                    cuda.syncthreads()
                    step //= 2
                u = buf[0]
            if tid == 0:
                losses[n] = keep * wt * (lse - logits[n, t]) + smooth * u
            cuda.syncthreads()                    # buf is reused by the next row
    return kernel


def _total_factory(T):
    ZERO = T(0)

    def kernel(loss, losses, scal, mean):
        # loss (1,) = sum_i losses[i], over the denominator scal[0] for 'mean'
        buf = cuda.shared.array(MAX_THREADS, T)
        tid, nt = cuda.threadIdx.x, cuda.blockDim.x
        s = ZERO
        for n in range(tid, losses.shape[0], nt):
            s += losses[n]
        buf[tid] = s
        cuda.syncthreads()
        step = nt // 2
        while step > 0:
            if tid < step:
                buf[tid] += buf[tid + step]
            cuda.syncthreads()
            step //= 2
        if tid == 0:
            loss[0] = buf[0] / scal[0] if mean else buf[0]  # 0 / 0 = NaN: every row ignored
    return kernel


_PREPARE = per_dtype(_prepare_factory)
_ROWS = per_dtype(_rows_factory)
_TOTAL = per_dtype(_total_factory)


def _device(a, what):
    if not hasattr(a, "copy_to_host"):  # a numba device array (real or simulated)
        raise TypeError(f"{NAME}: {what} must be a CUDA device array "
                        f"(kernels.cuda.transfers.to_device)")
    return a


def cross_entropy_forward(logits, targets, weight=None, ignore_index=-100,
                          label_smoothing=0.0, reduction="mean", *, check=None, launch=None):
    """(loss, dlogits) as device arrays; loss is 0-d for 'mean'/'sum', (N,) for 'none'."""
    mode = errors.resolve(check)
    x = _device(logits, "logits")
    dt = np.dtype(x.dtype)
    if dt not in NB_TYPES:
        raise TypeError(f"{NAME}: logits must be float32 or float64, got {dt}")
    if x.ndim != 2:
        raise ValueError(f"{NAME}: logits must have 2 dims (N, C), got shape {x.shape}")
    N, C = x.shape
    t = _device(targets, "targets")
    if np.dtype(t.dtype) != np.int64:
        raise TypeError(f"{NAME}: targets must be int64 on the device, got {t.dtype}")
    if t.shape != (N,):
        raise ValueError(f"{NAME}: targets must have shape ({N},) for logits {x.shape}, "
                         f"got {t.shape}")
    if weight is not None and (_device(weight, "weight").shape != (C,)
                               or np.dtype(weight.dtype) != dt):
        raise ValueError(f"{NAME}: weight must have shape ({C},) and dtype {dt} like logits "
                         f"{x.shape}, got {weight.shape} {weight.dtype}")
    ignore_index, eps = check_options(NAME, ignore_index, label_smoothing, reduction)
    blocks, threads = check_launch(rows_grid(N, launch), NAME)
    mean = reduction == "mean"
    scal = cuda.device_array(2, dt)
    w = scal if weight is None else weight         # never read when weighted is False
    _PREPARE[dt][1, threads](scal, errors.register(), errors.code_for(NAME, mode), t, w, C,
                             ignore_index, weight is not None)
    errors.check_now(mode)  # check=True: the one wait on the GPU; a bad target raises here
    losses, dlogits = cuda.device_array(N, dt), cuda.device_array((N, C), dt)
    if N:
        _ROWS[dt][blocks, threads](losses, dlogits, x, t, w, scal, ignore_index, dt.type(eps),
                                   weight is not None, mean)
    if reduction == "none":
        return losses, dlogits
    loss = cuda.device_array(1, dt)
    _TOTAL[dt][1, threads](loss, losses, scal, mean)
    return loss.reshape(()), dlogits


_V, _M = float32[::1], float32[:, ::1]
PTX = [(_prepare_factory, (_V, int64[::1], int64, int64[::1], _V, int64, int64, boolean)),
       (_rows_factory, (_V, _M, _M, int64[::1], _V, _V, int64, float32, boolean, boolean)),
       (_total_factory, (_V, _V, _V, boolean))]
