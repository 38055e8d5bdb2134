"""Random numbers on the CUDA device from a counter-based generator, each
wrapper beside a NumPy reference (`*_reference`) that computes the same
numbers on the host.

  uniform_(out, seed, offset, low=0, high=1)   float32/64 in [low, high)
  normal_(out, seed, offset, mean=0, std=1)    float32/64, Box-Muller
  randint_(out, seed, offset, low, high)       int64 in [low, high)
  bernoulli_mask(out, seed, offset, p)         bool, True (keep) with
                                               probability 1 - p: dropout

The generator has no state on the device. Counter c of seed s gives 64
bits that are a pure function of (s, c):
    x = c * GAMMA + k1;  x = mix(x);  x = mix(x ^ k2)
with mix the splitmix64 finaliser (a bijection of 64-bit words) and k1, k2
the first two splitmix64 outputs of s (computed on the host). For a fixed
seed this is a bijection of c (GAMMA is odd): a stream never repeats a
word before 2**64 counters; other seeds give other permutations, not
shifted copies of one stream. The element at C-order position i of out
takes counter offset + i (offset + 2i and offset + 2i + 1 for normal), so
the caller keeps (seed, offset) on the host and advances offset by
consumed(out.size, kind) after each draw: two draws of n from offsets o
and o + consumed(n) give the numbers of one draw of 2n from o.

From bits to values, on the device and in the references alike:
- uniform: float32 from the top 24 bits, u = (bits >> 40) * 2**-24, float64
  from the top 53, u = (bits >> 11) * 2**-53: u is exact and < 1. Then
  low + span * u with span = high - low rounded to the dtype, each step
  rounded as NumPy rounds it (libdevice's mul_rn/add_rn on the device, so
  NVVM cannot fuse them into one FMA); a value that rounds up to high
  becomes low (as torch's CUDA uniform_ does). Bit-equal to the reference.
- normal: u1 = (k1 + 1) * 2**-b in (0, 1] (so log u1 is finite) and u2 =
  k2 * 2**-b in [0, 1) from counters 2i and 2i + 1 (b = 24 or 53 top bits),
  z = sqrt(-2 log u1) * cos(2 pi u2), value mean + std * z. float32 reduces
  2 pi u2 to [0, pi/4] exactly in integers and evaluates cephes' float32
  sin/cos polynomials (libdevice's cosf carries float64 code for huge
  arguments). The reference computes z in float64 and rounds once, so the
  device differs by float rounding: within rtol 1e-6 and atol 1e-6 * (|mean|
  + std) in float32 (about 4 ulp), 1e-12 in float64. |z| is at most 5.77
  (float32) and 8.57 (float64): the tail beyond has probability 8e-9.
- randint: low + floor(bits * R / 2**64), R = high - low (at most 2**63):
  the high word of a 64 x 64-bit product, built from 32-bit halves so that
  no step overflows. Each value's probability is off 1/R by at most R /
  2**64 relative (2**-47 for R = 131072): the bias bound of any
  64-bit-to-range map.
- bernoulli_mask: (bits >> 40) >= ceil(float32(p) * 2**24), which is
  exactly `uniform float32 at the same (seed, offset) >= float32(p)`:
  tinylm may compose dropout either way and get the same mask.

No draw copies anything between host and device: keys, offset and
parameters are kernel arguments. Under the simulator each CUDA thread is a
Python thread doing NumPy uint64 scalar arithmetic, whose wrap-around
warns; NumPy's error state is per thread, so the simulated kernel sets it
itself (`_quiet`). Compiled kernels wrap silently."""
import math
import operator

import numpy as np
from numba import config, cuda, float32, float64, int64, uint64

from ..jit import grid
from .layout import (DIMS, FLOATS, NB_TYPES, check_no_overlap, coalesce, dtype_of, elem_strides,
                     operand, ptx_entry, shape_of, size_of, specialised)

