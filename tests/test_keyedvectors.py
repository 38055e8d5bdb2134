"""tinylm.wordvec.KeyedVectors: queries, evaluation and the word2vec formats.

Small hand-made vectors give answers checked by hand or by a plain loop;
the gensim tests (skipped without gensim) compare with gensim's
KeyedVectors on its own WordSim-353 / questions-words.txt files and read
each other's word2vec files."""
import math

import numpy as np
import pytest

from tinylm.wordvec import KeyedVectors
from tinylm.wordvec.stats import pearson, rankdata, spearman, t_pvalue

WORDS = ["king", "queen", "man", "woman", "apple", "King"]
VECS = np.array([[1, 1, 0], [1, 0, 1], [0, 1, 0], [0, 0, 1], [4, -5, 0], [1, 1, 0.1]], np.float32)


@pytest.fixture
def kv():
    return KeyedVectors(WORDS, VECS)


def unit(v):
    return v / np.linalg.norm(v)


def test_lookup(kv):
    np.testing.assert_array_equal(kv["queen"], VECS[1])
    np.testing.assert_array_equal(kv[["man", "king"]], VECS[[2, 0]])
    assert "man" in kv and "boy" not in kv and len(kv) == 6 and kv.vector_size == 3
    np.testing.assert_allclose(kv.get_vector("apple", norm=True), unit(VECS[4]), rtol=1e-6)
    with pytest.raises(KeyError, match="'boy', 'girl'"):
        kv[["man", "boy", "girl"]]
    with pytest.raises(KeyError, match="'boy'"):
        kv.most_similar("boy")
    with pytest.raises(ValueError, match="shape"):
        KeyedVectors(["a"], np.zeros((2, 3)))


def test_similarities(kv):
    assert kv.similarity("king", "man") == pytest.approx(1 / math.sqrt(2), rel=1e-6)
    assert kv.distance("king", "queen") == pytest.approx(0.5, rel=1e-6)   # cos = 1/2
    np.testing.assert_allclose(kv.distances("man", ["woman", "king"]), [1.0, 1 - 1 / math.sqrt(2)], rtol=1e-6)
    assert kv.n_similarity(["man", "woman"], ["queen"]) == pytest.approx(
        float(unit(np.array([0, 0.5, 0.5])) @ unit(VECS[1])), rel=1e-6)
    # mean of the unit vectors of king, King, queen, apple ~ (0.73, 0.19, 0.20): apple has the smallest cosine
    assert kv.doesnt_match(["king", "King", "queen", "apple", "unknown"]) == "apple"


def test_most_similar_matches_a_loop(kv):
    # king - man + woman, on unit vectors, query words excluded
    q = unit(unit(VECS[0]) - unit(VECS[2]) + unit(VECS[3]))
    cos = {w: float(unit(v) @ q) for w, v in zip(WORDS, VECS) if w not in ("king", "man", "woman")}
    expected = sorted(cos.items(), key=lambda kv_: -kv_[1])
    got = kv.most_similar(positive=["king", "woman"], negative=["man"], topn=3)
    assert [w for w, _ in got] == [w for w, _ in expected]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], rtol=1e-5)
    assert got[0][0] == "queen"
    assert [w for w, _ in kv.most_similar("king", topn=2, restrict_vocab=3)] == ["man", "queen"]
    assert kv.most_similar("king", topn=None).shape == (6,)
    # a vector query, and a weighted word
    assert kv.similar_by_vector(np.array([0, 0, 1.0]), topn=1)[0][0] == "woman"
    assert kv.most_similar([("woman", 2.0), "man"], topn=1)[0][0] == "queen"


