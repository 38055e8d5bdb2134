"""GloVe: the counting and update kernels (kernels/glove.py) against their
references, the update against tinylm's autograd, and the model end to end."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinylm as tl
from kernels.glove import (cooccur, cooccur_reference, dense_rows, glove_epoch, glove_epoch_reference,
                          make_entries)
from tinylm.wordvec.glove import GloVe


@st.composite
def corpora(draw):
    """(ids, offsets, V): up to 6 sentences of up to 12 ids over V = 1..6 words."""
    V = draw(st.integers(1, 6))
    sents = draw(st.lists(st.lists(st.integers(0, V - 1), max_size=12), min_size=1, max_size=6))
    ids = np.array([w for s in sents for w in s], np.int32)
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sents])]).astype(np.int64)
    return ids, offsets, V


@settings(max_examples=80)
@given(corpus=corpora(), window=st.integers(1, 5), symmetric=st.booleans(), dense=st.sampled_from([0, 7, 1 << 22]))
def test_cooccur_kernel_matches_reference(corpus, window, symmetric, dense):
    # dense: cells of the dense region for frequent pairs; 0 hashes every pair, 7 splits them
    ids, offsets, V = corpus
    got = cooccur(ids, offsets, window, V, symmetric, dense_entries=dense)
    want = cooccur_reference(ids, offsets, window, V, symmetric)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)   # same terms added in the same order: equal, not close


def test_cooccur_hand_worked():
    # sentence 0 1 2 | 3 3, window 2, symmetric: neighbours weigh 1, distance 2 weighs 1/2;
    # 3 next to 3 adds 1 to X[3, 3] twice (cooccur.c); nothing crosses the sentence break
    ids, offsets = np.array([0, 1, 2, 3, 3], np.int32), np.array([0, 3, 5])
    rows, cols, vals = cooccur(ids, offsets, 2, 4, symmetric=True)
    got = {(int(i), int(j)): float(x) for i, j, x in zip(rows, cols, vals)}
    assert got == {(0, 1): 1.0, (1, 0): 1.0, (1, 2): 1.0, (2, 1): 1.0, (0, 2): 0.5, (2, 0): 0.5, (3, 3): 2.0}
    rows, cols, vals = cooccur(ids, offsets, 1, 4, symmetric=False)   # left contexts only: X[left, right]
    assert [(int(i), int(j), float(x)) for i, j, x in zip(rows, cols, vals)] == [(0, 1, 1.0), (1, 2, 1.0),
                                                                                  (3, 3, 1.0)]


def test_cooccur_grows_its_table():
    # 3000 distinct pairs from 2000 words: the table starts at 1024 slots and must double several times
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 400, 2000).astype(np.int32)
    offsets = np.array([0, 2000])
    got = cooccur(ids, offsets, 3, 400, dense_entries=100)
    want = cooccur_reference(ids, offsets, 3, 400)
    assert got[0].size > 3000
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_dense_rows_as_cooccur_c():
    # row a (rank a + 1) keeps columns c with (a + 1)(c + 1) <= P, the largest P fitting the budget
    lookup = dense_rows(5, 12)            # P = 6: widths min(5, 6 // r) = 5, 3, 2, 1, 1 -> 12 cells
    assert lookup.tolist() == [0, 5, 8, 10, 11, 12]
    assert dense_rows(5, 100).tolist() == [0, 5, 10, 15, 20, 25]      # all of V x V fits
    assert dense_rows(5, 0).tolist() == [0] * 6


def test_entries_hold_log_and_weight():
    e = make_entries([0, 1, 2, 3], [3, 2, 1, 0], np.array([1.0, 50.0, 100.0, 250.0]), x_max=100, alpha=0.75)
    np.testing.assert_allclose(e["fx"], [0.01 ** 0.75, 0.5 ** 0.75, 1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(e["logx"], np.log([1.0, 50.0, 100.0, 250.0]), rtol=1e-6)
    assert e["i"].tolist() == [0, 1, 2, 3] and e["j"].tolist() == [3, 2, 1, 0] and e.itemsize == 16


def _params(V, d, seed):
    rng = np.random.default_rng(seed)
    u = lambda *shape: ((rng.random(shape) - 0.5) / d).astype(np.float32)  # noqa: E731
    return [u(V, d), u(V, d), u(V), u(V), np.ones((V, d), np.float32), np.ones((V, d), np.float32),
            np.ones(V, np.float32), np.ones(V, np.float32)]


def test_update_kernel_matches_reference():
    rng = np.random.default_rng(1)
    V, d = 9, 7
    ids = rng.integers(0, V, 80).astype(np.int32)
    rows, cols, vals = cooccur(ids, np.array([0, 30, 80]), 3, V)
    entries = make_entries(rows, cols, vals, x_max=2.0)       # both branches of f(x)
    assert (vals > 2.0).any() and (vals < 2.0).any()
    got, want = _params(V, d, 2), _params(V, d, 2)
    for epoch in range(4):
        shuffled = entries[rng.permutation(rows.size)]
        cost = glove_epoch(*got, shuffled, 0, rows.size, 0.05)
        ref_cost = glove_epoch_reference(*want, shuffled, 0, rows.size, 0.05)
        assert cost == pytest.approx(ref_cost, rel=1e-5)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    assert not np.allclose(got[0], _params(V, d, 2)[0])    # it did move


@pytest.mark.parametrize("same_word", [False, True])
def test_update_is_adagrad_on_autograd_gradient(same_word):
    # one entry: each parameter moves by -lr * grad / sqrt(gradsq) and gradsq grows by (lr * grad)^2,
    # grad from tinylm's autograd of the cost 0.5 f(X) (w.c + b + b~ - log X)^2
    V, d, lr = 3, 5, 0.05
    i, j = (1, 1) if same_word else (0, 2)
    params = _params(V, d, 3)
    rng = np.random.default_rng(4)
    for g in params[4:]:
        g[...] = 1 + rng.random(g.shape).astype(np.float32)   # accumulators past their start
    before = [p.copy() for p in params]
    entry = make_entries([i], [j], [3.0], x_max=3.0 / 0.4 ** (1 / 0.75))    # f(3) = 0.4
    logx, fx = entry["logx"], entry["fx"]
    assert fx[0] == pytest.approx(0.4)
    glove_epoch(*params, entry, 0, 1, lr)

    W, Wt, b, bt, gW, gWt, gb, gbt = before
    w, c = tl.tensor(W[i], requires_grad=True), tl.tensor(Wt[j], requires_grad=True)
    bi, bj = tl.tensor(b[i], requires_grad=True), tl.tensor(bt[j], requires_grad=True)
    diff = (w * c).sum() + bi + bj - float(logx[0])
    (0.5 * float(fx[0]) * diff * diff).backward()
    for new, old, acc, new_acc, row, grad in ((params[0], W, gW, params[4], i, w.grad),
                                              (params[1], Wt, gWt, params[5], j, c.grad),
                                              (params[2], b, gb, params[6], i, bi.grad),
                                              (params[3], bt, gbt, params[7], j, bj.grad)):
        grad = np.asarray(grad.data)
        np.testing.assert_allclose(new[row], old[row] - lr * grad / np.sqrt(acc[row]), rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(new_acc[row], acc[row] + (lr * grad) ** 2, rtol=1e-5)


def _grouped_corpus(seed=0, n=600):
    """Sentences drawing words from one of 4 groups of 8: only same-group words co-occur."""
    rng = np.random.default_rng(seed)
    groups = [[f"{g}{k}" for k in range(8)] for g in "abcd"]
    return groups, [[groups[g][k] for k in rng.integers(0, 8, 10)] for g in rng.integers(0, 4, n)]


def test_glove_learns_groups():
    groups, sentences = _grouped_corpus()
    model = GloVe(sentences, vector_size=16, window=3, min_count=1, x_max=10, epochs=30, workers=1)
    sim = model.wv.similarity
    for g in groups:
        for w in g:   # closer on average to its own group than to any other; its nearest word is in it
            own = np.mean([sim(w, v) for v in g if v != w])
            assert own > max(np.mean([sim(w, v) for v in h]) for h in groups if h is not g) + 0.1
            assert model.wv.most_similar(w, topn=1)[0][0] in g
    same = [sim(g[a], g[b]) for g in groups for a in range(8) for b in range(a + 1, 8)]
    cross = [sim(g[a], h[b]) for gi, g in enumerate(groups) for h in groups[gi + 1:] for a in range(8)
             for b in range(8)]
    assert np.mean(same) > 0.6 and np.mean(cross) < 0.2
    np.testing.assert_array_equal(model.wv.vectors, model.W + model.W_context)


def test_glove_repeatable_save_load_and_progress(tmp_path):
    _, sentences = _grouped_corpus(n=100)
    kw = dict(vector_size=8, window=2, min_count=1, epochs=2, workers=1, seed=5)
    a, b = GloVe(sentences, **kw), GloVe(sentences, **kw)
    np.testing.assert_array_equal(a.wv.vectors, b.wv.vectors)   # one worker: the same run twice
    a.save(tmp_path / "g.safetensors")
    c = GloVe.load(tmp_path / "g.safetensors")
    np.testing.assert_array_equal(c.wv.vectors, a.wv.vectors)
    assert c.wv.index_to_key == a.wv.index_to_key
    calls = []
    losses_a = a.train(epochs=1)
    losses_c = c.train(epochs=1, progress=lambda done, total, lr: calls.append((done, total, lr)))
    assert losses_a == losses_c                                   # training goes on where it stopped
    np.testing.assert_array_equal(c.wv.vectors, a.wv.vectors)
    assert calls[-1] == (c.rows.size, c.rows.size, 0.05)


def test_glove_two_workers_learn_too():
    groups, sentences = _grouped_corpus(seed=1)
    model = GloVe(sentences, vector_size=16, window=3, min_count=1, x_max=10, epochs=20, workers=2)
    assert model.wv.similarity("a0", "a1") > model.wv.similarity("a0", "b1")


def test_glove_bad_input(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        GloVe([[], []], min_count=1)
    with pytest.raises(ValueError, match="min_count=5"):
        GloVe([["a", "b"]], min_count=5)
    with pytest.raises(ValueError, match="no co-occurrences"):
        GloVe([["a"], ["a"]], min_count=1)
    with pytest.raises(ValueError, match="vector_size"):
        GloVe(vector_size=0)
    with pytest.raises(ValueError, match="not both"):
        GloVe([["a"]], corpus_file="x.txt")
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        GloVe(corpus_file=tmp_path / "nope.txt")
    with pytest.raises(ValueError, match="build_vocab"):
        GloVe().train()