MASK64 = 2**64 - 1
GAMMA, M1, M2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB  # splitmix64
COUNTERS = {"uniform": 1, "normal": 2, "randint": 1, "bernoulli": 1}  # per element
INT64, BOOL = (np.dtype(np.int64),), (np.dtype(np.bool_),)
_U = np.uint64
_MAX_RANGE = 2**63


def consumed(n, kind):
    """How far a draw of n numbers of `kind` advances the caller's offset."""
    if kind not in COUNTERS:
        raise ValueError(f"consumed: unknown kind {kind!r}; known: {sorted(COUNTERS)}")
    return COUNTERS[kind] * int(n)


def _mix_int(x):
    """splitmix64's finaliser on a Python int (host side)."""
    x = ((x ^ (x >> 30)) * M1) & MASK64
    x = ((x ^ (x >> 27)) * M2) & MASK64
    return x ^ (x >> 31)


def keys(seed):
    """(k1, k2): splitmix64's first two outputs from seed mod 2**64."""
    s = seed & MASK64
    return _mix_int((s + GAMMA) & MASK64), _mix_int((s + 2 * GAMMA) & MASK64)


# -- the kernel -------------------------------------------------------------------

def _quiet(kernel):
    """The kernel itself, or under the simulator the kernel run with NumPy's
    overflow warnings off in the thread that simulates it."""
    if not config.ENABLE_CUDASIM:
        return kernel

    def simulated(out, so, shape, nd, n, k1, k2, offset, a, b, c):
        with np.errstate(over="ignore"):
            kernel(out, so, shape, nd, n, k1, k2, offset, a, b, c)
    simulated.__name__ = kernel.__name__
    return simulated


def _rounded(T):
    """(mul, add) rounded separately, never fused into an FMA (FMA would
    round once and differ from NumPy in the last bit)."""
    if config.ENABLE_CUDASIM:
        return operator.mul, operator.add  # NumPy scalars round each step
    from numba.cuda import libdevice
    if T == float64:
        return libdevice.dmul_rn, libdevice.dadd_rn
    return libdevice.fmul_rn, libdevice.fadd_rn


