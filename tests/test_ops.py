"""Every op in the table: forward against NumPy in float64 and float32, and
the gradient against finite differences (tl.gradcheck) in float64."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import tinylm as tl
from op_table import CASES
from op_table_nn import NN_CASES

ALL = CASES + NN_CASES


def to_tl(a, dtype, grad):
    """Float arrays become tensors of `dtype`; int/bool arrays tensors as they are."""
    if isinstance(a, np.ndarray):
        if a.dtype.kind == "f":
            return tl.tensor(a.astype(dtype), requires_grad=grad)
        return tl.tensor(a)
    if isinstance(a, list):
        return [to_tl(x, dtype, grad) for x in a]
    return a


def as_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def test_table_names_are_unique():
    names = [c.name for c in ALL]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("case", ALL, ids=lambda c: c.name)
@given(data=st.data())
def test_forward_matches_numpy(case, data):
    args, kw = data.draw(case.inputs)
    expected = [np.asarray(e) for e in as_list(case.ref(*args, **kw))]
    for dtype, rtol, atol in ((np.float64, 1e-9, 1e-12), (np.float32, 2e-4, 2e-5)):
        got = as_list(case.op(*[to_tl(a, dtype, False) for a in args], **kw))
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert isinstance(g, tl.Tensor)
            assert g.shape == e.shape, f"{case.name}: shape {g.shape} != {e.shape}"
            if e.dtype.kind == "f":
                assert g.dtype == dtype, f"{case.name}: dtype {g.dtype} != {np.dtype(dtype)}"
            else:
                assert g.dtype == e.dtype or (g.dtype == np.int64 and e.dtype.kind == "i")
            np.testing.assert_allclose(g.numpy(), e, rtol=rtol, atol=atol, equal_nan=True,
                                       err_msg=f"{case.name} in {np.dtype(dtype)}")


@pytest.mark.parametrize("case", [c for c in ALL if c.grad], ids=lambda c: c.name)
@given(data=st.data())
def test_gradient_matches_finite_differences(case, data):
    args, kw = data.draw(case.inputs)
    # a NaN output (e.g. every target ignored) has no finite differences to compare
    assume(not any(np.isnan(np.asarray(e)).any() for e in as_list(case.ref(*args, **kw))))
    args = [to_tl(a, np.float64, True) for a in args]
    # gradcheck takes a flat tuple: spread lists of tensors (cat, stack) out and back
    flat, spec = [], []
    for a in args:
        if isinstance(a, list):
            spec.append(len(a))
            flat.extend(a)
        else:
            spec.append(None)
            flat.append(a)

    def fn(*xs):
        xs, rebuilt = list(xs), []
        for n in spec:
            rebuilt.append(xs[:n] if n is not None else xs[0])
            del xs[:n if n is not None else 1]
        return case.op(*rebuilt, **kw)

    if any(isinstance(x, tl.Tensor) and x.requires_grad for x in flat):
        assert tl.gradcheck(fn, tuple(flat))
