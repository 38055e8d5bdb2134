"""k-fold splits: disjoint, covering, sized like scikit-learn's KFold; and
cross_validate's mean and spread."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinylm as tl


@given(n=st.integers(2, 200), data=st.data(), shuffle=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_folds_are_disjoint_covering_and_balanced(n, data, shuffle, seed):
    k = data.draw(st.integers(2, n))
    splits = tl.data.kfold(n, k, shuffle=shuffle, seed=seed)
    assert len(splits) == k
    vals = np.concatenate([v for _, v in splits])
    np.testing.assert_array_equal(np.sort(vals), np.arange(n))  # each index validated exactly once
    sizes = [len(v) for _, v in splits]
    assert sizes == [n // k + 1] * (n % k) + [n // k] * (k - n % k)
    for train, val in splits:
        assert not set(train) & set(val)
        np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(n))
    if not shuffle:
        np.testing.assert_array_equal(vals, np.arange(n))


def test_shuffle_is_seeded():
    a = tl.data.kfold(50, 5, shuffle=True, seed=3)
    b = tl.data.kfold(50, 5, shuffle=True, seed=3)
    c = tl.data.kfold(50, 5, shuffle=True, seed=4)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b))
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(a, c))


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least 2"):
        tl.data.kfold(10, 1)
    with pytest.raises(ValueError, match="3 samples into 5 folds"):
        tl.data.kfold(3, 5)
    with pytest.raises(TypeError, match="k must be an int"):
        tl.data.kfold(10, 2.5)


def test_cross_validate_reports_mean_and_spread_of_fold_scores():
    # "model": the mean of the training targets; metric: squared error on the fold
    y = np.random.default_rng(0).standard_normal(40)

    def fit(model, idx):
        model["mean"] = y[idx].mean()

    def evaluate(model, idx):
        return np.mean((y[idx] - model["mean"]) ** 2)
    out = tl.data.cross_validate(dict, fit, evaluate, n=40, k=4, shuffle=True, seed=1, verbose=False)
    want = [evaluate({"mean": y[tr].mean()}, va) for tr, va in tl.data.kfold(40, 4, True, 1)]
    np.testing.assert_allclose(out["scores"], want)
    assert out["mean"] == pytest.approx(np.mean(want)) and out["std"] == pytest.approx(np.std(want, ddof=1))