def _random_factory(T, kind):
    """kernel(out, so, shape, nd, n, k1, k2, offset, a, b, c): out (any
    strides so) at C-order position i from counters offset + PER * i + j.
    a, b, c: uniform low, span, high; normal mean, std, (unused);
    randint low, R, (unused); bernoulli threshold, (unused), (unused)."""
    PER = COUNTERS[kind]
    F32 = T == float32
    SHIFT = _U(40 if F32 else 11)                 # keep the top 24 or 53 bits
    ZERO_U, ONE_U, TWO_U, PER_U = _U(0), _U(1), _U(2), _U(PER)
    G, MA, MB, K2_MASK = _U(GAMMA), _U(M1), _U(M2), _U(2**22 - 1)
    S22, S27, S30, S31, S32, S40 = (_U(s) for s in (22, 27, 30, 31, 32, 40))
    LO32 = _U(2**32 - 1)
    # float constants (unused, and harmless, in the int64 and bool kernels)
    MUL, ADD = _rounded(T)
    SCALE = T(2.0**-24 if F32 else 2.0**-53)
    ONE, HALF, MINUS2 = T(1), T(0.5), T(-2)
    TWO_PI = T(2 * math.pi)
    # float32 cos(2 pi u2): the quadrant from 2 bits, then cephes' sinf/cosf
    # polynomials on an angle in [0, pi/4] (within 2 ulp of cos over all 2**24 angles)
    ANGLE_STEP = T(math.pi / 2 * 2.0**-22)          # the angle of one unit of m
    S0, S1, S2 = T(-1.6666654611e-1), T(8.3321608736e-3), T(-1.9515295891e-4)
    C0, C1, C2 = T(4.166664568298827e-2), T(-1.388731625493765e-3), T(2.443315711809948e-5)

    def kernel(out, so, shape, nd, n, k1, k2, offset, a, b, c):
        for i in range(cuda.grid(1), n, cuda.gridsize(1)):
            r, oo = i, 0
            for d in range(5, 5 - nd, -1):
                q = r // shape[d]
                oo += (r - q * shape[d]) * so[d]
                r = q
            ctr = offset + uint64(i) * PER_U
            b0, b1 = ZERO_U, ZERO_U
            for j in range(PER):
                x = (ctr + uint64(j)) * G + k1
                x = (x ^ (x >> S30)) * MA
                x = (x ^ (x >> S27)) * MB
                x = x ^ (x >> S31) ^ k2
                x = (x ^ (x >> S30)) * MA
                x = (x ^ (x >> S27)) * MB
                x = x ^ (x >> S31)
                if j == 0:
                    b0 = x
                else:
                    b1 = x
            if kind == "uniform":
                v = ADD(a, MUL(b, T(b0 >> SHIFT) * SCALE))
                out[oo] = a if v >= c else v
            elif kind == "normal":
                u1 = T((b0 >> SHIFT) + ONE_U) * SCALE          # (0, 1]
                rad = math.sqrt(MINUS2 * math.log(u1))
                if F32:
                    k = b1 >> S40                               # 2 pi u2 = (pi / 2) k / 2**22
                    quad, m = k >> S22, k & K2_MASK
                    swap = m > (K2_MASK >> ONE_U)               # angle past pi/4: complement
                    if swap:
                        m = K2_MASK + ONE_U - m
                    t = T(m) * ANGLE_STEP
                    z = t * t
                    sn = ((S2 * z + S1) * z + S0) * z * t + t
                    cs = ((C2 * z + C1) * z + C0) * z * z - HALF * z + ONE
                    if swap:
                        sn, cs = cs, sn
                    if quad == ZERO_U:
                        cz = cs
                    elif quad == ONE_U:
                        cz = -sn
                    elif quad == TWO_U:
                        cz = -cs
                    else:
                        cz = sn
                else:
                    cz = math.cos(TWO_PI * (T(b1 >> SHIFT) * SCALE))
                out[oo] = ADD(a, MUL(b, rad * cz))
            elif kind == "randint":
                # high word of b0 * b from 32-bit halves: no partial sum overflows
                x0, x1, r0, r1 = b0 & LO32, b0 >> S32, b & LO32, b >> S32
                mid = ((x0 * r0) >> S32) + ((x0 * r1) & LO32) + ((x1 * r0) & LO32)
                hi = x1 * r1 + ((x0 * r1) >> S32) + ((x1 * r0) >> S32) + (mid >> S32)
                out[oo] = a + int64(hi)
            else:  # bernoulli: keep when the float32 uniform is >= p
                out[oo] = (b0 >> S40) >= a
    return _quiet(kernel)


# -- the NumPy references ------------------------------------------------------

def bits_reference(n, seed, offset):
    """The generator's 64-bit words for counters offset .. offset + n - 1."""
    k1, k2 = keys(seed)
    with np.errstate(over="ignore"):
        x = (np.arange(n, dtype=np.uint64) + _U(offset)) * _U(GAMMA) + _U(k1)
        for key in (None, k2):
            if key is not None:
                x ^= _U(key)
            x = (x ^ (x >> _U(30))) * _U(M1)
            x = (x ^ (x >> _U(27))) * _U(M2)
            x ^= x >> _U(31)
    return x


def _shape(n):
    return (int(n),) if np.ndim(n) == 0 else tuple(int(s) for s in n)


def uniform_reference(n, seed, offset, low=0.0, high=1.0, dtype=np.float32):
    """n: a size or a shape."""
    dt = np.dtype(dtype)
    lo, span, hi = _uniform_args("uniform_reference", dt, low, high)
    bits = bits_reference(size_of(_shape(n)), seed, offset)
    u = (bits >> _U(40 if dt == np.float32 else 11)).astype(dt) * dt.type(
        2.0**-24 if dt == np.float32 else 2.0**-53)
    v = lo + span * u
    return np.where(v >= hi, lo, v).reshape(_shape(n))


