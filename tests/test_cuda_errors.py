"""The device-side error register (kernels/cuda/errors.py) and the CUDA
wrappers that copy nothing behind the transfer counter.

Every checking wrapper (cross_entropy_forward, embedding_forward/backward,
take, gather, index_add_, scatter_add_) runs in its three check modes on a
bad index: "defer" records it with no copy and raise_if_set() raises it
once with one device-to-host copy, True raises at the call with the same
message, False records nothing; the results of defer and False match the
NumPy references with the bad element treated as out of the data (0, skipped,
or an ignored row). Attention without a mask and LayerNorm without weight
copy nothing. Runs under NUMBA_ENABLE_CUDASIM=1 (the simulator process of
make test) or on a GPU, and is skipped elsewhere."""
import re

import numpy as np
import pytest

from kernels.attention import attention_forward_reference
from kernels.cuda import attention as A
from kernels.cuda import cross_entropy as CE
from kernels.cuda import embedding as EM
from kernels.cuda import errors
from kernels.cuda import layernorm as LN
from kernels.cuda import movement as M
from kernels.cuda import transfers as T
from kernels.cross_entropy import cross_entropy_forward_reference
from kernels.embedding import embedding_backward_reference, embedding_forward_reference
from kernels.harness import run
from kernels.layernorm import layernorm_backward_reference, layernorm_forward_reference
from kernels.registry import KERNELS
from device_marks import on_device


pytestmark = on_device
LAUNCH = (2, 4)   # 2 blocks of 4 threads: every grid-stride loop wraps
F64 = np.dtype(np.float64)


@pytest.fixture(autouse=True)
def clean_register():
    """Each test starts and ends with an empty register and check=True."""
    def clear():
        errors.set_default_check(True)
        try:
            errors.raise_if_set()
        except IndexError:
            pass
    clear()
    yield
    clear()


# -- the checking wrappers, each on an input with (bad=True) or without a bad index ---------
# A case returns (call(check) -> device outputs, the IndexError message, the expected host
# outputs of check="defer"/False: the reference with the bad element left out).

def _cross_entropy(bad):
    x = np.random.default_rng(0).standard_normal((6, 5))
    # rows 1 and 4 are bad; row 4 is thread 0's, row 1 thread 1's: the block's lowest wins
    t = np.array([1, 7, 0, -100, 9, 4]) if bad else np.array([1, 2, 0, -100, 3, 4])
    dx, dt = T.to_device(x), T.to_device(t)

    def call(check):
        return CE.cross_entropy_forward(dx, dt, None, -100, 0.1, "mean", check=check,
                                        launch=LAUNCH)
    kept = np.where((t >= 0) & (t < 5), t, -100)  # a bad row counts as ignored
    return (call, "cross_entropy_forward: target 7 is out of bounds for 5 classes "
            "(and is not ignore_index=-100)",
            cross_entropy_forward_reference(x, kept, None, -100, 0.1, "mean"))


def _ids(bad):
    return np.array([[0, 4, 2], [8 if bad else 3, 1, 4]])  # one bad id: 8, of a table of 5 rows


def _embedding_forward(bad):
    w, ids = np.random.default_rng(1).standard_normal((5, 3)), _ids(bad)
    dw, di = T.to_device(w), T.to_device(ids)

    def call(check):
        return (EM.embedding_forward(di, dw, check=check, launch=LAUNCH),)
    want = embedding_forward_reference(np.where(ids < 5, ids, 0), w)
    want[ids >= 5] = 0                             # a bad id's row is zeros
    return (call, "embedding_forward: index 8 is out of range for a table of 5 rows "
            "(ids must be in [0, 5))", (want,))


def _embedding_backward(bad):
    dout, ids = np.random.default_rng(2).standard_normal((2, 3, 4)), _ids(bad)
    dd, di = T.to_device(dout), T.to_device(ids)

    def call(check):
        return (EM.embedding_backward(dd, di, 5, 2, check=check, launch=LAUNCH),)
    ok = ids < 5                                    # a bad id adds nothing
    return (call, "embedding_backward: index 8 is out of range for a table of 5 rows "
            "(ids must be in [0, 5))", (embedding_backward_reference(dout[ok], ids[ok], 5, 2),))


