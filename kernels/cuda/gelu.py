"""CUDA GELU forward and backward, elementwise over the flattened array;
see kernels/gelu.py for the maths and the NumPy references."""
import math

from numba import boolean, cuda, float32

from ..jit import grid
from .common import per_dtype


def _forward_factory(T):
    HALF, ONE, K = T(0.5), T(1.0), T(0.044715)
    SQRT_HALF, SQRT_2_OVER_PI = T(math.sqrt(0.5)), T(math.sqrt(2.0 / math.pi))

    def kernel(y, x, tanh_approx):
        for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
            v = x[i]
            if tanh_approx:
                y[i] = HALF * v * (ONE + math.tanh(SQRT_2_OVER_PI * (v + K * v * v * v)))
            else:
                y[i] = v * HALF * math.erfc(-v * SQRT_HALF)
    return kernel


def _backward_factory(T):
    HALF, ONE, THREE, K = T(0.5), T(1.0), T(3.0), T(0.044715)
    SQRT_HALF, SQRT_2_OVER_PI = T(math.sqrt(0.5)), T(math.sqrt(2.0 / math.pi))
    INV_SQRT_2PI = T(1.0 / math.sqrt(2.0 * math.pi))

    def kernel(dx, dout, x, tanh_approx):
        for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
            v = x[i]
            if tanh_approx:
                t = math.tanh(SQRT_2_OVER_PI * (v + K * v * v * v))
                d = HALF * (ONE + t) + HALF * v * (ONE - t * t) * SQRT_2_OVER_PI * (ONE + THREE * K * v * v)
            else:
                d = HALF * math.erfc(-v * SQRT_HALF) + v * INV_SQRT_2PI * math.exp(-HALF * v * v)
            dx[i] = dout[i] * d
    return kernel


_FORWARD = per_dtype(_forward_factory)
_BACKWARD = per_dtype(_backward_factory)


def _flat(a, name, what):
    if not hasattr(a, "copy_to_host"):
        raise TypeError(f"{name}: {what} must be a CUDA device array")
    return a.reshape(a.size)


def gelu_forward(x, approximate="none", launch=None):
    xf = _flat(x, "gelu_forward", "x")
    y = cuda.device_array_like(xf)
    if xf.size:
        blocks, threads = grid(xf.size, launch)
        _FORWARD[xf.dtype][blocks, threads](y, xf, approximate == "tanh")
    return y.reshape(x.shape)


def gelu_backward(dout, x, approximate="none", launch=None):
    xf, gf = _flat(x, "gelu_backward", "x"), _flat(dout, "gelu_backward", "dout")
    dx = cuda.device_array_like(xf)
    if xf.size:
        blocks, threads = grid(xf.size, launch)
        _BACKWARD[xf.dtype][blocks, threads](dx, gf, xf, approximate == "tanh")
    return dx.reshape(x.shape)


_FLAT = float32[::1]
PTX = [(_forward_factory, (_FLAT, _FLAT, boolean)), (_backward_factory, (_FLAT, _FLAT, _FLAT, boolean))]
