"""Word2Vec: the kernel against its reference, its updates against tinylm's
autograd, the Huffman tree and negative-sampling draws, and the model API.

- kernel == reference: the same job (subsampling, dynamic windows and
  negatives drawn from the same LCG stream) in all modes, to float32 rounding.
- autograd: each step of a tiny job, redone here as loss.backward() on
  -log sigmoid(u_o . h) - sum_k log sigmoid(-u_k . h) (negative sampling) or
  the loss along the Huffman path (hierarchical softmax), must give the
  kernel's updates: output rows -= lr * grad; the input row -= lr * grad
  (skip-gram), each context row -= lr * count * grad (CBOW mean: word2vec.c
  applies the step for h to every context row) or lr * grad / count (CBOW sum).
- the model learns two disjoint topics apart, is seeded, decays its
  learning rate linearly, and saves/loads."""
import numpy as np
import pytest

import tinylm as tl
from kernels.word2vec import (MASK48, MULT, huffman_tree, huffman_tree_reference, negative_guide,
                              w2v_train_job, w2v_train_job_reference)
from tinylm.wordvec import Vocab, Word2Vec

MODES = [(sg, hs, neg, mean) for sg in (1, 0) for hs, neg in ((0, 5), (1, 0), (1, 3)) for mean in (1, 0)
         if sg == 0 or mean == 1]


def tables(counts, sample):
    vocab = Vocab.from_counts([f"w{i}" for i in range(len(counts))], counts)
    cum = vocab.cum_table(0.75)
    return (vocab.keep_thresholds(sample), cum, *negative_guide(cum), *huffman_tree(vocab.counts))


def kernel_job(syn0, syn1neg, syn1, ids, offsets, tabs, sg, hs, negative, window, cbow_mean, subsample,
               alpha, seed):
    d = syn0.shape[1]
    scratch = (np.zeros(d, np.float32), np.zeros(d, np.float32), np.zeros(max(1, np.diff(offsets).max()), np.int32))
    return w2v_train_job(syn0, syn1neg, syn1, *scratch, ids, offsets, 0, len(offsets) - 1, *tabs,
                         sg, hs, negative, window, cbow_mean, subsample, alpha, np.uint64(seed))