def test_stats_against_closed_forms():
    x, y = [1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0]
    r = np.corrcoef(x, y)[0, 1]                       # 0.8
    # n = 4 -> df = 2: two-sided p = 1 - |t| / sqrt(t^2 + 2)
    t = r * math.sqrt(2 / (1 - r * r))
    assert pearson(x, y) == pytest.approx((r, 1 - abs(t) / math.sqrt(t * t + 2)), rel=1e-12)
    # n = 3 -> df = 1 (Cauchy): p = 1 - 2/pi * atan(|t|)
    r3, p3 = pearson([1.0, 2.0, 3.0], [1.0, 3.0, 2.0])
    t3 = r3 * math.sqrt(1 / (1 - r3 * r3))
    assert p3 == pytest.approx(1 - 2 / math.pi * math.atan(abs(t3)), rel=1e-12)
    assert rankdata([10, 20, 10, 5]).tolist() == [2.5, 4.0, 2.5, 1.0]
    assert spearman([1, 2, 3], [30, 20, 10])[0] == pytest.approx(-1.0)
    assert math.isnan(t_pvalue(0.3, 2))


def test_evaluate_word_pairs(kv, tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("# comment\nKING\tqueen\t8\nman\twoman\t6\nking\tman\t5\napple\tqueen\t1\n"
                    "boy\tgirl\t7\n", encoding="utf-8")
    (pr, pp), (sr, sp), oov = kv.evaluate_word_pairs(path)
    # KING upper-cases to the first (most frequent) form, "king"
    model = [0.5, 0.0, 1 / math.sqrt(2), float(unit(VECS[4]) @ unit(VECS[1]))]
    gold = [8, 6, 5, 1]
    assert pr == pytest.approx(np.corrcoef(gold, model)[0, 1], rel=1e-5)
    assert sr == pytest.approx(np.corrcoef([4, 3, 2, 1], [3, 1, 4, 2])[0, 1], rel=1e-6)  # ranks by hand
    assert oov == pytest.approx(20.0)                                  # 1 of 5 pairs unknown
    assert 0 < pp < 1 and sp == pytest.approx(1.0)   # ranks uncorrelated (rho = 0): p = 1
    # dummy4unknown: the unknown pair counts with similarity 0 (so all 5 pairs are kept)
    assert kv.evaluate_word_pairs(path, dummy4unknown=True)[2] == pytest.approx(20.0)
    path.write_text("king queen 8\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 1"):
        kv.evaluate_word_pairs(path)
    path.write_text("boy\tgirl\t8\n", encoding="utf-8")
    with pytest.raises(ValueError, match="1 pairs out of vocabulary"):
        kv.evaluate_word_pairs(path)


def test_evaluate_word_analogies(kv, tmp_path):
    path = tmp_path / "q.txt"
    path.write_text(": royal\nman king woman queen\nman woman king queen\nman king woman apple\n"
                    ": other\nman boy woman girl\n", encoding="utf-8")
    score, sections = kv.evaluate_word_analogies(path)
    # q1: king - man + woman -> queen (the loop test above); q2: woman - man + king -> queen
    # q3 expects apple: wrong; q4 is out of vocabulary and skipped
    assert score == pytest.approx(2 / 3)
    assert [s["section"] for s in sections] == ["royal", "other", "Total accuracy"]
    assert sections[0]["correct"] == [("MAN", "KING", "WOMAN", "QUEEN"), ("MAN", "WOMAN", "KING", "QUEEN")]
    assert len(sections[2]["incorrect"]) == 1 and kv.analogy_oov == 1
    path.write_text("man king woman queen\n", encoding="utf-8")
    with pytest.raises(ValueError, match="section"):
        kv.evaluate_word_analogies(path)
    path.write_text(": s\nman king woman\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: expected 4 words"):
        kv.evaluate_word_analogies(path)


@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_format_round_trip(kv, tmp_path, binary):
    path = tmp_path / "v.w2v"
    kv.vectors = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    kv.save_word2vec_format(path, binary=binary)
    back = KeyedVectors.load_word2vec_format(path, binary=binary)
    assert back.index_to_key == WORDS
    np.testing.assert_array_equal(back.vectors, kv.vectors)      # float32 exactly, text too
    assert KeyedVectors.load_word2vec_format(path, binary=binary, limit=2).index_to_key == WORDS[:2]
    data = path.read_bytes()
    path.write_bytes(data[:-7] if binary else data[:len(data) // 2])   # a text line may lose values only
    with pytest.raises(ValueError, match="truncated|values"):
        KeyedVectors.load_word2vec_format(path, binary=binary)
    if binary:
        path.write_bytes(b"6 3\nki")
        with pytest.raises(ValueError, match="truncated: the file ends inside word 1 of 6"):
            KeyedVectors.load_word2vec_format(path, binary=True)


def test_word2vec_format_errors(kv, tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("2 3\na 1 2 3\nb 1 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 3: expected a word and 3 values, got 2 values \(word 'b'\)"):
        KeyedVectors.load_word2vec_format(path)
    path.write_text("2 3\na 1 2 3\nb 1 2 x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="'b' has a value that is not a number"):
        KeyedVectors.load_word2vec_format(path)
    path.write_text("hello\n", encoding="utf-8")
    with pytest.raises(ValueError, match="first line"):
        KeyedVectors.load_word2vec_format(path)
    with pytest.raises(ValueError, match="whitespace"):
        KeyedVectors(["a b"], np.zeros((1, 2))).save_word2vec_format(tmp_path / "w.txt")


@pytest.mark.parametrize("binary", [False, True])
def test_gensim_reads_ours_and_we_read_gensims(kv, tmp_path, binary):
    models = pytest.importorskip("gensim.models")
    kv.vectors = np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32)
    kv.save_word2vec_format(tmp_path / "ours", binary=binary)
    g = models.KeyedVectors.load_word2vec_format(tmp_path / "ours", binary=binary)
    assert g.index_to_key == WORDS
    np.testing.assert_array_equal(g.vectors, kv.vectors)
    g.save_word2vec_format(tmp_path / "theirs", binary=binary)
    back = KeyedVectors.load_word2vec_format(tmp_path / "theirs", binary=binary)
    assert back.index_to_key == WORDS
    np.testing.assert_array_equal(back.vectors, kv.vectors)


def test_evaluation_matches_gensim_on_its_test_data():
    gensim = pytest.importorskip("gensim")
    from gensim.test.utils import datapath
    words = []
    for line in open(datapath("questions-words.txt"), encoding="utf-8"):
        if not line.startswith(":"):
            words.extend(line.lower().split())
    pair_words = [w for line in open(datapath("wordsim353.tsv"), encoding="utf-8")
                  if not line.startswith("#") for w in line.split("\t")[:2]]
    # some questions and pairs stay out of vocabulary; case variants map to the first form
    words = sorted(set(words))[:400] + ["Paris", "ATHENS"] + sorted(set(pair_words) - set(words))[:300]
    vecs = np.random.default_rng(2).normal(size=(len(words), 16)).astype(np.float32)
    vecs[:, 0] += 0.5                  # correlated vectors, so some answers are right
    ours, theirs = KeyedVectors(words, vecs), gensim.models.KeyedVectors(16)
    theirs.add_vectors(words, vecs)
    for restrict in (300000, 500):
        a, b = ours.evaluate_word_pairs(datapath("wordsim353.tsv"), restrict_vocab=restrict), \
            theirs.evaluate_word_pairs(datapath("wordsim353.tsv"), restrict_vocab=restrict)
        flat = lambda r: [r[0][0], r[0][1], r[1][0], r[1][1], r[2]]   # noqa: E731
        np.testing.assert_allclose(flat(a), flat(b), rtol=1e-5)
        (sa, secs_a), (sb, secs_b) = ours.evaluate_word_analogies(datapath("questions-words.txt"),
                                                                  restrict_vocab=restrict), \
            theirs.evaluate_word_analogies(datapath("questions-words.txt"), restrict_vocab=restrict)
        assert sa == pytest.approx(sb) and sa > 0
        assert [len(s["correct"]) for s in secs_a] == [len(s["correct"]) for s in secs_b]
        assert [len(s["incorrect"]) for s in secs_a] == [len(s["incorrect"]) for s in secs_b]
