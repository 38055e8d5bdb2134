"""The CUDA random numbers (kernels/cuda/random.py) against their NumPy
references: uniform and randint bit for bit, normal to float rounding,
launched as several blocks of a few threads; offsets, seeds, strided
outputs, transfers and errors; the references themselves against the
formula written out with Python ints, and statistically.

Runs under NUMBA_ENABLE_CUDASIM=1 (make test's simulator process) or on a
GPU; elsewhere only the reference tests and the sm_90 PTX check of the
float64 kernels run (tests/test_kernels_ptx.py checks the float32 ones).
RuntimeWarnings are errors: the simulator's uint64 arithmetic must wrap
silently."""
import math

import numpy as np
import pytest

from kernels.cuda import layout as L
from kernels.cuda import random as R
from kernels.cuda import transfers
from kernels.cuda.transfers import to_device, to_host
from kernels.harness import simulator
from device_marks import nvvm_available, on_device

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


LAUNCH = (3, 4)   # 3 blocks of 4 threads: every loop strides past its block
F32, F64, I64, BOOL = (np.dtype(t) for t in (np.float32, np.float64, np.int64, np.bool_))
SHAPE = (2, 3, 5)


def _empty(shape, dt):
    from numba import cuda
    return cuda.device_array(shape, dt)


def _normal_tol(dt, mean, std):
    """Device against the float64 reference: float32 math on the device."""
    if dt == F32:
        return dict(rtol=1e-6, atol=1e-6 * (abs(mean) + std))
    return dict(rtol=1e-12, atol=1e-12 * (abs(mean) + std))


# -- the references --------------------------------------------------------------

def _mix(x):
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) % 2**64
    return x ^ (x >> 31)


def _bits_by_hand(seed, counter):
    """The module docstring's formula, with Python ints."""
    g = 0x9E3779B97F4A7C15
    s = seed % 2**64
    k1, k2 = _mix((s + g) % 2**64), _mix((s + 2 * g) % 2**64)
    return _mix(_mix((counter * g + k1) % 2**64) ^ k2)


@pytest.mark.parametrize("seed, offset", [(0, 0), (12345, 7), (-1, 2**64 - 3), (2**70 + 5, 99)])
def test_bits_reference_follows_the_formula(seed, offset):
    got = R.bits_reference(3, seed, offset)
    assert [int(v) for v in got] == [_bits_by_hand(seed, offset + j) for j in range(3)]


def test_value_references_follow_from_the_bits():
    bits = [_bits_by_hand(3, 10 + j) for j in range(8)]
    u32 = [np.float32(b >> 40) * np.float32(2.0**-24) for b in bits]
    np.testing.assert_array_equal(R.uniform_reference(8, 3, 10), np.array(u32, np.float32))
    u64 = [(b >> 11) * 2.0**-53 for b in bits]
    np.testing.assert_array_equal(R.uniform_reference(8, 3, 10, dtype=F64), np.array(u64))
    for low, high in [(-3, 10), (0, 2**40 + 3), (-2**63, 0)]:   # (b * R) >> 64, exactly
        want = [low + ((b * (high - low)) >> 64) for b in bits]
        assert R.randint_reference(8, 3, 10, low, high).tolist() == want
    z = [math.sqrt(-2 * math.log(((bits[2 * i] >> 11) + 1) * 2.0**-53))
         * math.cos(2 * math.pi * (bits[2 * i + 1] >> 11) * 2.0**-53) for i in range(4)]
    np.testing.assert_allclose(R.normal_reference(4, 3, 10, 1.0, 2.0, F64), 1 + 2 * np.array(z),
                               rtol=1e-15)
    keep = [(b >> 40) >= math.ceil(float(np.float32(0.3)) * 2**24) for b in bits]
    assert R.bernoulli_reference(8, 3, 10, 0.3).tolist() == keep


def test_consumed_counts_counters_per_kind():
    assert [R.consumed(5, k) for k in ("uniform", "normal", "randint", "bernoulli")] == [5, 10, 5, 5]
    with pytest.raises(ValueError, match="unknown kind"):
        R.consumed(5, "gamma")