@pytest.mark.parametrize("sg,hs,negative,cbow_mean", MODES)
def test_kernel_matches_reference(sg, hs, negative, cbow_mean):
    rng = np.random.default_rng(0)
    V, d = 40, 12
    counts = np.sort(rng.zipf(1.5, V).clip(1, 500))[::-1].copy()
    keep, cum, guide, shift, points, codes, codelens = tabs = tables(counts, sample=0.02)
    lengths = [7, 0, 1, 30, 12, 2]                      # an empty and a one-word sentence too
    ids = rng.choice(V, sum(lengths), p=counts / counts.sum()).astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    weights = [((rng.random((n, d)) - 0.5) / d).astype(np.float32) for n in (V, V, V - 1)]
    ours, ref = [w.copy() for w in weights], [w.copy() for w in weights]
    got = kernel_job(*ours, ids, offsets, tabs, sg, hs, negative, 3, cbow_mean, 1, 0.1, 987654321)
    want = w2v_train_job_reference(*ref, ids, offsets, 0, len(lengths), keep, cum, points, codes, codelens,
                                   sg, hs, negative, 3, cbow_mean, 1, 0.1, 987654321)
    assert got[0] == want[0] and int(got[1]) == want[1]     # same words kept, same random stream
    assert 0 < got[0] < len(ids)                             # subsampling dropped some words
    for a, b, w in zip(ours, ref, weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert not np.allclose(ours[0], weights[0])              # training moved the vectors


# ---- the updates are gradient steps ------------------------------------------


def autograd_step(syn0, outs, inputs, targets, lr, sg, cbow_mean):
    """One SGD step on the negative-sampling / HS loss of inputs -> targets, with tinylm autograd."""
    X = tl.tensor(syn0[inputs].astype(np.float64), requires_grad=True)               # (C, d)
    U = tl.tensor(np.stack([outs[m][r] for m, r, _ in targets]).astype(np.float64), requires_grad=True)
    h = X.sum(0) if sg or not cbow_mean else X.mean(0)                               # (d,)
    sign = tl.tensor(np.array([2.0 * label - 1.0 for _, _, label in targets]))        # +1 target, -1 negative
    loss = -(tl.sigmoid((U * h).sum(-1) * sign)).log().sum()
    loss.backward()
    for t, (m, r, _) in enumerate(targets):
        outs[m][r] -= lr * U.grad.numpy()[t]
    scale = 1.0 if sg else (len(inputs) if cbow_mean else 1.0 / len(inputs))
    for c, g in zip(inputs, X.grad.numpy()):
        syn0[c] -= lr * scale * g


def lcg_int32(state):
    return state >> 16, (state * MULT + 11) & MASK48


@pytest.mark.parametrize("sg,hs,negative,cbow_mean", MODES)
def test_kernel_updates_are_autograd_sgd_steps(sg, hs, negative, cbow_mean):
    rng = np.random.default_rng(1)
    V, d, lr, seed = 500, 6, 0.5, 12345      # a large vocabulary: negatives rarely repeat
    keep, cum, guide, shift, points, codes, codelens = tabs = tables(np.arange(V, 0, -1) + 100, sample=0)
    sent = [5, 17, 2] if not sg else [5, 17]
    weights = [rng.normal(0, 0.5, (n, d)).astype(np.float32) for n in (V, V, V - 1)]
    ours = [w.copy() for w in weights]
    kernel_job(*ours, np.array(sent, np.int32), np.array([0, len(sent)]), tabs, sg, hs, negative, 1,
               cbow_mean, 0, lr, seed)
    # the same job by hand: window 1 (b = 0), targets drawn as the kernel does, steps by autograd
    syn0, outs, state = weights[0].astype(np.float64), {"neg": weights[1].astype(np.float64),
                                                         "hs": weights[2].astype(np.float64)}, seed
    for i, word in enumerate(sent):
        _, state = lcg_int32(state)                                   # the (unused) window draw
        ctx = [sent[j] for j in (i - 1, i + 1) if 0 <= j < len(sent)]
        for inputs in ([c] for c in ctx) if sg else [ctx]:
            targets = [("hs", points[word, t], 1.0 - codes[word, t]) for t in range(codelens[word]) if hs]
            if negative:
                targets.append(("neg", word, 1.0))
                for _ in range(negative):
                    x, state = lcg_int32(state)
                    r = int(np.searchsorted(cum, x % int(cum[-1]), side="left"))
                    if r != word:
                        targets.append(("neg", r, 0.0))
            assert len({(m, r) for m, r, _ in targets}) == len(targets)   # distinct rows: one step each
            autograd_step(syn0, outs, inputs, targets, lr, sg, cbow_mean)
    for got, want in zip(ours, (syn0, outs["neg"], outs["hs"])):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(ours[0], weights[0])


# ---- tables ------------------------------------------------------------------


def test_huffman_tree_by_hand_and_against_reference():
    # counts 4 2 1 1, word2vec.c's merges (a leaf is taken only when strictly smaller than the
    # next inner node; the second node taken gets code 1): words 3 + 2 -> n0 (2); n0 + word 1 -> n1 (4);
    # n1 + word 0 -> n2, the root. Codes read from the root: word 0 = 1; word 1 = 0 1;
    # word 2 = 0 0 1; word 3 = 0 0 0; every path starts at n2, then n1, then n0.
    points, codes, codelens = huffman_tree(np.array([4, 2, 1, 1]))
    assert codelens.tolist() == [1, 2, 3, 3]
    assert [codes[w, :codelens[w]].tolist() for w in range(4)] == [[1], [0, 1], [0, 0, 1], [0, 0, 0]]
    assert [points[w, :codelens[w]].tolist() for w in range(4)] == [[2], [2, 1], [2, 1, 0], [2, 1, 0]]
    rng = np.random.default_rng(3)
    for V in (1, 2, 3, 50, 300):
        counts = np.sort(rng.zipf(1.3, V).clip(1, 10**6))[::-1].copy()
        for a, b in zip(huffman_tree(counts), huffman_tree_reference(counts)):
            np.testing.assert_array_equal(a, b)
        _, codes, codelens = huffman_tree(counts)
        words = {tuple(codes[w, :codelens[w]]) for w in range(V)}
        assert len(words) == V and (V == 1 or sum(2.0 ** -codelens) == pytest.approx(1.0))  # a full prefix code


def test_negative_guide_gives_bisect_left():
    rng = np.random.default_rng(4)
    for V in (1, 7, 1000):
        cum = Vocab.from_counts([str(i) for i in range(V)], rng.integers(1, 10**4, V)).cum_table()
        guide, shift = negative_guide(cum)
        xs = np.concatenate([rng.integers(0, cum[-1], 5000), cum[:-1], cum[:-1] + 1, [0, cum[-1] - 1]])
        xs = xs[xs < cum[-1]]
        got = []
        for x in xs:                                  # the kernel's walk
            r = guide[x >> shift]
            while cum[r] < x:
                r += 1
            got.append(r)
        np.testing.assert_array_equal(got, np.searchsorted(cum, xs, side="left"))


# ---- the model ---------------------------------------------------------------


def topics(n=250, seed=0):
    """Sentences drawn from one of two disjoint 8-word topics."""
    rng = np.random.default_rng(seed)
    words = [[f"a{i}" for i in range(8)], [f"b{i}" for i in range(8)]]
    return [list(rng.choice(words[s % 2], 10)) for s in range(n)]


@pytest.mark.parametrize("sg,hs", [(1, 0), (0, 0), (1, 1), (0, 1)])
def test_learns_topics_apart(sg, hs):
    model = Word2Vec(topics(), vector_size=16, window=3, min_count=1, sample=0, sg=sg, hs=hs,
                     negative=0 if hs else 5, epochs=5, workers=2, alpha=0.05)
    for w in ("a0", "b3"):
        assert all(n[0] == w[0] for n, _ in model.wv.most_similar(w, topn=5)), model.wv.most_similar(w)
    assert model.wv.similarity("a1", "a2") > model.wv.similarity("a1", "b2") + 0.3


def test_initial_weights():
    model = Word2Vec(vector_size=50, min_count=1, hs=1).build_vocab(topics(20))
    v = model.wv.vectors                                  # uniform in [-1/d, 1/d) as gensim 4
    assert v.dtype == np.float32 and v.shape == (16, 50)
    assert -1 / 50 <= v.min() < -0.9 / 50 and 0.9 / 50 < v.max() < 1 / 50
    assert model.syn1neg.shape == (16, 50) and model.syn1.shape == (15, 50)
    assert not model.syn1neg.any() and not model.syn1.any()


def test_seeded_and_lr_decays_linearly():
    runs = [Word2Vec(topics(), vector_size=8, min_count=1, workers=1, seed=s) for s in (7, 7, 8)]
    np.testing.assert_array_equal(runs[0].wv.vectors, runs[1].wv.vectors)
    assert not np.allclose(runs[0].wv.vectors, runs[2].wv.vectors)
    sents = topics(3000)                              # 30000 words: 3 jobs of ~10000 a pass
    model = Word2Vec(vector_size=8, min_count=1, workers=1, alpha=0.1, min_alpha=0.01, epochs=2)
    model.build_vocab(sents)
    seen = []
    kept, raw = model.train(sents, progress=lambda done, total, alpha: seen.append((done, total, alpha)))
    assert raw == 60000 and 0 < kept <= raw
    done = [0] + [s[0] for s in seen]
    assert len(seen) == 6 and done[-1] == seen[0][1] == 60000
    # each job's rate is alpha - (alpha - min_alpha) * (words done before it) / (epochs * words)
    np.testing.assert_allclose([s[2] for s in seen], [0.1 - 0.09 * w / 60000 for w in done[:-1]], rtol=1e-12)


def test_save_load_and_corpus_file(tmp_path):
    sents = topics(100)
    (tmp_path / "c.txt").write_text("\n".join(" ".join(s) for s in sents), encoding="utf-8")
    a = Word2Vec(sents, vector_size=8, min_count=1, workers=1, hs=1)
    b = Word2Vec(corpus_file=tmp_path / "c.txt", vector_size=8, min_count=1, workers=1, hs=1)
    np.testing.assert_array_equal(a.wv.vectors, b.wv.vectors)
    a.save(tmp_path / "m.npz")
    c = Word2Vec.load(tmp_path / "m.npz")
    assert c.wv.index_to_key == a.wv.index_to_key and c.hs == 1 and c.vector_size == 8
    assert c.corpus_count == 100 and c.corpus_total_words == 1000
    for x, y in ((c.wv.vectors, a.wv.vectors), (c.syn1neg, a.syn1neg), (c.syn1, a.syn1)):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(c.vocab.counts, a.vocab.counts)
    c.train(sents)                                    # training goes on from the loaded weights
    assert not np.array_equal(c.wv.vectors, a.wv.vectors)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a saved tinylm Word2Vec"):
        Word2Vec.load(tmp_path / "bad.npz")


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="nothing to train"):
        Word2Vec(hs=0, negative=0)
    with pytest.raises(TypeError, match="size"):
        Word2Vec(size=100)
    with pytest.raises(ValueError, match="window"):
        Word2Vec(window=0)
    with pytest.raises(ValueError, match="corpus is empty"):
        Word2Vec([[]])
    with pytest.raises(ValueError, match="min_count=50"):
        Word2Vec(topics(10), min_count=50)
    with pytest.raises(ValueError, match="not both"):
        Word2Vec(topics(10), corpus_file="x.txt")
    with pytest.raises(RuntimeError, match="build_vocab"):
        Word2Vec().train(topics(10))
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        Word2Vec(corpus_file=tmp_path / "nope.txt")
    model = Word2Vec(topics(10), min_count=1)
    with pytest.raises(ValueError, match="no word of the corpus"):
        model.train([["zzz"]])
    with pytest.raises(KeyError, match="'zzz'"):
        model.wv.most_similar("zzz")