def _take(bad):
    x, idx = np.random.default_rng(3).standard_normal((4, 3)), np.array([1, 9 if bad else 0, -1])
    dx, di = T.to_device(x), T.to_device(idx)

    def call(check):
        return (M.take(dx, di, 0, check=check, launch=LAUNCH),)
    want = M.take_reference(x, np.where(idx < 4, idx, 0), 0)
    want[idx >= 4] = 0                              # a bad index gathers 0
    return call, "take: index 9 is out of bounds for an axis of size 4", (want,)


def _gather(bad):
    x = np.random.default_rng(4).standard_normal((3, 4))
    idx = np.array([[0, 3], [-5 if bad else -4, 1], [2, -1]])  # -5 is out of [-4, 4)
    dx, di = T.to_device(x), T.to_device(idx)

    def call(check):
        return (M.gather(dx, 1, di, check=check, launch=LAUNCH),)
    want = M.gather_reference(x, 1, np.where(idx >= -4, idx, 0))
    want[idx < -4] = 0
    return call, "gather: index -5 is out of bounds for an axis of size 4", (want,)


def _index_add(bad):
    src = np.random.default_rng(5).standard_normal((4, 3))
    idx = np.array([1, 3, 6 if bad else 1, 1])
    ds, di = T.to_device(src), T.to_device(idx)

    def call(check):
        return (M.index_add_(M.zeros((4, 3), F64), 0, di, ds, check=check, launch=LAUNCH),)
    ok = idx < 4                                    # a bad index adds nothing
    return (call, "index_add_: index 6 is out of bounds for an axis of size 4",
            (M.index_add_reference(np.zeros((4, 3)), 0, idx[ok], src[ok]),))


def _scatter_add(bad):
    src = np.random.default_rng(6).standard_normal((3, 2))
    idx = np.array([[0, 3], [1, 4 if bad else 1], [2, 2]])
    ds, di = T.to_device(src), T.to_device(idx)

    def call(check):
        return (M.scatter_add_(M.zeros((3, 4), F64), 1, di, ds, check=check, launch=LAUNCH),)
    want = M.scatter_add_reference(np.zeros((3, 4)), 1, np.where(idx < 4, idx, 0),
                                   np.where(idx < 4, src, 0))
    return call, "scatter_add_: index 4 is out of bounds for an axis of size 4", (want,)


CASES = [_cross_entropy, _embedding_forward, _embedding_backward, _take, _gather, _index_add,
         _scatter_add]
IDS = [c.__name__.strip("_") for c in CASES]


def _same(outs, want):
    """Device outputs against host references (float64: agree to 1e-12 on either device)."""
    assert len(outs) == len(want)
    for o, w in zip(outs, want):
        got = T.to_host(o)
        assert got.shape == np.shape(w)
        np.testing.assert_allclose(got, w, rtol=1e-12, atol=1e-12)


def _raises(message):
    return pytest.raises(IndexError, match="^" + re.escape(message) + "$")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_deferred_error_costs_no_copy_and_raises_once(case):
    call, message, want = case(bad=True)
    with T.counting() as recorded:
        outs = call("defer")
    assert (recorded.h2d, recorded.d2h) == (0, 0)
    with T.counting() as read:
        with _raises(message):
            errors.raise_if_set()
    assert (read.h2d, read.d2h, read.d2h_bytes) == (0, 1, 4 * 8)
    with T.counting() as again:
        errors.raise_if_set()               # read and cleared: nothing recorded since, no copy
    assert (again.h2d, again.d2h) == (0, 0)
    _same(outs, want)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_check_now_raises_at_the_call_with_the_same_message(case):
    call, message, _ = case(bad=True)
    with T.counting() as copies:
        with _raises(message):
            call(True)
    assert (copies.h2d, copies.d2h) == (0, 1)
    with _raises(message):
        call(None)                          # the default mode is True
    errors.raise_if_set()                   # raising cleared the register


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_check_false_records_nothing(case):
    call, _, want = case(bad=True)
    with T.counting() as copies:
        outs = call(False)
    assert (copies.h2d, copies.d2h) == (0, 0)
    errors.raise_if_set()
    _same(outs, want)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_good_input_matches_reference_in_every_mode(case):
    call, _, want = case(bad=False)
    for check, copies_expected in ((True, 1), ("defer", 0), (False, 0)):
        with T.counting() as copies:
            outs = call(check)
        assert (copies.h2d, copies.d2h) == (0, copies_expected), check
        _same(outs, want)


