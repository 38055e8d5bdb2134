"""CUDA LayerNorm over rows, forward and backward; see kernels/layernorm.py
for the maths, the shift by each row's first value, and the NumPy references.

Forward: one block per row (grid-stride over rows); the block's threads
stride over the columns and combine partial sums in shared memory with a
tree reduction (threads per block is a power of two).
Backward, two launches:
  _rows   as the forward, for dx; each thread also adds dy * xhat and dy of
          its own columns into this block's row of part (2, blocks, C), so
          no two threads ever write the same element;
  _params one thread per column sums part over the blocks into dweight and
          dbias (deterministic: no atomics). The backward launches at most
          PARTS blocks, so that this sum stays short.
"""
import math

import numpy as np
from numba import cuda, float32

from ..jit import MAX_THREADS, grid, rows_grid
from .common import NB_TYPES, check_launch, per_dtype
from .movement import full

PARTS = 256  # most blocks (rows of partial sums) the backward launches by default


def _forward_factory(T):
    ZERO, ONE = T(0), T(1)

    def kernel(y, mean, rstd, x, weight, bias, eps):
        buf = cuda.shared.array(MAX_THREADS, T)
        tid, nt = cuda.threadIdx.x, cuda.blockDim.x
        N, C = x.shape
        for n in range(cuda.blockIdx.x, N, cuda.gridDim.x):
            k = x[n, 0]                         # the shift
            s = ZERO
            for c in range(tid, C, nt):
                s += x[n, c] - k
            buf[tid] = s
            cuda.syncthreads()
            step = nt // 2
            while step > 0:
                if tid < step:
                    buf[tid] += buf[tid + step]
                cuda.syncthreads()
                step //= 2
            d = buf[0] / T(C)                   # mean - k
            cuda.syncthreads()
            v = ZERO
            for c in range(tid, C, nt):
                e = (x[n, c] - k) - d           # x - mean (no fast-math here to reorder it)
                v += e * e
            buf[tid] = v
            cuda.syncthreads()
            step = nt // 2
            while step > 0:
                if tid < step:
                    buf[tid] += buf[tid + step]
                cuda.syncthreads()
                step //= 2
            r = ONE / math.sqrt(buf[0] / T(C) + eps)
            cuda.syncthreads()                  # buf is reused by the next row
            if tid == 0:
                mean[n], rstd[n] = k + d, r
            for c in range(tid, C, nt):
                y[n, c] = ((x[n, c] - k) - d) * r * weight[c] + bias[c]
    return kernel


def _rows_factory(T):
    ZERO = T(0)

    def kernel(dx, part, dy, x, weight, mean, rstd):
        s1buf = cuda.shared.array(MAX_THREADS, T)  # sum(dxhat)
        s2buf = cuda.shared.array(MAX_THREADS, T)  # sum(dxhat * xhat)
        tid, nt, blk = cuda.threadIdx.x, cuda.blockDim.x, cuda.blockIdx.x
        N, C = x.shape
        for c in range(tid, C, nt):
            part[0, blk, c] = ZERO
            part[1, blk, c] = ZERO
        for n in range(blk, N, cuda.gridDim.x):
            m, r = mean[n], rstd[n]
            s1 = ZERO
            s2 = ZERO
            for c in range(tid, C, nt):
                # dxhat staged in dx, read back after the barrier: as on the
                # CPU, recomputing it would let the compiler fuse it into an
                # FMA, and dxhat - mean(dxhat) would not cancel when C = 1
                g = dy[n, c]
                dx[n, c] = g * weight[c]
                xhat = (x[n, c] - m) * r
                s1 += dx[n, c]
                s2 += dx[n, c] * xhat
                part[0, blk, c] += g * xhat
                part[1, blk, c] += g
            s1buf[tid] = s1
            s2buf[tid] = s2
            cuda.syncthreads()
            step = nt // 2
            while step > 0:
                if tid < step:
                    s1buf[tid] += s1buf[tid + step]
                    s2buf[tid] += s2buf[tid + step]
                cuda.syncthreads()
                step //= 2
            s1, s2 = s1buf[0] / T(C), s2buf[0] / T(C)
            cuda.syncthreads()
            for c in range(tid, C, nt):
                dx[n, c] = r * (dx[n, c] - s1 - (x[n, c] - m) * r * s2)
    return kernel


