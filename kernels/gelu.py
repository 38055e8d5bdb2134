"""GELU, exact (erf) and tanh-approximated, forward and backward.

Shapes: any; kernels see the flattened arrays. Must match gelu_reference:
    exact: y = x Phi(x),  Phi(x) = 0.5 erfc(-x / sqrt 2),  y' = Phi(x) + x phi(x)
    tanh:  y = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)
as torch.nn.functional.gelu(approximate='none' | 'tanh'). Phi is written with erfc,
not 1 + erf, so that it keeps its relative accuracy far into the negative
tail. NumPy has no erfc: the reference maps math.erfc over the elements.

Two CPU kernels: float64 input runs the precise one (math.erfc, math.tanh:
scalar libm calls, ~5 ns an element, fine for gradchecks); float32 runs in
float32 with fast_exp/fast_tanh (kernels/fastmath.py), which LLVM
vectorises. Its exact GELU takes erfc from Abramowitz & Stegun 7.1.26, as
PyTorch's vectorised CPU erf does:
    erfc(a) = t (A1 + A2 t + ... + A5 t^4) exp(-a^2),  t = 1 / (1 + P a),  a >= 0
(absolute error below 1.5e-7, so gelu's stays below 1e-6 for |x| < 13 and
vanishes beyond, where exp(-a^2) does). With a = |x| / sqrt 2, exp(-a^2) is
also sqrt(2 pi) phi(x): the backward needs one exp, not two. Measured here
per element: forward 1.1 ns, backward 1.2 ns (Numerical Recipes' erfc and a
second exp took 1.7 and 2.7). Large arrays are cut in two halves, one per
thread (jit.in_halves): every element is computed alone, so the split
changes no result.
"""
import math

import numpy as np

from .fastmath import fast_exp, fast_tanh
from .jit import cpu_kernel, in_halves, precise_cpu_kernel
from .registry import Kernel, register
from .validate import as_float, lazy_cuda

SQRT_HALF = math.sqrt(0.5)
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
K = 0.044715
THREADED_SIZE = 1 << 18  # elements from which two threads share the work (a split costs ~0.1 ms)

_erfc = np.frompyfunc(math.erfc, 1, 1)


def _phi_reference(x64):
    return 0.5 * np.asarray(_erfc(-x64 * SQRT_HALF), dtype=np.float64)


def gelu_reference(x, approximate="none"):
    x64 = x.astype(np.float64)
    if approximate == "tanh":
        y = 0.5 * x64 * (1.0 + np.tanh(SQRT_2_OVER_PI * (x64 + K * x64 ** 3)))
    else:
        y = x64 * _phi_reference(x64)
    return y.astype(x.dtype)


def gelu_backward_reference(dout, x, approximate="none"):
    x64 = x.astype(np.float64)
    if approximate == "tanh":
        t = np.tanh(SQRT_2_OVER_PI * (x64 + K * x64 ** 3))
        du = SQRT_2_OVER_PI * (1.0 + 3.0 * K * x64 ** 2)
        d = 0.5 * (1.0 + t) + 0.5 * x64 * (1.0 - t * t) * du
    else:
        d = _phi_reference(x64) + x64 * INV_SQRT_2PI * np.exp(-0.5 * x64 * x64)
    return (dout * d).astype(x.dtype)


@precise_cpu_kernel
def _gelu_forward(out, x, tanh_approx):
    for i in range(x.size):
        v = np.float64(x[i])
        if tanh_approx:
            out[i] = 0.5 * v * (1.0 + math.tanh(SQRT_2_OVER_PI * (v + K * v * v * v)))
        else:
            out[i] = v * 0.5 * math.erfc(-v * SQRT_HALF)


@precise_cpu_kernel
def _gelu_backward(dx, dout, x, tanh_approx):
    for i in range(x.size):
        v = np.float64(x[i])
        if tanh_approx:
            t = math.tanh(SQRT_2_OVER_PI * (v + K * v * v * v))
            d = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * K * v * v)
        else:
            d = 0.5 * math.erfc(-v * SQRT_HALF) + v * INV_SQRT_2PI * math.exp(-0.5 * v * v)
        dx[i] = dout[i] * d


F32 = np.float32
H, ONE, S_HALF, S_2PI, INV_2PI, K32 = (F32(0.5), F32(1), F32(SQRT_HALF), F32(SQRT_2_OVER_PI),
                                       F32(INV_SQRT_2PI), F32(K))