def test_reference_statistics_within_5_sigma():
    n = 100_000
    for dt in (F32, F64):
        u = R.uniform_reference(n, 11, 0, dtype=dt).astype(np.float64)
        assert u.min() >= 0 and u.max() < 1
        assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / n)
        assert abs(u.var() - 1 / 12) < 5 * math.sqrt((1 / 80 - 1 / 144) / n)
        assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 5 / math.sqrt(n)  # neighbours independent
        z = R.normal_reference(n, 12, 0, dtype=dt).astype(np.float64)
        assert abs(z.mean()) < 5 / math.sqrt(n)
        assert abs(z.var() - 1) < 5 * math.sqrt(2 / n)
        assert abs(np.mean(z**4) - 3) < 5 * math.sqrt(96 / n)      # Gaussian kurtosis
        assert abs(np.mean(np.abs(z) < 1) - 0.682689) < 5 * math.sqrt(0.22 / n)
    bits = R.bits_reference(n, 13, 0)
    ones = ((bits[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)).mean(0)
    assert np.all(np.abs(ones - 0.5) < 5 * math.sqrt(0.25 / n)), ones  # every bit balanced
    k = R.randint_reference(n, 14, 0, -3, 4)
    assert set(np.unique(k).tolist()) == set(range(-3, 4))
    counts = np.bincount(k + 3)
    assert np.all(np.abs(counts - n / 7) < 5 * math.sqrt(n * (1 / 7) * (6 / 7)))
    big = R.randint_reference(n, 15, 0, -2**62, 2**62)
    assert big.min() >= -2**62 and big.max() < 2**62 and (big < 0).mean() == pytest.approx(0.5, abs=0.01)
    mask = R.bernoulli_reference(n, 16, 0, 0.25)
    assert abs(mask.mean() - 0.75) < 5 * math.sqrt(0.75 * 0.25 / n)


def test_seeds_and_offsets_give_different_streams():
    a = R.bits_reference(64, 1, 0)
    assert len(set(a.tolist())) == 64
    assert np.array_equal(R.bits_reference(64, 1, 0), a)
    assert np.array_equal(R.bits_reference(64, 1 + 2**64, 0), a)     # seed mod 2**64
    for other in (R.bits_reference(64, 2, 0), R.bits_reference(64, 1, 64)):
        assert not np.isin(other, a).any()


# -- the device against the references ---------------------------------------------

@on_device
@pytest.mark.parametrize("dt", [F32, F64])
@pytest.mark.parametrize("low, high", [(0.0, 1.0), (-2.0, 2.0), (-0.3, 1.7)])
def test_uniform_is_bit_equal_to_the_reference(dt, low, high):
    out = R.uniform_(_empty(SHAPE, dt), 7, 5, low, high, launch=LAUNCH)
    got, want = to_host(out), R.uniform_reference(SHAPE, 7, 5, low, high, dt)
    assert got.dtype == dt and got.shape == SHAPE
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))
    assert got.min() >= dt.type(low) and got.max() < dt.type(high)


@on_device
def test_uniform_maps_a_value_that_rounds_to_high_to_low():
    low, high = np.float32(1), np.float32(1) + 4 * np.spacing(np.float32(1))  # 4 ulps wide
    n = 40
    u = (R.bits_reference(n, 3, 0) >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24)
    raw = low + (high - low) * u
    assert (raw >= high).any()  # without the rule some values would equal high
    got = to_host(R.uniform_(_empty(n, F32), 3, 0, low, high, launch=LAUNCH))
    np.testing.assert_array_equal(got, R.uniform_reference(n, 3, 0, low, high))
    assert got.max() < high and np.array_equal(got[raw >= high], np.full((raw >= high).sum(), low))


@on_device
@pytest.mark.parametrize("dt", [F32, F64])
@pytest.mark.parametrize("mean, std", [(0.0, 1.0), (1.5, 0.25)])
def test_normal_matches_the_reference_to_rounding(dt, mean, std):
    out = R.normal_(_empty(SHAPE, dt), 9, 4, mean, std, launch=LAUNCH)
    got, want = to_host(out), R.normal_reference(SHAPE, 9, 4, mean, std, dt)
    assert got.dtype == dt
    np.testing.assert_allclose(got, want, **_normal_tol(dt, mean, std))


