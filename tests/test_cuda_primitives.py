"""The CUDA array primitives (kernels/cuda/elementwise.py, reduce.py,
movement.py, layout.py, transfers.py) against their NumPy references, on
strided, broadcast, size-0 and size-1 operands, launched as several blocks
of a few threads so that every grid-stride loop wraps.

They run under NUMBA_ENABLE_CUDASIM=1 (make test runs this file in its
simulator process, beside test_kernels.py) or on a GPU; elsewhere only the
sm_90 PTX check of the non-float32 kernel variants runs
(tests/test_kernels_ptx.py checks every float32 kernel)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.cuda import elementwise as E
from kernels.cuda import layout as L
from kernels.cuda import movement as M
from kernels.cuda import reduce as R
from kernels.cuda import transfers
from kernels.cuda.transfers import to_device, to_host
from kernels.harness import simulator
from device_marks import F64_INSTRUCTION, nvvm_available, on_device


LAUNCH = (3, 4)   # 3 blocks of 4 threads: every loop strides past its block
F32, F64, I64, BOOL = (np.dtype(t) for t in (np.float32, np.float64, np.int64, np.bool_))


# -- operands: the same values as a NumPy view and a device view ------------------

def _values(rng, shape, dt, positive=False):
    if dt == BOOL:
        return rng.random(shape) < 0.5
    if dt == I64:
        return rng.integers(1 if positive else -3, 4, shape)
    return (rng.uniform(0.2, 2.0, shape) if positive else rng.standard_normal(shape)).astype(dt)


def _pair(rng, shape, dt, kind="c", positive=False):
    """(host view, device view) of one array of `shape`: "c" contiguous,
    "t" a transpose of a contiguous array, "s" every other column of a
    wider one, "e" broadcast along its first dim from a (1, ...) array."""
    shape = tuple(shape)
    if kind == "t" and len(shape) > 1:
        rev = tuple(range(len(shape)))[::-1]
        base = _values(rng, shape[::-1], dt, positive)
        return base.transpose(rev), L.permute(to_device(base), rev)
    if kind == "s" and shape:
        base = _values(rng, shape[:-1] + (2 * shape[-1] + 1,), dt, positive)
        cut = (slice(None),) * (len(shape) - 1) + (slice(1, None, 2),)
        return base[cut], to_device(base)[cut]
    if kind == "e" and shape:
        base = _values(rng, (1,) + shape[1:], dt, positive)
        return np.broadcast_to(base, shape), L.expand(to_device(base), shape)
    host = _values(rng, shape, dt, positive)
    return host, to_device(host)


def _check(got, want):
    got = to_host(got)
    want = np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
    if want.dtype.kind == "f":
        tol = 1e-5 if want.dtype == F32 else 1e-12
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    else:
        np.testing.assert_array_equal(got, want)


LAYOUTS = [((2, 3, 4), "c"), ((2, 3, 4), "t"), ((2, 3, 3), "s"), ((3, 2, 2), "e"),
           ((2, 0, 3), "t"), ((1, 3, 1), "s"), ((), "c")]
POSITIVE = {"log", "sqrt", "rsqrt", "div", "pow"}  # the simulator's math raises on a domain error


@pytest.mark.parametrize("shape, strides, want", [
    ((2, 3, 4), [(12, 4, 1), (12, 4, 1)], ((24,), [(1,), (1,)])),      # contiguous: one run
    ((2, 3), [(3, 1), (1, 2)], ((2, 3), [(3, 1), (1, 2)])),            # a transpose: no merge
    ((2, 3, 4), [(12, 4, 1), (0, 4, 1)], ((2, 12), [(12, 1), (0, 1)])),  # broadcast leading dim
    ((1, 3, 1), [(3, 1, 1), (0, 2, 0)], ((3,), [(1,), (2,)])),         # size-1 dims dropped
    ((), [(), ()], ((), [(), ()])),
])
def test_coalesce_merges_runs_and_pads(shape, strides, want):
    cshape, cstrides, nd = L.coalesce(shape, *strides)
    pad = L.MAX_DIMS - len(want[0])
    assert nd == len(want[0]) and cshape == (1,) * pad + want[0]
    assert cstrides == [(0,) * pad + s for s in want[1]]


# -- elementwise --------------------------------------------------------------------

UNARY_CASES = [(op, dt) for op, dts in E.UNARY.items() for dt in dts]


@on_device
@pytest.mark.parametrize("op, dt", UNARY_CASES, ids=[f"{o}-{d}" for o, d in UNARY_CASES])
def test_unary_matches_numpy_on_every_layout(op, dt):
    rng = np.random.default_rng(1)
    for shape, kind in LAYOUTS:
        x, dx = _pair(rng, shape, dt, kind, positive=op in POSITIVE)
        _check(E.unary(op, dx, launch=LAUNCH), E.unary_reference(op, x))


BROADCASTS = [((2, 3, 4), "t", (3, 1), "c"), ((1,), "c", (2, 2), "s"),
              ((2, 1, 3), "s", (1, 4, 1), "t"), ((), "c", (2, 3), "t"),
              ((0, 3), "c", (1, 3), "s"), ((3, 2), "e", (3, 2), "t")]
BINARY_CASES = [(op, dt) for op, dts in E.BINARY.items() for dt in dts]


@on_device
@pytest.mark.parametrize("op, dt", BINARY_CASES, ids=[f"{o}-{d}" for o, d in BINARY_CASES])
def test_binary_broadcasts_like_numpy(op, dt):
    rng = np.random.default_rng(2)
    positive = op in POSITIVE
    for sa, ka, sb, kb in BROADCASTS:
        a, da = _pair(rng, sa, dt, ka, positive)
        b, db = _pair(rng, sb, dt, kb, positive)
        _check(E.binary(op, da, db, launch=LAUNCH), E.binary_reference(op, a, b))
    a, da = _pair(rng, (2, 3), dt, "t", positive)
    s = dt.type(1) if dt == BOOL else dt.type(2)  # a scalar operand on either side
    _check(E.binary(op, da, s, launch=LAUNCH), E.binary_reference(op, a, s))
    _check(E.binary(op, s, da, launch=LAUNCH), E.binary_reference(op, np.full_like(a, s), a))


@on_device
@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_binary_random_broadcast_shapes(data):
    rank = data.draw(st.integers(0, 3))
    out = data.draw(st.lists(st.integers(0, 3), min_size=rank, max_size=rank))
    sa = [data.draw(st.sampled_from([n, 1])) for n in out]
    sb = [data.draw(st.sampled_from([n, 1])) for n in out][data.draw(st.integers(0, rank)):]
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    a, da = _pair(rng, sa, F32, data.draw(st.sampled_from("cts")))
    b, db = _pair(rng, sb, F32, data.draw(st.sampled_from("cts")))
    _check(E.binary("maximum", da, db, launch=LAUNCH), np.maximum(a, b))


@on_device
def test_nan_propagates_through_maximum_relu_and_compares_false():
    x = np.array([np.nan, 1.0, -2.0, np.nan], np.float32)
    y = np.array([0.0, np.nan, -3.0, np.nan], np.float32)
    dx, dy = to_device(x), to_device(y)
    _check(E.binary("maximum", dx, dy, launch=LAUNCH), np.maximum(x, y))
    _check(E.binary("minimum", dx, dy, launch=LAUNCH), np.minimum(x, y))
    _check(E.unary("relu", dx, launch=LAUNCH), np.maximum(x, 0))
    _check(E.binary("ne", dx, dy, launch=LAUNCH), x != y)


@on_device
@pytest.mark.parametrize("dt", [F32, F64, I64, BOOL])
def test_where_and_cast(dt):
    rng = np.random.default_rng(3)
    c, dc = _pair(rng, (2, 1, 3), BOOL, "s")
    a, da = _pair(rng, (4, 1), dt, "t")
    b, db = _pair(rng, (2, 4, 3), dt, "e")
    _check(E.where(dc, da, db, launch=LAUNCH), E.where_reference(c, a, b))
    _check(E.where(dc, da, dt.type(0), launch=LAUNCH), np.where(c, a, dt.type(0)))  # masked_fill
    x = np.array([[-2.7, -0.5, 0.0], [0.5, 1.0, 3.9]])[:, ::-1].T.copy()  # fractions, 0, sign
    for to in (F32, F64, I64, BOOL):
        host = x.astype(dt)
        view, dview = host.T, L.permute(to_device(host), (1, 0))
        _check(E.cast(dview, to, launch=LAUNCH), E.cast_reference(view, to))


@on_device
def test_out_writes_into_a_view_and_may_alias_an_input():
    rng = np.random.default_rng(4)
    base = _values(rng, (3, 4), F32)
    dbase = to_device(base)
    view, dview = base[:, 1:3], dbase[:, 1:3]
    E.binary("mul", dview, np.float32(3), out=dview, launch=LAUNCH)  # x.mul_(3) on a slice
    want = base.copy()
    want[:, 1:3] = view * np.float32(3)
    _check(dbase, want)
    t = L.permute(to_device(base), (1, 0))
    E.unary("neg", to_device(base.T.copy()), out=t, launch=LAUNCH)  # into a transposed view
    _check(L.permute(t, (1, 0)), -base)


# -- reductions ---------------------------------------------------------------------

# float64 types as float32 does (and the simulator does no typing): two ops suffice
REDUCE_CASES = [(op, dt) for op, dts in R.OPS.items() for dt in dts
                if dt != F64 or op in ("sum", "var")]


@on_device
@pytest.mark.parametrize("op, dt", REDUCE_CASES, ids=[f"{o}-{d}" for o, d in REDUCE_CASES])
def test_reductions_match_numpy(op, dt):
    rng = np.random.default_rng(5)
    x, dx = _pair(rng, (2, 3, 2), dt, "t")
    axes = [None, 1, -1] if op.startswith("arg") else [None, 1, (0, 2)]
    for axis in axes:
        _check(R.reduce(op, dx, axis=axis, launch=LAUNCH), R.reduce_reference(op, x, axis))
    s, ds = _pair(rng, (3, 1, 5), dt, "s")
    _check(R.reduce(op, ds, axis=-1, keepdims=True, launch=LAUNCH),
           R.reduce_reference(op, s, -1, keepdims=True))


@on_device
def test_argmax_takes_the_first_extreme_and_nan_wins():
    x = np.array([[1, 5, 5, 2, 5, 0, 5, 1, 3], [2, 1, 1, 1, 7, 7, 1, 7, 0]], np.float32)
    x[0, 7] = np.nan
    dx = to_device(x)
    for op in ("argmax", "argmin", "max", "min"):
        _check(R.reduce(op, dx, axis=1, launch=LAUNCH), R.reduce_reference(op, x, 1))
        _check(R.reduce(op, dx, axis=1, launch=(1, 2)), R.reduce_reference(op, x, 1))


@on_device
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's and the simulator's x / 0
def test_var_correction_and_logsumexp_edges():
    rng = np.random.default_rng(6)
    x, dx = _pair(rng, (3, 4), F64, "t")
    for c in (0, 1, 2, 4, 9):  # 4 and 9: denominators 0 and "negative" give inf
        _check(R.reduce("var", dx, axis=1, correction=c, launch=LAUNCH),
               R.reduce_reference("var", x, 1, correction=c))
    inf = np.inf
    y = np.array([[-inf, -inf, -inf], [1.0, -inf, 2.0], [inf, 0.0, 1.0], [1e30, 1e30, -1e30]])
    _check(R.reduce("logsumexp", to_device(y), axis=1, launch=LAUNCH),
           R.reduce_reference("logsumexp", y, 1))


@on_device
def test_reductions_over_zero_elements():
    dx = to_device(np.zeros((2, 0, 3), np.float32))
    _check(R.reduce("sum", dx, axis=1, launch=LAUNCH), np.zeros((2, 3), np.float32))
    _check(R.reduce("mean", dx, axis=1, launch=LAUNCH), np.full((2, 3), np.nan, np.float32))
    _check(R.reduce("logsumexp", dx, axis=(0, 1), launch=LAUNCH), np.full(3, -np.inf, np.float32))
    _check(R.reduce("max", dx, axis=2, launch=LAUNCH), np.zeros((2, 0), np.float32))
    with pytest.raises(ValueError, match="zero elements"):
        R.reduce("argmax", dx, axis=1)


@on_device
def test_default_launches_cover_everything():
    rng = np.random.default_rng(7)
    x, dx = _pair(rng, (5, 6), F32, "t")
    _check(E.unary("exp", dx), np.exp(x.astype(np.float64)).astype(F32))
    _check(R.reduce("sum", dx, axis=0), R.reduce_reference("sum", x, 0))
    _check(M.take(dx, to_device(np.array([4, 0])), 1), np.take(x, [4, 0], 1))


# -- movement -----------------------------------------------------------------------

@on_device
@pytest.mark.parametrize("shape, kind", LAYOUTS, ids=[f"{s}-{k}" for s, k in LAYOUTS])
def test_contiguous_materialises_views(shape, kind):
    x, dx = _pair(np.random.default_rng(8), shape, F32, kind)
    got = M.contiguous(dx, launch=LAUNCH)
    assert got.is_c_contiguous()
    _check(got, M.contiguous_reference(x))


@on_device
def test_copy_into_broadcasts_into_a_transposed_view():
    rng = np.random.default_rng(9)
    base = _values(rng, (4, 3), F64)
    dbase = to_device(base)
    src, dsrc = _pair(rng, (4,), F64, "s")
    M.copy_into(L.permute(dbase, (1, 0)), dsrc, launch=LAUNCH)  # base.T[...] = src
    want = base.copy()
    want.T[...] = src
    _check(dbase, want)


@on_device
@pytest.mark.parametrize("dt", [F32, I64, BOOL])
def test_take_and_gather(dt):
    rng = np.random.default_rng(10)
    x, dx = _pair(rng, (4, 3, 5), dt, "t")
    for axis, idx in [(0, np.array([[3, 0], [1, 3], [-1, 2]])), (2, np.array([4, -5, 2, 2])),
                      (1, np.zeros((0,), np.int64))]:
        _check(M.take(dx, to_device(idx), axis, launch=LAUNCH), M.take_reference(x, idx, axis))
    base = rng.integers(-3, 3, (4, 2, 3))  # -3..2 along x's axis 1 of size 3
    ix, dix = base.transpose(2, 1, 0), L.permute(to_device(base), (2, 1, 0))
    _check(M.gather(dx, 1, dix, launch=LAUNCH), M.gather_reference(x, 1, ix))


@on_device
@pytest.mark.parametrize("dt", [F32, F64])
def test_scatter_adds_sum_repeated_indices(dt):
    rng = np.random.default_rng(11)
    dst = _values(rng, (5, 3), dt)
    idx = np.array([[1, 4, 1], [1, 0, -1]])
    src, dsrc = _pair(rng, (2, 3, 3), dt, "t")
    _check(M.index_add_(to_device(dst), 0, to_device(idx), dsrc, launch=LAUNCH),
           M.index_add_reference(dst, 0, idx, src))
    sidx = np.array([[4, 0, 2], [4, 4, 1]])
    s2, ds2 = _pair(rng, (2, 3), dt, "s")
    _check(M.scatter_add_(to_device(dst), 0, to_device(sidx), ds2, launch=LAUNCH),
           M.scatter_add_reference(dst, 0, sidx, s2))


@on_device
def test_cat_fill_full_arange():
    rng = np.random.default_rng(12)
    parts = [_pair(rng, (2, n, 3), F32, k) for n, k in [(2, "t"), (0, "c"), (1, "s"), (3, "e")]]
    _check(M.cat([d for _, d in parts], 1, launch=LAUNCH), M.cat_reference([h for h, _ in parts], 1))
    base = np.zeros((3, 4), F32)
    dbase = to_device(base)
    M.fill_(dbase[::2, 1:], 7.5, launch=LAUNCH)
    base[::2, 1:] = 7.5
    _check(dbase, base)
    _check(M.full((2, 0), 1, BOOL), M.full_reference((2, 0), 1, BOOL))
    _check(M.zeros(3, I64, launch=LAUNCH), np.zeros(3, I64))
    for args in [(5,), (2, -7, -3), (0, 1, 0.25), (1.5, -1.0, -0.5), (3, 3)]:
        _check(M.arange(*args, launch=LAUNCH), M.arange_reference(*args))
    _check(M.arange(0, 3, 1, dtype=F64), M.arange_reference(0, 3, 1, dtype=F64))


@on_device
def test_views_share_memory():
    base = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    dbase = to_device(base)
    _check(L.permute(dbase, (2, 0, 1)), base.transpose(2, 0, 1))
    _check(L.expand(dbase[:, :1], (5, 2, 3, 4)), np.broadcast_to(base[:, :1], (5, 2, 3, 4)))
    every_8th = np.array([[base.flat[1 + 8 * i + j] for j in range(2)] for i in range(3)])
    _check(L.strided_view(dbase, (3, 2), (8, 1), offset=1), every_8th)
    M.fill_(L.strided_view(dbase, (3,), (8,), offset=1), -1.0, launch=LAUNCH)  # writes reach dbase
    base.flat[[1, 9, 17]] = -1.0
    _check(dbase, base)
    with pytest.raises(ValueError, match="reach past"):
        L.strided_view(dbase, (3, 2), (8, 1), offset=8)


# -- errors --------------------------------------------------------------------------

@on_device
def test_wrappers_reject_bad_input_with_clear_errors():
    d = to_device(np.ones((2, 3), np.float32))
    cases = [
        (lambda: E.unary("exp", np.ones(3, np.float32)), TypeError, "device array"),
        (lambda: E.unary("erf", d), ValueError, "unknown op 'erf'"),
        (lambda: E.unary("exp", to_device(np.ones(2, np.int64))), TypeError, "float32 or float64"),
        (lambda: E.binary("add", d, to_device(np.ones(3, np.float64))), TypeError, "share one dtype"),
        (lambda: E.binary("add", d, to_device(np.ones((4, 1), np.float32))), ValueError, "broadcast"),
        (lambda: E.binary("div", to_device(np.ones(2, np.int64)), 2), TypeError, "int64"),
        (lambda: E.binary("add", to_device(np.ones(2, np.int64)), 0.5), TypeError, "cast the array"),
        (lambda: E.binary("add", 1.0, 2.0), TypeError, "only scalars"),
        (lambda: E.unary("neg", d, out=to_device(np.ones(3, np.float32))), ValueError, "out has shape"),
        (lambda: E.unary("neg", d, out=L.expand(to_device(np.ones(3, np.float32)), (2, 3))),
         ValueError, "reaches some elements twice"),
        (lambda: E.unary("neg", to_device(np.ones((1,) * 7, np.float32))), ValueError, "at most 6"),
        (lambda: E.unary("neg", to_device(np.ones((2, 3), np.float32))[:, ::-1]), ValueError,
         "negative strides"),
        (lambda: E.where(d, d, d), TypeError, "cond must be bool"),
        (lambda: E.cast(d, np.int32), TypeError, "cannot cast to int32"),
        (lambda: R.reduce("argmax", d, axis=(0, 1)), ValueError, "one int"),
        (lambda: R.reduce("sum", d, axis=2), ValueError, "out of range"),
        (lambda: R.reduce("mean", to_device(np.ones(2, np.int64))), TypeError, "float32 or float64"),
        (lambda: M.take(d, to_device(np.array([0, 2])), 0), IndexError, "index 2 is out of bounds"),
        (lambda: M.take(d, to_device(np.array([0.0])), 0), TypeError, "idx must be int64"),
        (lambda: M.gather(d, 0, to_device(np.zeros((2, 4), np.int64))), ValueError, "no dim longer"),
        (lambda: M.index_add_(to_device(np.zeros((2, 3), np.int64)), 0, to_device(np.zeros(1, np.int64)),
                              to_device(np.zeros((1, 3), np.int64))), TypeError, "dst must be"),
        (lambda: M.cat([d, to_device(np.ones((2, 4), np.float32))], 0), ValueError, "match except"),
        (lambda: M.arange(0, 1, 0), ValueError, "step must be nonzero"),
    ]
    for call, error, pattern in cases:
        with pytest.raises(error, match=pattern):
            call()


# -- the transfer counter -----------------------------------------------------------------

@on_device
def test_transfer_counter_counts_only_explicit_copies():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    with transfers.counting() as setup:
        dx, idx = to_device(x), to_device(np.array([2, 0]))
    assert (setup.h2d, setup.h2d_bytes, setup.d2h) == (2, 48 + 16, 0)
    with transfers.counting() as work:  # a chain of primitives copies nothing
        y = E.binary("mul", L.permute(dx, (1, 0)), 0.5, launch=LAUNCH)
        z = M.take(y, idx, 1, check=False, launch=LAUNCH)
        s = R.reduce("sum", M.cat([z, y], 1, launch=LAUNCH), axis=1, launch=LAUNCH)
    assert (work.h2d, work.d2h) == (0, 0)
    with transfers.counting() as checked:
        M.take(y, idx, 1, launch=LAUNCH)  # check=True reads the 4-int64 error register back
        total = to_host(s)
    assert (checked.h2d, checked.d2h, checked.d2h_bytes) == (0, 2, 32 + 16)
    np.testing.assert_allclose(total, (x.T * 0.5)[:, [2, 0]].sum(1) + (x.T * 0.5).sum(1))
    before = transfers.snapshot()
    to_host(dx)
    assert transfers.snapshot() - before == transfers.Transfers(d2h=1, d2h_bytes=48)
    transfers.reset()
    assert transfers.snapshot() == transfers.Transfers()
    with pytest.raises(TypeError, match="device array"):
        to_host(x)


# -- sm_90 PTX of the variants test_kernels_ptx.py does not compile ----------------------



needs_nvvm = pytest.mark.skipif(simulator() or not nvvm_available(),
                                reason="needs numba-cuda[cu12] (NVVM) outside the simulator")
VARIANTS = [] if simulator() else E.variants() + R.variants() + M.variants()


@needs_nvvm
@pytest.mark.parametrize("label, fn, signature", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_variant_compiles_for_sm90(label, fn, signature):
    from numba import cuda
    ptx, _ = cuda.compile_ptx(fn, signature, cc=(9, 0))
    assert ".entry" in ptx


@needs_nvvm
@pytest.mark.parametrize("op", E.LIBDEVICE_F64)
def test_float32_sin_cos_use_float64_only_in_libdevice_range_reduction(op):
    from numba import cuda, float32
    build, signature = L.ptx_entry(E._unary_factory, op, signature=(float32[::1],) + E._MAP1)
    ptx, _ = cuda.compile_ptx(build(float32), signature, cc=(9, 0))
    ops = [m.split()[0] for m in F64_INSTRUCTION.findall(ptx)]
    assert ops == ["cvt.rn.f64", "mul.f64", "cvt.rn.f32.f64"], ops  # int -> f64, * pi/2^k, -> f32
