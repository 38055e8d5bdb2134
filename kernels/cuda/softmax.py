"""CUDA softmax / log-softmax over rows, forward and backward; see
kernels/softmax.py for the maths and the NumPy references.

One block per row (grid-stride over rows); the block's threads stride over
the columns and combine partial max/sum in shared memory with a tree
reduction (threads per block is a power of two)."""
import math

from numba import boolean, cuda, float32

from ..jit import MAX_THREADS, rows_grid
from .common import check_launch, device_rows, per_dtype


def _forward_factory(T):
    NEG_INF, ZERO = T(-math.inf), T(0)

    def kernel(y, x, log):
        buf = cuda.shared.array(MAX_THREADS, T)
        tid, nt = cuda.threadIdx.x, cuda.blockDim.x
        N, C = x.shape
        for n in range(cuda.blockIdx.x, N, cuda.gridDim.x):
            m = NEG_INF
            for c in range(tid, C, nt):
                m = max(m, x[n, c])
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
                s += math.exp(x[n, c] - m)
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
            if log:
                log_s = math.log(s)  # (x - m) - log s: exact for large m too
                for c in range(tid, C, nt):
                    y[n, c] = (x[n, c] - m) - log_s
            else:
                for c in range(tid, C, nt):
                    y[n, c] = math.exp(x[n, c] - m) / s
    return kernel


def _backward_factory(T):
    ZERO = T(0)

    def kernel(dx, dy, y, log):
        buf = cuda.shared.array(MAX_THREADS, T)
        tid, nt = cuda.threadIdx.x, cuda.blockDim.x
        N, C = y.shape
        for n in range(cuda.blockIdx.x, N, cuda.gridDim.x):
            s = ZERO
            for c in range(tid, C, nt):
                s += dy[n, c] if log else dy[n, c] * y[n, c]
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
            for c in range(tid, C, nt):
                if log:
                    dx[n, c] = dy[n, c] - math.exp(y[n, c]) * s
                else:
                    dx[n, c] = y[n, c] * (dy[n, c] - s)
    return kernel


_FORWARD = per_dtype(_forward_factory)
_BACKWARD = per_dtype(_backward_factory)


def _forward(x, log, name, launch):
    x2 = device_rows(name, x)
    y = cuda.device_array_like(x2)
    if x2.size:
        blocks, threads = check_launch(rows_grid(x2.shape[0], launch), name)
        _FORWARD[x2.dtype][blocks, threads](y, x2, log)
    return y.reshape(x.shape) if x.ndim != 2 else y


def _backward(dy, y, log, name, launch):
    y2, dy2 = device_rows(name, y, "y"), device_rows(name, dy, "dy")
    if dy2.shape != y2.shape or dy2.dtype != y2.dtype:
        raise ValueError(f"{name}: dy {dy.shape} {dy.dtype} must match y {y.shape} {y.dtype}")
    dx = cuda.device_array_like(y2)
    if y2.size:
        blocks, threads = check_launch(rows_grid(y2.shape[0], launch), name)
        _BACKWARD[y2.dtype][blocks, threads](dx, dy2, y2, log)
    return dx.reshape(y.shape) if y.ndim != 2 else dx


def softmax_forward(x, launch=None):
    return _forward(x, False, "softmax_forward", launch)


def log_softmax_forward(x, launch=None):
    return _forward(x, True, "log_softmax_forward", launch)


def softmax_backward(dy, y, launch=None):
    return _backward(dy, y, False, "softmax_backward", launch)


def log_softmax_backward(dy, y, launch=None):
    return _backward(dy, y, True, "log_softmax_backward", launch)


_ROWS = float32[:, ::1]
PTX = [(_forward_factory, (_ROWS, _ROWS, boolean)), (_backward_factory, (_ROWS, _ROWS, _ROWS, boolean))]