@on_device
def test_normal_covers_every_quadrant_of_the_angle():
    # float32 evaluates cos(2 pi u2) per quadrant: enough values to visit all four
    n = 48
    got = to_host(R.normal_(_empty(n, F32), 21, 0, launch=LAUNCH))
    k2 = R.bits_reference(2 * n, 21, 0)[1::2] >> np.uint64(62)
    assert set(k2.tolist()) == {0, 1, 2, 3}
    np.testing.assert_allclose(got, R.normal_reference(n, 21, 0), **_normal_tol(F32, 0, 1))


@on_device
@pytest.mark.parametrize("low, high", [(-3, 10), (0, 2), (5, 6), (-2**63, 0), (-7, 2**62)])
def test_randint_is_bit_equal_to_the_reference(low, high):
    got = to_host(R.randint_(_empty(SHAPE, I64), 4, 1, low, high, launch=LAUNCH))
    np.testing.assert_array_equal(got, R.randint_reference(SHAPE, 4, 1, low, high))
    assert got.min() >= low and got.max() < high


@on_device
@pytest.mark.parametrize("p", [0.0, 0.3, 0.9, 1.0])
def test_bernoulli_mask_is_uniform_at_least_p(p):
    got = to_host(R.bernoulli_mask(_empty(SHAPE, BOOL), 8, 2, p, launch=LAUNCH))
    np.testing.assert_array_equal(got, R.bernoulli_reference(SHAPE, 8, 2, p))
    np.testing.assert_array_equal(got, R.uniform_reference(SHAPE, 8, 2) >= np.float32(p))
    assert got.all() if p == 0 else (not got.any() if p == 1 else True)


def _draw(kind, n, seed, offset, launch=LAUNCH):
    """A device draw of n numbers of `kind`, as a host array."""
    calls = {"uniform": lambda o: R.uniform_(o, seed, offset, launch=launch),
             "normal": lambda o: R.normal_(o, seed, offset, launch=launch),
             "randint": lambda o: R.randint_(o, seed, offset, -5, 100, launch=launch),
             "bernoulli": lambda o: R.bernoulli_mask(o, seed, offset, 0.5, launch=launch)}
    dt = {"uniform": F32, "normal": F32, "randint": I64, "bernoulli": BOOL}[kind]
    return to_host(calls[kind](_empty(n, dt)))


@on_device
@pytest.mark.parametrize("kind", ["uniform", "normal", "randint", "bernoulli"])
def test_two_draws_of_n_are_one_draw_of_2n(kind):
    n, o = 9, 31
    whole = _draw(kind, 2 * n, 6, o)
    parts = np.concatenate([_draw(kind, n, 6, o), _draw(kind, n, 6, o + R.consumed(n, kind))])
    np.testing.assert_array_equal(parts, whole)
    assert not np.array_equal(_draw(kind, 2 * n, 7, o), whole)  # another seed
    np.testing.assert_array_equal(_draw(kind, 2 * n, 6, o, launch=None), whole)  # default launch


@on_device
def test_strided_out_takes_its_c_order_positions():
    base = np.full((4, 7), -1.0, np.float32)
    dbase = to_device(base)
    view = L.permute(dbase[:, 1:6:2], (1, 0))  # (3, 4), strides (2, 7)
    R.uniform_(view, 5, 3, launch=LAUNCH)
    got = to_host(dbase)
    np.testing.assert_array_equal(got[:, 1:6:2].T, R.uniform_reference((3, 4), 5, 3))
    untouched = np.ones(got.shape, bool)
    untouched[:, 1:6:2] = False
    assert (got[untouched] == -1).all()
    z = R.normal_(_empty((), F64), 5, 3)  # 0-d
    np.testing.assert_allclose(to_host(z), R.normal_reference((), 5, 3, dtype=F64), rtol=1e-12)
    empty = R.randint_(_empty((0, 3), I64), 5, 3, 0, 4)  # size 0: nothing to launch
    assert to_host(empty).shape == (0, 3)