def normal_reference(n, seed, offset, mean=0.0, std=1.0, dtype=np.float32):
    dt = np.dtype(dtype)
    mean, std = _normal_args("normal_reference", dt, mean, std)  # rounded as the device's
    size = size_of(_shape(n))
    bits = bits_reference(2 * size, seed, offset)
    shift, scale = (40, 2.0**-24) if dt == np.float32 else (11, 2.0**-53)
    k = (bits >> _U(shift)).astype(np.float64)
    u1, u2 = (k[0::2] + 1) * scale, k[1::2] * scale
    z = np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2)
    return (float(mean) + float(std) * z).astype(dt).reshape(_shape(n))


def _mulhi(a, b):
    """floor(a * b / 2**64) of uint64 arrays, as the kernel computes it."""
    lo = _U(2**32 - 1)
    a0, a1, b0, b1 = a & lo, a >> _U(32), b & lo, b >> _U(32)
    mid = ((a0 * b0) >> _U(32)) + ((a0 * b1) & lo) + ((a1 * b0) & lo)
    return a1 * b1 + ((a0 * b1) >> _U(32)) + ((a1 * b0) >> _U(32)) + (mid >> _U(32))


def randint_reference(n, seed, offset, low, high):
    low, R = _randint_args("randint_reference", low, high)
    hi = _mulhi(bits_reference(size_of(_shape(n)), seed, offset), _U(R))
    return (np.int64(low) + hi.astype(np.int64)).reshape(_shape(n))


def bernoulli_reference(n, seed, offset, p):
    t = _bernoulli_threshold("bernoulli_reference", p)
    bits = bits_reference(size_of(_shape(n)), seed, offset)
    return ((bits >> _U(40)) >= _U(t)).reshape(_shape(n))


# -- argument checks ---------------------------------------------------------

def _int(name, v, what):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name}: {what} must be an int, got {type(v).__name__}")
    return int(v)


def _real(name, v, what):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: {what} must be a real number, got {type(v).__name__}")
    if not math.isfinite(v):
        raise ValueError(f"{name}: {what} must be finite, got {v}")
    return v


def _uniform_args(name, dt, low, high):
    """(low, span, high) in dtype dt: the kernel's a, b, c."""
    if dt not in FLOATS:
        raise TypeError(f"{name}: dtype must be float32 or float64, got {dt}")
    lo, hi = dt.type(_real(name, low, "low")), dt.type(_real(name, high, "high"))
    if not lo < hi:
        raise ValueError(f"{name}: need low < high, got low={low}, high={high}"
                         + (f" (equal in {dt})" if low < high else ""))
    with np.errstate(over="ignore"):
        span = hi - lo
    if not np.isfinite(span):
        raise ValueError(f"{name}: high - low = {float(high) - float(low)} overflows {dt}")
    return lo, span, hi


def _normal_args(name, dt, mean, std):
    if dt not in FLOATS:
        raise TypeError(f"{name}: dtype must be float32 or float64, got {dt}")
    mean, std = _real(name, mean, "mean"), _real(name, std, "std")
    if std < 0:
        raise ValueError(f"{name}: std must be >= 0, got {std}")
    return dt.type(mean), dt.type(std)


def _randint_args(name, low, high):
    """(low, R) with R = high - low in [1, 2**63]."""
    low, high = _int(name, low, "low"), _int(name, high, "high")
    if not -2**63 <= low < high <= 2**63 - 1:
        raise ValueError(f"{name}: need -2**63 <= low < high <= 2**63 - 1, got low={low}, "
                         f"high={high}")
    if high - low > _MAX_RANGE:
        raise ValueError(f"{name}: high - low = {high - low} exceeds 2**63")
    return low, high - low


def _bernoulli_threshold(name, p):
    """ceil(float32(p) * 2**24): keep when the top 24 bits reach it."""
    p = _real(name, p, "p")
    if not 0 <= p <= 1:
        raise ValueError(f"{name}: p must be in [0, 1], got {p}")
    return math.ceil(float(np.float32(p)) * 2**24)


# -- wrappers ----------------------------------------------------------------

