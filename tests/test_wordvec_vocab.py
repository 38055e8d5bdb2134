"""tinylm.wordvec.vocab: counting, pruning, sorting, the sampling tables and the corpus readers.

Expected values are worked out by hand in the comments; the gensim tests
(skipped without gensim) check that the same corpus gives gensim's
vocabulary, counts, sample_int and cum_table."""
import numpy as np
import pytest

from tinylm.wordvec import Vocab, read_corpus, sentences_from_text

SENTENCES = [["the", "cat", "sat"], ["the", "dog", "sat", "down"], ["a", "cat", "the", "end"]]


def test_counts_sorted_by_count_then_last_seen_first():
    v = Vocab(SENTENCES, min_count=1)
    # the: 3, sat: 2, cat: 2 (ties: the word first seen later comes first, as in gensim),
    # then the singletons, last-seen first
    assert v.words == ["the", "sat", "cat", "end", "a", "down", "dog"]
    assert v.counts.tolist() == [3, 2, 2, 1, 1, 1, 1]
    assert v.index["sat"] == 1 and "cat" in v and "cow" not in v and len(v) == 7
    assert v.total_words == v.retained_words == 11 and v.corpus_count == 3


def test_min_count_drops_rare_words_but_total_counts_them():
    v = Vocab(SENTENCES, min_count=2)
    assert v.words == ["the", "sat", "cat"]
    assert v.total_words == 11 and v.retained_words == 7


def test_max_vocab_size_prunes_while_scanning_like_gensim():
    # max 3: after sentence 2 the raw vocab holds 5 words > 3 -> drop counts < 1 (none), min_reduce=2;
    # after sentence 3 it holds 8 > 3 -> drop counts < 2: only the (3) and sat (2) and cat (2) survive
    v = Vocab(SENTENCES, min_count=1, max_vocab_size=3)
    assert v.words == ["the", "sat", "cat"] and v.counts.tolist() == [3, 2, 2]
    # a word pruned early and seen again restarts from zero
    s = [["x", "y"], ["z"], ["y"], ["y"]]
    # after s1: {x:1, y:1} (2 <= 2); after s2: 3 > 2 -> drop < 1 (none), min_reduce 2;
    # after s3 {x:1,y:2,z:1}: 3 > 2 -> drop < 2 -> {y:2}; after s4 {y:3}
    assert Vocab(s, min_count=1, max_vocab_size=2).counts.tolist() == [3]


def test_encode_and_encode_corpus():
    v = Vocab(SENTENCES, min_count=2)          # the=0 sat=1 cat=2
    np.testing.assert_array_equal(v.encode(["the", "cow", "sat"]), [0, 1])
    ids, offsets = v.encode_corpus(SENTENCES + [["cow"]])
    assert ids.dtype == np.int32 and offsets.dtype == np.int64
    assert ids.tolist() == [0, 2, 1, 0, 1, 2, 0]
    assert offsets.tolist() == [0, 3, 5, 7, 7]     # the OOV-only sentence stays, empty


def test_keep_thresholds_formula():
    v = Vocab.from_counts(["a", "b", "c"], [1000, 10, 1])
    keep = v.keep_thresholds(1e-2)
    t = 1e-2 * 1011                               # threshold count = sample * retained words
    p_a = (np.sqrt(1000 / t) + 1) * t / 1000      # 0.1107..: "a" is kept ~11% of the time
    assert keep[0] == np.uint32(p_a * (2**32 - 1))
    assert keep[1] == keep[2] == 2**32 - 1        # p >= 1: always kept
    assert (v.keep_thresholds(0) == 2**32 - 1).all()


def test_cum_table():
    v = Vocab.from_counts(["a", "b"], [16, 1])
    # 16**0.75 = 8, 1**0.75 = 1: cum = [8/9, 1] * (2**31 - 1)
    assert v.cum_table(0.75).tolist() == [round(8 / 9 * (2**31 - 1)), 2**31 - 1]
    assert v.cum_table(0.0).tolist() == [round(0.5 * (2**31 - 1)), 2**31 - 1]


def test_errors():
    with pytest.raises(ValueError, match="corpus is empty"):
        Vocab([[], []])
    with pytest.raises(ValueError, match=r"min_count=5.*11 tokens"):
        Vocab(SENTENCES, min_count=5)
    with pytest.raises(TypeError, match="list of tokens"):
        Vocab(["a sentence as a string"])
    with pytest.raises(ValueError, match="min_count"):
        Vocab(SENTENCES, min_count=0)
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_corpus("nope.txt")


def test_read_corpus_file(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("the cat  sat\n\n  a\tdog \n" + " ".join(["w"] * 5) + "\n", encoding="utf-8")
    assert read_corpus(path, max_sentence_length=2) == [["the", "cat"], ["sat"], ["a", "dog"],
                                                        ["w", "w"], ["w", "w"], ["w"]]
    assert read_corpus(SENTENCES) == SENTENCES
    assert read_corpus(iter([("a", "b")])) == [["a", "b"]]
    with pytest.raises(TypeError, match="sentence 1 must be a list of str tokens, got str"):
        read_corpus([["ok"], "not split"])
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9\n")
    with pytest.raises(ValueError, match="not UTF-8"):
        read_corpus(tmp_path / "bad.txt")


def test_sentences_from_text():
    assert sentences_from_text("The cat sat. A dog ran!") == [["the", "cat", "sat", "."],
                                                              ["a", "dog", "ran", "!"]]


def test_matches_gensim_vocab():
    gensim = pytest.importorskip("gensim")
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)]
    zipf = 1.0 / np.arange(1, 301)
    sents = [list(rng.choice(words, size=rng.integers(1, 30), p=zipf / zipf.sum())) for _ in range(400)]
    for max_vocab_size in (None, 60):
        g = gensim.models.Word2Vec(vector_size=8, min_count=2, sample=1e-2, max_vocab_size=max_vocab_size)
        g.build_vocab(sents)
        v = Vocab(sents, min_count=2, max_vocab_size=max_vocab_size)
        assert v.words == g.wv.index_to_key
        np.testing.assert_array_equal(v.counts, g.wv.expandos["count"])
        np.testing.assert_array_equal(v.keep_thresholds(1e-2), g.wv.expandos["sample_int"])
        np.testing.assert_array_equal(v.cum_table(0.75), g.cum_table)
        assert v.total_words == g.corpus_total_words