# Abramowitz & Stegun 7.1.26 (separate scalars: a global tuple is not inlined as constants)
P, A1, A2, A3, A4, A5 = (F32(c) for c in (0.3275911, 0.254829592, -0.284496736, 1.421413741,
                                          -1.453152027, 1.061405429))


@cpu_kernel
def _phi_f32(v, e):
    # Phi(v) given e = exp(-v^2 / 2): with a = |v| / sqrt 2, 0.5 erfc(a) is
    # Phi(-|v|), and Phi(|v|) = 1 - Phi(-|v|)
    t = ONE / (ONE + P * (abs(v) * S_HALF))
    tail = H * t * (A1 + t * (A2 + t * (A3 + t * (A4 + t * A5)))) * e
    return tail if v < 0 else ONE - tail


@cpu_kernel
def _gelu_forward_f32(out, x, tanh_approx):
    # the float32 twin of _gelu_forward; the branch on tanh_approx is
    # loop-invariant, so LLVM vectorises each side
    for i in range(x.size):
        v = x[i]
        if tanh_approx:
            out[i] = H * v * (ONE + fast_tanh(S_2PI * (v + K32 * v * v * v)))
        else:
            out[i] = v * _phi_f32(v, fast_exp(-H * v * v))


@cpu_kernel
def _gelu_backward_f32(dx, dout, x, tanh_approx):
    for i in range(x.size):
        v = x[i]
        if tanh_approx:
            t = fast_tanh(S_2PI * (v + K32 * v * v * v))
            d = H * (ONE + t) + H * v * (ONE - t * t) * S_2PI * (ONE + F32(3) * K32 * v * v)
        else:
            e = fast_exp(-H * v * v)
            d = _phi_f32(v, e) + v * INV_2PI * e
        dx[i] = dout[i] * d


def _check_mode(name, approximate):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"{name}: approximate must be 'none' or 'tanh', got {approximate!r}")


def _elementwise(kernel, out, *args):
    """kernel(out, *arrays, flag) over 1-D arrays, on two threads when large
    (cut at a multiple of 16 elements: the halves share no cache line)."""
    *arrays, flag = args
    n = out.size
    if n < THREADED_SIZE:
        kernel(out, *arrays, flag)
    else:
        in_halves(lambda i, j: kernel(out[i:j], *(a[i:j] for a in arrays), flag), n, n // 32 * 16)


def gelu_forward(x, approximate="none"):
    """y = gelu(x) by the Numba kernel; x any shape, float32 or float64."""
    _check_mode("gelu_forward", approximate)
    xf = as_float("gelu_forward", x).reshape(-1)
    out = np.empty_like(xf)
    _elementwise(_gelu_forward_f32 if xf.dtype == np.float32 else _gelu_forward, out, xf, approximate == "tanh")
    return out.reshape(x.shape)


def gelu_backward(dout, x, approximate="none"):
    """dx = dout * gelu'(x) by the Numba kernel."""
    _check_mode("gelu_backward", approximate)
    xf = as_float("gelu_backward", x).reshape(-1)
    gf = as_float("gelu_backward", dout, "dout").astype(x.dtype, copy=False).reshape(-1)
    if gf.shape != xf.shape:
        raise ValueError(f"gelu_backward: dout {dout.shape} and x {x.shape} differ in shape")
    dx = np.empty_like(xf)
    _elementwise(_gelu_backward_f32 if xf.dtype == np.float32 else _gelu_backward, dx, gf, xf,
                 approximate == "tanh")
    return dx.reshape(x.shape)


def _example_forward(rng, dtype, N, approximate="none"):
    return (rng.standard_normal(N) * 3).astype(dtype), approximate


def _example_backward(rng, dtype, N, approximate="none"):
    return rng.standard_normal(N).astype(dtype), (rng.standard_normal(N) * 3).astype(dtype), approximate


_SIZES, _SIM, _BENCH = {"N": (0, 300)}, {"N": (1, 12)}, {"N": 32 * 64 * 512}
register(Kernel("gelu_forward", gelu_reference, gelu_forward, lazy_cuda("gelu", "gelu_forward"),
                _example_forward, _SIZES, _SIM, _BENCH))
register(Kernel("gelu_backward", gelu_backward_reference, gelu_backward, lazy_cuda("gelu", "gelu_backward"),
                _example_backward, _SIZES, _SIM, _BENCH))