def _params_factory(T):
    ZERO = T(0)

    def kernel(dweight, dbias, part):
        blocks, C = part.shape[1], part.shape[2]
        for c in range(cuda.grid(1), C, cuda.gridsize(1)):
            sw = ZERO
            sb = ZERO
            for j in range(blocks):
                sw += part[0, j, c]
                sb += part[1, j, c]
            dweight[c], dbias[c] = sw, sb
    return kernel


_FORWARD = per_dtype(_forward_factory)
_ROWS = per_dtype(_rows_factory)
_PARAMS = per_dtype(_params_factory)


def _device(name, a, what, shape=None, dtype=None):
    """A device array, checked: float32/float64, and the shape and dtype asked for."""
    if not hasattr(a, "copy_to_host"):  # a numba device array (real or simulated)
        raise TypeError(f"{name}: {what} must be a CUDA device array "
                        f"(kernels.cuda.transfers.to_device)")
    dt = np.dtype(a.dtype)
    if dt not in NB_TYPES:
        raise TypeError(f"{name}: {what} must be float32 or float64, got {dt}")
    if shape is None and a.ndim == 0:
        raise ValueError(f"{name}: {what} needs at least 1 dim, got a 0-d array")
    if shape is not None and (tuple(a.shape) != shape or dt != dtype):
        raise ValueError(f"{name}: {what} must have shape {shape} and dtype {dtype}, "
                         f"got {a.shape} {dt}")
    return a


def _affine(name, a, what, C, dt, fill):
    if a is None:  # filled on the device: no copy
        return full(C, fill, dt)
    return _device(name, a, what, (C,), dt)


def layernorm_forward(x, weight=None, bias=None, eps=1e-5, launch=None):
    name = "layernorm_forward"
    _device(name, x, "x")
    shape = tuple(x.shape)  # the simulator's shapes refuse negative indices
    dt, C, lead = np.dtype(x.dtype), shape[-1], shape[:-1]
    N = math.prod(lead)
    x2 = x.reshape(N, C)
    w = _affine(name, weight, "weight", C, dt, 1)
    b = _affine(name, bias, "bias", C, dt, 0)
    y = cuda.device_array((N, C), dt)
    if C == 0:  # as PyTorch: mean 0, rstd NaN (filled on the device: no copy)
        return y.reshape(shape), full(lead, 0, dt), full(lead, np.nan, dt)
    mean, rstd = cuda.device_array(N, dt), cuda.device_array(N, dt)
    if N:
        blocks, threads = check_launch(rows_grid(N, launch), name)
        _FORWARD[dt][blocks, threads](y, mean, rstd, x2, w, b, dt.type(eps))
    return y.reshape(shape), mean.reshape(lead), rstd.reshape(lead)


def layernorm_backward(dy, x, weight, mean, rstd, launch=None):
    name = "layernorm_backward"
    _device(name, x, "x")
    shape = tuple(x.shape)  # the simulator's shapes refuse negative indices
    dt, C, lead = np.dtype(x.dtype), shape[-1], shape[:-1]
    N = math.prod(lead)
    dy2 = _device(name, dy, "dy", shape, dt).reshape(N, C)
    w = _affine(name, weight, "weight", C, dt, 1)
    m = _device(name, mean, "mean", lead, dt).reshape(N)
    r = _device(name, rstd, "rstd", lead, dt).reshape(N)
    dx = cuda.device_array((N, C), dt)
    dweight, dbias = cuda.device_array(C, dt), cuda.device_array(C, dt)
    if C == 0:
        return dx.reshape(shape), dweight, dbias
    blocks, threads = check_launch(rows_grid(min(N, PARTS), launch), name)
    part = cuda.device_array((2, blocks, C), dt)
    _ROWS[dt][blocks, threads](dx, part, dy2, x.reshape(N, C), w, m, r)  # N = 0: part = 0
    blocks, threads = grid(C, launch)
    _PARAMS[dt][blocks, threads](dweight, dbias, part)
    return dx.reshape(shape), dweight, dbias


_V, _M = float32[::1], float32[:, ::1]
PTX = [(_forward_factory, (_M, _V, _V, _M, _V, _V, float32)),
       (_rows_factory, (_M, float32[:, :, ::1], _M, _M, _V, _V, _V)),
       (_params_factory, (_V, _V, float32[:, :, ::1]))]