@on_device
def test_draws_copy_nothing_between_host_and_device():
    outs = [_empty(6, F32), _empty(6, F64), _empty(6, I64), _empty(6, BOOL)]
    with transfers.counting() as copies:
        R.uniform_(outs[0], 1, 0, -1, 1, launch=LAUNCH)
        R.normal_(outs[1], 1, 6, 0, 2, launch=LAUNCH)
        R.randint_(outs[2], 1, 18, 0, 50, launch=LAUNCH)
        R.bernoulli_mask(outs[3], 1, 24, 0.1, launch=LAUNCH)
    assert (copies.h2d, copies.d2h) == (0, 0)


@on_device
def test_bad_arguments_raise_clear_errors():
    f32, i64 = _empty(4, F32), _empty(4, I64)
    cases = [
        (lambda: R.uniform_(np.zeros(4, np.float32), 0, 0), TypeError, "device array"),
        (lambda: R.uniform_(i64, 0, 0), TypeError, "out must be float32 or float64, got int64"),
        (lambda: R.normal_(i64, 0, 0), TypeError, "out must be float32 or float64"),
        (lambda: R.randint_(f32, 0, 0, 0, 3), TypeError, "out must be int64"),
        (lambda: R.bernoulli_mask(f32, 0, 0, 0.5), TypeError, "out must be bool"),
        (lambda: R.uniform_(f32, 0, 0, 1.0, 1.0), ValueError, "need low < high"),
        (lambda: R.uniform_(f32, 0, 0, 2.0, 1.0), ValueError, "need low < high"),
        (lambda: R.uniform_(f32, 0, 0, 1.0, 1.0 + 1e-12), ValueError, "equal in float32"),
        (lambda: R.uniform_(f32, 0, 0, -3e38, 3e38), ValueError, "overflows float32"),
        (lambda: R.uniform_(f32, 0, 0, float("nan"), 1.0), ValueError, "low must be finite"),
        (lambda: R.normal_(f32, 0, 0, 0.0, -1.0), ValueError, "std must be >= 0"),
        (lambda: R.randint_(i64, 0, 0, 3, 3), ValueError, "low < high"),
        (lambda: R.randint_(i64, 0, 0, 0.5, 3), TypeError, "low must be an int"),
        (lambda: R.randint_(i64, 0, 0, -2**63, 2**63 - 1), ValueError, "exceeds 2\\*\\*63"),
        (lambda: R.bernoulli_mask(_empty(4, BOOL), 0, 0, 1.5), ValueError, r"p must be in \[0, 1\]"),
        (lambda: R.uniform_(f32, 1.5, 0), TypeError, "seed must be an int"),
        (lambda: R.uniform_(f32, True, 0), TypeError, "seed must be an int"),
        (lambda: R.uniform_(f32, 0, -1), ValueError, "offset must be in"),
        (lambda: R.normal_(f32, 0, 2**64 - 7), ValueError, "do not wrap"),  # needs 8 counters
        (lambda: R.uniform_(L.expand(_empty(1, F32), (4,)), 0, 0), ValueError, "twice"),
    ]
    for call, error, pattern in cases:
        with pytest.raises(error, match=pattern):
            call()
    R.normal_(f32, 0, 2**64 - 8, launch=LAUNCH)  # the last counter that fits


# -- sm_90 PTX of the float64 kernels (test_kernels_ptx.py compiles float32) -------------


VARIANTS = [] if simulator() else R.variants()


@pytest.mark.skipif(simulator() or not nvvm_available(),
                    reason="needs numba-cuda[cu12] (NVVM) outside the simulator")
@pytest.mark.parametrize("label, fn, signature", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_float64_variant_compiles_for_sm90(label, fn, signature):
    from numba import cuda
    ptx, _ = cuda.compile_ptx(fn, signature, cc=(9, 0))
    assert ".entry" in ptx and "mul.rn.f64" in ptx and "add.rn.f64" in ptx  # no fused FMA