def _draw(name, kind, out, allowed, seed, offset, a, b, c, launch):
    """Check out, seed and offset, then fill out from counters offset.."""
    dt = dtype_of(name, out, "out", allowed)
    seed, offset = _int(name, seed, "seed"), _int(name, offset, "offset")
    shape, strides = shape_of(out), elem_strides(name, out, "out")
    n = size_of(shape)
    if n:  # (an empty array may report zero strides: nothing to overlap)
        check_no_overlap(name, out)
    if not 0 <= offset <= MASK64 + 1 - consumed(n, kind):
        raise ValueError(f"{name}: offset must be in [0, 2**64 - {consumed(n, kind)}] so that "
                         f"the counters of {n} numbers do not wrap, got {offset}")
    if n:
        k1, k2 = keys(seed)
        cshape, (cs,), nd = coalesce(shape, strides)
        blocks, threads = grid(n, launch)
        specialised(_random_factory, NB_TYPES[dt], kind)[blocks, threads](
            operand(out, strides, shape), cs, cshape, nd, n, _U(k1), _U(k2), _U(offset), a, b, c)
    return out


def uniform_(out, seed, offset, low=0.0, high=1.0, launch=None):
    """out filled in place with uniform numbers in [low, high); returns out.
    Advances the offset by consumed(out.size, "uniform") = out.size."""
    name = "uniform_"
    dt = dtype_of(name, out, "out", FLOATS)
    lo, span, hi = _uniform_args(name, dt, low, high)
    return _draw(name, "uniform", out, FLOATS, seed, offset, lo, span, hi, launch)


def normal_(out, seed, offset, mean=0.0, std=1.0, launch=None):
    """out filled in place with N(mean, std**2) numbers; returns out.
    Advances the offset by consumed(out.size, "normal") = 2 * out.size."""
    name = "normal_"
    dt = dtype_of(name, out, "out", FLOATS)
    mean, std = _normal_args(name, dt, mean, std)
    return _draw(name, "normal", out, FLOATS, seed, offset, mean, std, dt.type(0), launch)


def randint_(out, seed, offset, low, high, launch=None):
    """out (int64) filled in place with integers in [low, high); returns out.
    Advances the offset by out.size."""
    name = "randint_"
    dtype_of(name, out, "out", INT64)
    low, R = _randint_args(name, low, high)
    return _draw(name, "randint", out, INT64, seed, offset, np.int64(low), _U(R), np.int64(0),
                 launch)


def bernoulli_mask(out, seed, offset, p, launch=None):
    """out (bool) filled in place: True (keep) with probability 1 - p, the
    dropout mask; equal to uniform_ (float32) >= float32(p) at the same
    (seed, offset). Returns out; advances the offset by out.size."""
    name = "bernoulli_mask"
    dtype_of(name, out, "out", BOOL)
    t = _bernoulli_threshold(name, p)
    return _draw(name, "bernoulli", out, BOOL, seed, offset, _U(t), _U(0), _U(0), launch)


# -- sm_90 PTX (tests/test_kernels_ptx.py compiles build(float32)) --------------

def _signature(out, a, b, c):
    return (out, DIMS, DIMS, int64, int64, uint64, uint64, uint64, a, b, c)


_F = _signature(float32[::1], float32, float32, float32)
PTX = [ptx_entry(_random_factory, "uniform", signature=_F),
       ptx_entry(_random_factory, "normal", signature=_F),
       # randint and bernoulli never use T: build(float32) is their int64 / bool kernel
       ptx_entry(_random_factory, "randint",
                 signature=_signature(int64[::1], int64, uint64, int64)),
       ptx_entry(_random_factory, "bernoulli",
                 signature=_signature(NB_TYPES[BOOL[0]][::1], uint64, uint64, uint64))]


def variants():
    """(label, python kernel, signature) of the float64 kernels, for
    tests/test_cuda_random.py (float64 normal calls libdevice's log and cos)."""
    f = float64[::1]
    return [(f"{kind} float64", _random_factory(float64, kind),
             _signature(f, float64, float64, float64)) for kind in ("uniform", "normal")]
