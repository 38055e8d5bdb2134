"""Sampling (tinylm/models/generation.py): greedy, temperature, top_k, top_p,
seeded repeatability, the eos handling of the generation loop and argument
checks, on hand-made logits and against plain reimplementations of nanoGPT's
top_k and Hugging Face's top_p."""
import numpy as np
import pytest

import tinylm as tl
from tinylm.models.generation import (check_generate_args, generate_tokens, sample_next, top_k_filter,
                                      top_p_filter)


def nanogpt_top_k(logits, k):
    """nanoGPT: v, _ = torch.topk(logits, k); logits[logits < v[:, [-1]]] = -inf."""
    v = -np.sort(-logits, axis=-1)[:, :k]
    return np.where(logits < v[:, [-1]], -np.inf, logits)


def hf_top_p(logits, p):
    """Hugging Face's TopPLogitsWarper: ascending sort, drop the tail whose mass is <= 1 - p."""
    order = np.argsort(logits, axis=-1, kind="stable")
    s = np.take_along_axis(logits, order, -1)
    e = np.exp(s - s.max(-1, keepdims=True))
    cum = np.cumsum(e / e.sum(-1, keepdims=True), -1)
    remove = cum <= 1 - p
    remove[:, -1] = False
    out = logits.copy()
    np.put_along_axis(out, order, np.where(remove, -np.inf, s), -1)
    return out


def frequencies(logits, n, **kw):
    tl.manual_seed(0)
    ids = sample_next(np.repeat(logits[None], n, axis=0), **kw)
    return np.bincount(ids, minlength=logits.size) / n


def test_greedy_is_argmax_whatever_top_k_and_top_p():
    logits = np.array([[0.1, 2.0, -1.0, 1.9], [3.0, 0.0, 3.5, -2.0]], np.float32)
    for kw in ({}, dict(top_k=1), dict(top_p=0.1)):
        np.testing.assert_array_equal(sample_next(logits, temperature=0, **kw), [1, 2])


def test_top_k_keeps_the_k_largest_and_ties_with_the_kth():
    logits = np.array([[1.0, 3.0, 2.0, 3.0, 0.0]])
    assert np.isfinite(top_k_filter(logits, 2)).tolist() == [[False, True, False, True, False]]
    assert np.isfinite(top_k_filter(logits, 1)).tolist() == [[False, True, False, True, False]]  # tie at the top
    assert np.isfinite(top_k_filter(logits, 3)).tolist() == [[False, True, True, True, False]]
    assert np.isfinite(top_k_filter(logits, 99)).all()  # k above the vocabulary keeps everything
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 3, (50, 9)).astype(np.float64)  # many ties
    for k in (1, 2, 4, 9):
        np.testing.assert_array_equal(top_k_filter(x, k), nanogpt_top_k(x, k))


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = np.log(np.array([[0.5, 0.05, 0.3, 0.15]]))
    kept = lambda p: np.isfinite(top_p_filter(logits, p))[0].tolist()  # noqa: E731
    assert kept(0.3) == [True, False, False, False]
    assert kept(0.79) == [True, False, True, False]
    assert kept(0.81) == [True, False, True, True]
    assert kept(0.96) == [True, True, True, True]
    assert kept(1e-9) == [True, False, False, False]  # the top token always stays
    x = np.random.default_rng(1).normal(size=(200, 12)) * 2
    for p in (0.1, 0.5, 0.9, 0.99):
        np.testing.assert_array_equal(top_p_filter(x, p), hf_top_p(x, p))


def test_samples_follow_the_filtered_softmax():
    logits = np.array([1.0, 3.0, 2.0, 3.0, 0.0])
    p = np.exp(logits / 2) / np.exp(logits / 2).sum()
    np.testing.assert_allclose(frequencies(logits, 40000, temperature=2.0), p, atol=0.01)
    # top_k=3 keeps 1, 2, 3 (equal logits: the same share); temperature 0.5 sharpens
    f = frequencies(logits, 40000, temperature=0.5, top_k=3)
    q = np.exp(np.array([3.0, 2.0, 3.0]) / 0.5)
    np.testing.assert_allclose(f, np.array([0, q[0], q[1], q[2], 0]) / q.sum(), atol=0.01)
    assert f[0] == 0 and f[4] == 0
    # top_p after top_k: of the renormalised {1, 2, 3}, tokens 1 and 3 hold ~0.84 > 0.8
    f = frequencies(logits, 20000, top_k=3, top_p=0.8)
    assert f[[0, 2, 4]].sum() == 0
    np.testing.assert_allclose(f[[1, 3]], [0.5, 0.5], atol=0.02)


