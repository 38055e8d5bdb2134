"""CUDA linear forward and backward; see kernels/linear.py for the maths and
the NumPy references. The products are kernels/cuda/matmul.py's; two small
kernels add the bias to y and sum dy's rows into db:
  _bias_add    y[i, j] += b[j], one thread per element (grid-stride)
  _column_sum  db[j] = sum_i dy[i, j], one thread per column: consecutive
               threads read consecutive addresses of each row
"""
from numba import cuda, float32

from ..jit import grid
from ..linear import check_linear
from .common import check_launch, per_dtype
from .matmul import _backward, _device, _forward


def _bias_add_factory(T):
    def kernel(y, b):
        M, N = y.shape
        for e in range(cuda.grid(1), M * N, cuda.gridsize(1)):
            y[e // N, e % N] += b[e % N]
    return kernel


def _column_sum_factory(T):
    ZERO = T(0)

    def kernel(db, dy):
        M, N = dy.shape
        for j in range(cuda.grid(1), N, cuda.gridsize(1)):
            acc = ZERO
            for i in range(M):
                acc += dy[i, j]
            db[j] = acc
    return kernel


_BIAS_ADD, _COLUMN_SUM = per_dtype(_bias_add_factory), per_dtype(_column_sum_factory)


def linear_forward(x, w, b=None, launch=None):
    """y = x @ w.T + b as a device array; b a device array or None."""
    check_linear("linear_forward", x, w, b)
    y = _forward("linear_forward", x, w, True, launch)
    if b is not None and y.size:
        _device("linear_forward", (b, "b"))
        blocks, threads = check_launch(grid(y.size, launch), "linear_forward")
        _BIAS_ADD[y.dtype][blocks, threads](y, b)
    return y


def linear_backward(dy, x, w, bias, launch=None):
    """(dx, dw), and db when bias, as device arrays."""
    check_linear("linear_backward", x, w)
    dx, dw = _backward("linear_backward", dy, x, w, True, launch)
    if not bias:
        return dx, dw
    db = cuda.device_array(w.shape[0], dtype=dy.dtype)
    if db.size:
        blocks, threads = check_launch(grid(db.size, launch), "linear_backward")
        _COLUMN_SUM[dy.dtype][blocks, threads](db, dy)
    return dx, dw, db


PTX = [(_bias_add_factory, (float32[:, ::1], float32[::1])),
       (_column_sum_factory, (float32[::1], float32[:, ::1]))]
