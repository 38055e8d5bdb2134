"""FastText: n-gram hashing (gensim-compatible), the training kernel
(kernels/fasttext.py) against its reference and against tinylm's autograd,
and the model: unseen words, misspellings, save/load."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinylm as tl
from kernels.fasttext import (_out_rows, fasttext_train, fasttext_train_reference, ft_hash_reference,
                              ngram_buckets_reference, ngrams_reference)
from tinylm.wordvec.fasttext import FastText, huffman_paths, word_buckets

# values printed by gensim 4.4.0 (gensim.models.fasttext_inner.ft_hash_bytes, fasttext.ft_ngram_hashes)
GENSIM_HASHES = {b"": 2166136261, b"a": 3826002220, "é".encode(): 1023043777, "<日本".encode(): 3018758587}
GENSIM_NAIVE = [1806890, 1907692, 878190, 933201, 1590546, 1719404, 832043, 156687, 356832, 1223007, 1505331,
                1711570, 1788548, 1088654]   # ft_ngram_hashes("naïve", 3, 6, 2000000)


def test_hash_and_ngrams_match_gensim_values():
    for data, h in GENSIM_HASHES.items():
        assert ft_hash_reference(data) == h     # bytes >= 0x80 sign-extended, as fastText's signed char
    assert ngrams_reference("cat", 3, 6) == [b"<ca", b"<cat", b"<cat>", b"cat", b"cat>", b"at>"]
    assert ngrams_reference("日本", 1, 2) == [x.encode() for x in ("<日", "日", "日本", "本", "本>")]
    assert word_buckets(["naïve"], 3, 6, 2000000)[1].tolist() == GENSIM_NAIVE


@settings(max_examples=60)
@given(words=st.lists(st.text(max_size=9), min_size=1, max_size=6), min_n=st.integers(1, 4),
       extra=st.integers(-1, 4), bucket=st.sampled_from([1, 7, 2000000]))
def test_ngram_kernel_matches_reference(words, min_n, extra, bucket):
    got = word_buckets(words, min_n, min_n + extra, bucket)
    want = ngram_buckets_reference(words, min_n, min_n + extra, bucket)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_ngram_hashes_match_gensim():
    fasttext = pytest.importorskip("gensim.models.fasttext")
    words = ["cat", "naïve", "日本語", "😀x", "a", "résumé", "Zürich-2024", "ab\u0301c"]
    for w in words:
        assert word_buckets([w], 3, 6, 2000000)[1].tolist() == fasttext.ft_ngram_hashes(w, 3, 6, 2000000)
        assert word_buckets([w], 1, 3, 1000)[1].tolist() == fasttext.ft_ngram_hashes(w, 1, 3, 1000)


def _tiny_setup():
    rng = np.random.default_rng(0)
    V, d, B = 6, 8, 11
    ids = rng.integers(0, V, 40).astype(np.int32)
    offsets = np.array([0, 12, 12, 13, 40])                        # an empty and a 1-word sentence too
    sub_offsets, sub_ids = np.array([0, 3, 3, 5, 9, 10, 12]), rng.integers(0, B, 12).astype(np.int32)
    keep = np.array([2**31, 2**32 - 1, 2**32 - 1, 2**30, 2**32 - 1, 2**32 - 1], np.uint32)  # 0 and 3 subsampled
    cum = np.cumsum(np.arange(1, V + 1) * 1000).astype(np.uint32)
    paths = huffman_paths(np.array([9, 7, 5, 3, 2, 1]))
    rows = lambda: [((r.random(s, np.float32) - 0.5) / d) for r in [np.random.default_rng(1)]  # noqa: E731
                    for s in ((V, d), (B, d), (V, d), (V - 1, d))]
    return (ids, offsets, 0, 4, sub_offsets, sub_ids, keep, cum, *paths), rows


@pytest.mark.parametrize("sg,hs,negative", [(0, 0, 3), (1, 0, 3), (0, 1, 0), (1, 1, 0), (1, 1, 2)])
def test_train_kernel_matches_reference(sg, hs, negative):
    data, rows = _tiny_setup()
    got, want = rows(), rows()
    for call in range(3):
        a = fasttext_train(*got, *data, sg, hs, negative, 3, 0.1, 7 + call)
        b = fasttext_train_reference(*want, *data, sg, hs, negative, 3, 0.1, 7 + call)
        assert a == b and a[0] == 40 and a[1] < 40          # raw words, words kept by subsampling
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    start = rows()
    moved = [not np.allclose(g, s) for g, s in zip(got, start)]
    assert moved == [True, True, bool(negative), bool(hs)]   # syn0 rows, n-gram rows, syn1neg, syn1


def test_huffman_paths():
    # counts 4 3 2 1: join 3 and 2 (-> inner 0, weight 3), then 1 and inner 0 ... classic word2vec tree
    offsets, codes, points = huffman_paths(np.array([4, 3, 2, 1]))
    paths = [(codes[offsets[w]:offsets[w + 1]].tolist(), points[offsets[w]:offsets[w + 1]].tolist())
             for w in range(4)]
    # inner 0 = {3, 2}, inner 1 = {1, inner 0}, root 2 = {0, inner 1}
    assert paths == [([0], [2]), ([1, 0], [2, 1]), ([1, 1, 1], [2, 1, 0]), ([1, 1, 0], [2, 1, 0])]


@pytest.mark.parametrize("hs,negative", [(0, 1), (1, 0), (1, 1)])
def test_output_step_is_sgd_on_autograd_gradient(hs, negative):
    # one (h, target=2): work = -alpha dL/dh and each output row u moves by -alpha dL/du, with
    # L = -sum log sigmoid(+-h.u): label 1 - code on the Huffman path, 1 for the target's syn1neg
    # row and 0 for the negative: the LCG's first draw r = seed >> 16 = 35 picks word 3 of cum_table
    # [10, 20, 30, 40] (the first entry >= 35)
    rng = np.random.default_rng(2)
    d, alpha = 6, 0.3
    h = rng.standard_normal(d).astype(np.float32)
    syn1neg, syn1 = rng.standard_normal((4, d)).astype(np.float32), rng.standard_normal((3, d)).astype(np.float32)
    path_offsets, codes, points = np.array([0, 0, 0, 2, 2]), np.array([1, 0], np.uint8), np.array([2, 0], np.int32)
    work = np.zeros(d, np.float32)
    new1neg, new1 = syn1neg.copy(), syn1.copy()
    _out_rows(new1neg, new1, h, work, 2, np.array([10, 20, 30, 40], np.uint32), path_offsets, codes, points, hs,
              negative, alpha, np.uint64(35 << 16))
    th = tl.tensor(h, requires_grad=True)
    rows = {}
    if hs:
        rows.update({("hs", 2): (tl.tensor(syn1[2], requires_grad=True), 0.0),    # code 1: label 0
                     ("hs", 0): (tl.tensor(syn1[0], requires_grad=True), 1.0)})
    if negative:
        rows.update({("neg", 2): (tl.tensor(syn1neg[2], requires_grad=True), 1.0),
                     ("neg", 3): (tl.tensor(syn1neg[3], requires_grad=True), 0.0)})
    loss = 0.0
    for u, label in rows.values():
        p = (th * u).sum().sigmoid()
        loss = loss - (p.log() if label else (1 - p).log())
    loss.backward()
    np.testing.assert_allclose(work, -alpha * th.grad.data, rtol=1e-5, atol=1e-6)
    for (kind, r), (u, _) in rows.items():
        new, old = (new1neg, syn1neg) if kind == "neg" else (new1, syn1)
        np.testing.assert_allclose(new[r] - old[r], -alpha * u.grad.data, rtol=1e-4, atol=1e-6)
    untouched = [(new1neg, syn1neg, [0, 1] + ([] if negative else [2, 3])), (new1, syn1, [1] + ([] if hs else [0, 2]))]
    for new, old, idx in untouched:
        np.testing.assert_array_equal(new[idx], old[idx])


GROUPS = [["running", "runner", "sprinting", "jogging", "marathon", "stamina"],
          ["cooking", "kitchen", "recipe", "baking", "chef", "oven"],
          ["guitar", "piano", "violin", "melody", "concert", "orchestra"],
          ["planet", "galaxy", "orbit", "telescope", "asteroid", "comet"]]


def _corpus(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    return [[g[k] for k in rng.integers(0, 6, 8)] for g in (GROUPS[i] for i in rng.integers(0, 4, n))]


@pytest.mark.parametrize("sg", [0, 1])
def test_fasttext_learns_groups_and_misspellings(sg):
    model = FastText(_corpus(), vector_size=24, window=3, min_count=1, epochs=5, workers=1, sg=sg,
                     bucket=5000, seed=3)
    wv = model.wv
    for miss, word, g in (("guitr", "guitar", 2), ("telescop", "telescope", 3), ("kitchn", "kitchen", 1)):
        assert miss not in wv.key_to_index and miss in wv
        # close to its word, and to the rest of its group, which shares no n-gram with it: learnt
        others = [w for w in GROUPS[g] if w != word]
        outside = [w for i, grp in enumerate(GROUPS) if i != g for w in grp]
        assert wv.similarity(miss, word) > max(wv.similarity(miss, w) for w in outside)
        assert np.mean([wv.similarity(miss, w) for w in others]) > max(wv.similarity(miss, w) for w in outside)
        assert wv.most_similar(miss, topn=6)[0][0] in GROUPS[g]


def test_vectors_are_means_of_rows(tmp_path):
    model = FastText(_corpus(200), vector_size=8, min_count=1, epochs=1, workers=1, bucket=97, min_n=2, max_n=4)
    wv = model.wv
    for word in ("piano", "zzqx", "ab"):          # known, unknown, unknown and short
        rows = [ft_hash_reference(g) % 97 for g in ngrams_reference(word, 2, 4)]
        mean = model.vectors_ngrams[rows].sum(axis=0)
        if word in wv.key_to_index:
            mean = (mean + model.vectors_vocab[wv.key_to_index[word]]) / (len(rows) + 1)
        else:
            mean = mean / len(rows)
        np.testing.assert_allclose(wv[word], mean, rtol=1e-5, atol=1e-7)
    model.save(tmp_path / "ft.safetensors")
    back = FastText.load(tmp_path / "ft.safetensors")
    np.testing.assert_array_equal(back.wv["zzqx"], wv["zzqx"])
    np.testing.assert_array_equal(back.wv.vectors, wv.vectors)
    assert back.train(_corpus(50), epochs=1)[0] > 0


def test_fasttext_repeatable_and_threads():
    kw = dict(vector_size=8, min_count=1, epochs=2, bucket=500, batch_words=300)
    a, b = FastText(_corpus(300), workers=1, **kw), FastText(_corpus(300), workers=1, **kw)
    np.testing.assert_array_equal(a.wv.vectors, b.wv.vectors)
    calls = []
    c = FastText(_corpus(300), workers=2, progress=lambda done, total, lr: calls.append((done, total, lr)), **kw)
    assert np.isfinite(c.wv.vectors).all()
    assert calls[-1][0] == calls[-1][1] == 2 * 300 * 8
    lrs = [lr for _, _, lr in sorted(calls, key=lambda x: x[0])]
    assert max(lrs) <= 0.025 and min(lrs) < max(lrs)  # alpha decays (2 workers report in any order)


def test_fasttext_bad_input():
    with pytest.raises(ValueError, match="hs=0 and negative=0"):
        FastText(hs=0, negative=0)
    with pytest.raises(ValueError, match="min_count=5"):
        FastText([["a", "b"]])
    with pytest.raises(ValueError, match="not both"):
        FastText([["a"]], corpus_file="c.txt")
    with pytest.raises(ValueError, match="bucket"):
        FastText(bucket=-1)
    model = FastText(_corpus(20), min_count=1, bucket=0, vector_size=4)   # no n-grams: plain word2vec
    with pytest.raises(KeyError, match="zzz"):
        model.wv["zzz"]