def test_the_first_error_is_kept_until_read():
    ce, ce_message, _ = _cross_entropy(bad=True)
    take, take_message, _ = _take(bad=True)
    ce("defer")
    take("defer")                           # finds the register taken: dropped
    ce("defer")
    with _raises(ce_message):
        errors.raise_if_set()
    errors.raise_if_set()
    take("defer")
    good, _, _ = _embedding_forward(bad=False)
    with _raises(take_message):             # a pending error surfaces at the next checked call
        good(True)
    errors.raise_if_set()


def test_default_mode_and_deferred_block():
    call, message, _ = _gather(bad=True)
    assert errors.set_default_check("defer") is True
    assert errors.default_check() == "defer"
    with T.counting() as copies:
        call(None)
    assert (copies.h2d, copies.d2h) == (0, 0)
    with _raises(message):
        errors.raise_if_set()
    errors.set_default_check(True)
    with _raises(message):                  # the block's end reads the register once
        with errors.deferred():
            call(None)
            assert errors.default_check() == "defer"
    assert errors.default_check() is True
    with errors.deferred(check_at_exit=False):
        call(None)
    assert errors.default_check() is True
    with _raises(message):
        errors.raise_if_set()
    with pytest.raises(ValueError, match="check must be True, False or 'defer', got 'later'"):
        call("later")
    with pytest.raises(ValueError, match="got 1"):
        errors.set_default_check(1)
    with pytest.raises(TypeError):          # check is keyword-only, positional args unchanged
        M.take(None, None, 0, True)


def test_error_table_builds_each_kernels_message():
    assert sorted(errors.CODES) == sorted(["cross_entropy_forward", "embedding_forward",
                                           "embedding_backward", "take", "gather", "index_add_",
                                           "scatter_add_"])
    err = errors.error_for(errors.CODES["cross_entropy_forward"], 7, 5, -1)
    assert str(err) == "cross_entropy_forward: target 7 is out of bounds for 5 classes " \
                       "(and is not ignore_index=-1)"
    with pytest.raises(RuntimeError, match="unknown code 99"):
        errors.error_for(99, 0, 0)


# -- the fused kernels that uploaded placeholders --------------------------------------------

def test_attention_without_mask_copies_nothing():
    rng = np.random.default_rng(7)
    q, k, v = (rng.standard_normal((1, 2, 3, 2)) for _ in range(3))
    dq, dk, dv = (T.to_device(a) for a in (q, k, v))
    for causal in (False, True):
        with T.counting() as copies:
            outs = A.attention_forward(dq, dk, dv, None, causal, None, launch=LAUNCH)
        assert (copies.h2d, copies.d2h) == (0, 0)
        _same(outs, attention_forward_reference(q, k, v, None, causal, None))


def test_layernorm_without_weight_or_columns_copies_nothing():
    rng = np.random.default_rng(8)
    x, dy = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    dx, ddy = T.to_device(x), T.to_device(dy)
    with T.counting() as copies:
        y, mean, rstd = LN.layernorm_forward(dx, None, None, 1e-5, launch=LAUNCH)
        grads = LN.layernorm_backward(ddy, dx, None, mean, rstd, launch=LAUNCH)
    assert (copies.h2d, copies.d2h) == (0, 0)
    ref = layernorm_forward_reference(x, None, None, 1e-5)
    _same((y, mean, rstd), ref)
    _same(grads, layernorm_backward_reference(dy, x, None, *ref[1:]))
    empty = T.to_device(np.zeros((2, 3, 0)))
    with T.counting() as copies:
        outs = LN.layernorm_forward(empty, None, None, 1e-5, launch=LAUNCH)
    assert (copies.h2d, copies.d2h) == (0, 0)
    for got, want in zip(outs, layernorm_forward_reference(np.zeros((2, 3, 0)))):
        np.testing.assert_array_equal(T.to_host(got), want)  # mean 0, rstd NaN (2, 3)


def test_harness_copies_through_the_counter():
    k = KERNELS["embedding_forward"]
    ids, w = k.example(np.random.default_rng(9), F64, B=2, T=3, V=4, D=2)
    with T.counting() as copies:
        (out,) = run(k, "cuda", (ids, w))
    assert (copies.h2d, copies.d2h) == (2, 2)  # ids and weight up; out and the id check down
    np.testing.assert_array_equal(out, embedding_forward_reference(ids, w))
