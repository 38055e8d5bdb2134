"""exp, sigmoid, tanh and erfc that Numba can vectorise, for float32 CPU kernels.

Numba >= 0.62 has no SVML, so math.exp in a loop is a scalar libm call
(~2.3 ns an element, 5x slower than np.exp). These versions are plain
arithmetic that LLVM turns into SIMD code. exp is the Cephes expf scheme:
    exp(x) = 2^k * exp(r),  k = round(x / ln 2),  r = x - k ln 2 in [-0.35, 0.35]
with exp(r) a degree-7 polynomial (about 1 ulp), and 2^k built directly
from its IEEE-754 bits. float64 inputs use math.exp/math.tanh unchanged
(they serve gradchecks, not speed).

erfc is Numerical Recipes' erfcc (a Chebyshev fit, relative error below
1.2e-7 for every x, so the tail erfc(5) ~ 1.5e-12 keeps its digits):
    erfc(|x|) = t exp(-x^2 + P(t)),  t = 1 / (1 + |x| / 2),  erfc(-a) = 2 - erfc(a)

Use from inside njit code: fast_exp(x), fast_sigmoid(x), fast_tanh(x),
fast_erfc(x). The NumPy meaning of each is the obvious one (np.exp,
1/(1+exp(-x)), np.tanh, math.erfc).
"""
import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.core.extending import intrinsic, overload

LOG2E = np.float32(1.44269504088896341)
LN2_HI = np.float32(0.693359375)       # ln 2 split so k * LN2_HI is exact
LN2_LO = np.float32(-2.12194440e-4)
EXP_MAX = np.float32(88.72283905206835)  # exp overflows float32 above this
EXP_MIN = np.float32(-87.3365447504)    # and underflows to a denormal below
# Cephes expf polynomial: exp(r) ~ 1 + r + r^2 (P5 + P4 r + ... + P0 r^5)
P0, P1, P2 = np.float32(1.9875691500e-4), np.float32(1.3981999507e-3), np.float32(8.3334519073e-3)
P3, P4, P5 = np.float32(4.1665795894e-2), np.float32(1.6666665459e-1), np.float32(5.0000001201e-1)
ONE, HALF, TWO, ZERO = np.float32(1), np.float32(0.5), np.float32(2), np.float32(0)
TANH_SMALL = np.float32(0.0625)
INF = np.float32(np.inf)


@intrinsic
def _int32_bits_as_float32(typingctx, bits):
    """Reinterpret an int32's bits as a float32 (no conversion)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return sig, codegen


def fast_exp(x):
    return math.exp(x)


def fast_sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def fast_tanh(x):
    return math.tanh(x)


def fast_erfc(x):
    return math.erfc(x)


def _exp32(x):
    # Branch-free (selects only) so that LLVM vectorises the loop around it.
    # NaN fails every comparison and flows through the arithmetic as NaN.
    xc = EXP_MAX if x > EXP_MAX else x
    xc = ZERO if xc < EXP_MIN else xc  # (the result is replaced by 0 below) avoids subnormals
    kf = xc * LOG2E
    k = np.int32(kf + HALF) if kf >= ZERO else np.int32(kf - HALF)  # round to nearest
    fk = np.float32(k)
    r = xc - fk * LN2_HI - fk * LN2_LO
    y = ((((((P0 * r + P1) * r + P2) * r + P3) * r + P4) * r + P5) * r * r + r) + ONE
    # 2^k = 2^k1 * 2^k2 with k1, k2 in [-63, 64]: each is a normal float32
    k1 = k >> np.int32(1)
    k2 = k - k1
    y = y * _int32_bits_as_float32((k1 + np.int32(127)) << np.int32(23))
    y = y * _int32_bits_as_float32((k2 + np.int32(127)) << np.int32(23))
    y = ZERO if x < EXP_MIN else y
    return INF if x > EXP_MAX else y


@overload(fast_exp)
def _fast_exp(x):
    if x == types.float32:
        return _exp32
    return lambda x: math.exp(x)


@overload(fast_sigmoid)
def _fast_sigmoid(x):
    if x == types.float32:
        return lambda x: ONE / (ONE + fast_exp(-x))
    return lambda x: 1.0 / (1.0 + math.exp(-x))


def _tanh32(x):
    a = abs(x)
    # near 0, 1 - e^{-2a} would cancel: use the odd Taylor series there
    x2 = x * x
    small = x * (ONE + x2 * (np.float32(-1 / 3) + x2 * (np.float32(2 / 15) + x2 * np.float32(-17 / 315))))
    e = fast_exp(-TWO * a)
    t = (ONE - e) / (ONE + e)
    t = t if x > ZERO else -t
    return small if a < TANH_SMALL else t


@overload(fast_tanh)
def _fast_tanh(x):
    if x == types.float32:
        return _tanh32
    return lambda x: math.tanh(x)


# Numerical Recipes erfcc coefficients, highest power of t first (separate
# scalars: a global tuple is not inlined as constants)
C0, C1, C2, C3, C4 = (np.float32(c) for c in (0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807))
C5, C6, C7, C8, C9 = (np.float32(c) for c in (-0.18628806, 0.09678418, 0.37409196, 1.00002368, -1.26551223))


def _erfc32(x):
    a = abs(x)
    t = ONE / (ONE + HALF * a)
    p = ((((((((C0 * t + C1) * t + C2) * t + C3) * t + C4) * t + C5) * t + C6) * t + C7) * t + C8) * t + C9
    e = t * fast_exp(p - a * a)
    return e if x >= ZERO else TWO - e


@overload(fast_erfc, inline="always")
def _fast_erfc(x):
    if x == types.float32:
        return _erfc32
    return lambda x: math.erfc(x)
