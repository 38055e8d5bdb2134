"""`tinylm wordvec train` / `query`: every model trains from the command line
and writes vectors that KeyedVectors reads back; queries print what
most_similar says; mistakes exit 2 with one line naming the problem."""
import re

import numpy as np
import pytest

from tinylm.cli import main
from tinylm.wordvec import KeyedVectors

GROUPS = [["red", "green", "blue", "yellow"], ["cat", "dog", "horse", "cow"], ["one", "two", "three", "four"]]
SMALL = ["--vector-size", "8", "--epochs", "2", "--min-count", "1", "--workers", "1", "--no-progress"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = np.random.default_rng(0)
    lines = [" ".join(GROUPS[g][k] for k in rng.integers(0, 4, 6)) for g in rng.integers(0, 3, 300)]
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def vectors(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("vectors") / "glove.txt"
    assert main(["wordvec", "train", "--model", "glove", "--corpus", str(corpus), "--out", str(out), *SMALL,
                 "--epochs", "20", "--window", "3"]) == 0
    return out


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("model,extra", [("word2vec", ["--sg", "1"]), ("fasttext", ["--bucket", "1000"]),
                                         ("glove", ["--x-max", "10"])])
@pytest.mark.parametrize("binary", [False, True])
def test_train_writes_word2vec_format(corpus, tmp_path, capsys, model, extra, binary):
    out = tmp_path / "v.bin"
    code, stdout, err = run_cli(capsys, "wordvec", "train", "--model", model, "--corpus", corpus, "--out", out,
                                *SMALL, *extra, *(["--binary"] if binary else []))
    assert code == 0, err
    kv = KeyedVectors.load_word2vec_format(out, binary=binary)
    assert sorted(kv.index_to_key) == sorted(w for g in GROUPS for w in g)
    assert kv.vector_size == 8 and np.isfinite(kv.vectors).all()
    assert "12 words in the vocabulary" in stdout and "words/s" in stdout


def test_train_progress_bar_shows_rate_and_lr(corpus, tmp_path, capsys):
    code, _, err = run_cli(capsys, "wordvec", "train", "--model", "fasttext", "--corpus", corpus,
                           "--out", tmp_path / "v.txt", *SMALL[:-1], "--bucket", "100")
    assert code == 0
    assert "word/s" in err and "lr=0.0" in err and "100%" in err


def test_train_saves_model_that_loads(corpus, tmp_path, capsys):
    from tinylm.wordvec.fasttext import FastText
    code, _, _ = run_cli(capsys, "wordvec", "train", "--model", "fasttext", "--corpus", corpus, "--out",
                         tmp_path / "v.txt", "--save-model", tmp_path / "ft.safetensors", *SMALL, "--bucket", "100")
    assert code == 0
    model = FastText.load(tmp_path / "ft.safetensors")
    kv = KeyedVectors.load_word2vec_format(tmp_path / "v.txt")
    np.testing.assert_allclose(model.wv[kv.index_to_key], kv.vectors, rtol=1e-6)


def test_query_nearest_and_analogy(vectors, capsys):
    kv = KeyedVectors.load_word2vec_format(vectors)
    code, out, _ = run_cli(capsys, "wordvec", "query", "--vectors", vectors, "--word", "cat", "--topn", "3")
    assert code == 0
    rows = [line.split("\t") for line in out.splitlines()]
    assert [(w, float(s)) for w, s in rows] == [(w, pytest.approx(s, abs=1e-4)) for w, s in
                                                kv.most_similar("cat", topn=3)]
    assert all(w in GROUPS[1] for w, _ in rows)       # the grouped corpus is learnt
    code, out, _ = run_cli(capsys, "wordvec", "query", "--vectors", vectors, "--positive", "dog", "red",
                           "--negative", "cat", "--topn", "2")
    assert code == 0
    want = kv.most_similar(positive=["dog", "red"], negative=["cat"], topn=2)
    assert [line.split("\t")[0] for line in out.splitlines()] == [w for w, _ in want]


@pytest.mark.parametrize("argv,message", [
    (["query", "--word", "zebra"], "not in the vocabulary of .*'zebra'"),
    (["query", "--positive", "cat", "unicorn", "--negative", "gnu"], "'unicorn', 'gnu'"),
    (["query", "--word", "cat", "--topn", "0"], "--topn must be at least 1"),
    (["query", "--word", "cat", "--positive", "dog"], "not both"),
    (["query"], "give --word"),
])
def test_query_errors(vectors, capsys, argv, message):
    code, _, err = run_cli(capsys, "wordvec", *argv, "--vectors", vectors)
    assert code == 2
    assert err.startswith("tinylm: error:") and len(err.strip().splitlines()) == 1
    assert re.search(message, err), err


def test_train_and_query_errors(corpus, tmp_path, capsys):
    out = ["--out", tmp_path / "v.txt"]
    cases = [
        (["train", "--corpus", tmp_path / "missing.txt", *out], "missing.txt"),
        (["train", "--corpus", tmp_path, *out], "is a folder"),
        (["train", "--model", "glove", "--corpus", corpus, "--sg", "1", *out], "glove does not take --sg"),
        (["train", "--model", "word2vec", "--corpus", corpus, "--bucket", "10", *out], "does not take --bucket"),
        (["train", "--corpus", corpus, "--vector-size", "0", *out], "--vector-size must be at least 1"),
        (["train", "--corpus", corpus, "--min-count", "1000", *out], "min_count=1000"),
        (["query", "--vectors", tmp_path / "nope.txt", "--word", "a"], "nope.txt"),
    ]
    (tmp_path / "empty.txt").write_text("\n\n", encoding="utf-8")
    cases.append((["train", "--corpus", tmp_path / "empty.txt", *out], "holds no words"))
    for argv, message in cases:
        code, _, err = run_cli(capsys, "wordvec", *argv)
        assert code == 2 and message in err, (argv, err)