def test_sampling_repeats_with_the_seed():
    logits = np.random.default_rng(2).normal(size=(64, 20))
    tl.manual_seed(7)
    a = sample_next(logits, top_k=10, top_p=0.9)
    tl.manual_seed(7)
    b = sample_next(logits, top_k=10, top_p=0.9)
    c = sample_next(logits, top_k=10, top_p=0.9)  # the generator moved on
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    assert a.dtype == np.int64 and a.shape == (64,)


def test_a_filtered_out_token_is_never_drawn():
    logits = np.array([[-np.inf, 0.0, -np.inf, 5.0, -np.inf]])
    tl.manual_seed(0)
    ids = sample_next(np.repeat(logits, 5000, axis=0))
    assert set(np.unique(ids)) <= {1, 3}


def test_eos_finishes_rows_and_stops_the_loop():
    V, EOS = 6, 5
    # row 0 emits eos at its 2nd new token, row 1 at its 4th; otherwise token 1, 2, 3, ...
    script = {0: [1, EOS, 2, 2, 2, 2], 1: [1, 2, 3, EOS, 4, 4]}
    calls = []

    def step(new):
        calls.append(new.copy())
        t = len(calls) - 1
        logits = np.zeros((2, V))
        for row in (0, 1):
            logits[row, script[row][t]] = 1.0
        return logits

    out = generate_tokens(step, np.array([[0, 0], [0, 0]]), 10, temperature=0, eos=EOS)
    np.testing.assert_array_equal(out.numpy(), [[0, 0, 1, EOS, EOS, EOS], [0, 0, 1, 2, 3, EOS]])
    assert len(calls) == 4 and calls[0].shape == (2, 2) and calls[1].shape == (2, 1)
    # without eos the loop runs all max_new_tokens
    calls.clear()
    assert generate_tokens(step, np.zeros((2, 1), np.int64), 5, temperature=0).shape == (2, 6)


def test_max_new_tokens_zero_returns_the_prompt():
    prompt = np.array([[3, 1, 4]])
    out = generate_tokens(lambda new: pytest.fail("no step expected"), prompt, 0)
    np.testing.assert_array_equal(out.numpy(), prompt)


@pytest.mark.parametrize("kw, message", [
    (dict(temperature=-0.1), "temperature"), (dict(temperature=float("nan")), "temperature"),
    (dict(top_k=0), "top_k"), (dict(top_k=2.5), "top_k"),
    (dict(top_p=0.0), "top_p"), (dict(top_p=1.5), "top_p"),
    (dict(max_new_tokens=-1), "max_new_tokens"), (dict(eos=9), "eos"),
    (dict(idx=np.array([1, 2])), r"\(B, T\)"), (dict(idx=np.zeros((1, 2))), "integer"),
    (dict(idx=np.zeros((1, 0), np.int64)), "empty"), (dict(idx=np.array([[1, 9]])), r"\[0, 9\)"),
])
def test_bad_arguments_are_named(kw, message):
    args = dict(idx=np.array([[1, 2]]), max_new_tokens=3, temperature=1.0, top_k=None, top_p=None, eos=None)
    args.update(kw)
    with pytest.raises((ValueError, TypeError), match=message):
        check_generate_args(**args, vocab_size=9)
    if set(kw) <= {"temperature", "top_k", "top_p"}:
        with pytest.raises(ValueError, match=message):
            sample_next(np.zeros((1, 4)), **kw)


def test_sample_next_wants_2d_logits():
    with pytest.raises(ValueError, match=r"\(B, V\)"):
        sample_next(np.zeros(4))
