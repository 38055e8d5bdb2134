"""Corpora and token ids: the built-in corpus, loading files and folders with
clear errors, train/val split, random and sequential (B, T) windows, and
ids on disk as uint16/uint32 memmaps."""
import numpy as np
import pytest

import tinylm as tl
from tinylm.data import (builtin_corpus, load_corpus, load_ids, load_text, random_windows, save_ids,
                         sequential_windows, split_ids)
from tinylm.data.tokens import num_sequential_batches

# ---- corpora ---------------------------------------------------------------


def test_builtin_corpus_is_large_english_and_deterministic():
    text = builtin_corpus()
    assert len(text) > 400_000
    assert text == builtin_corpus() == load_corpus() == load_corpus("builtin")
    from pydoc_data.topics import topics
    assert text.startswith(topics[min(topics)]) and text.endswith(topics[max(topics)])
    assert text.count(" the ") > 3000  # English prose


def test_load_file_and_folder(tmp_path):
    (tmp_path / "one.txt").write_text("héllo\n", encoding="utf-8")
    assert load_text(tmp_path / "one.txt") == "héllo\n"
    assert load_corpus(str(tmp_path / "one.txt")) == "héllo\n"
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbfwith a BOM")
    assert load_text(tmp_path / "bom.txt") == "with a BOM"
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "b.txt").write_text("second")
    (folder / "a.txt").write_text("first")
    (folder / "sub" / "c.txt").write_text("third")
    (folder / "notes.md").write_text("not a .txt file")
    assert load_text(folder) == "first\nsecond\nthird"


def test_corpus_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.txt.*does not exist"):
        load_corpus(tmp_path / "nowhere.txt")
    (tmp_path / "empty.txt").write_text(" \n\t\n")
    with pytest.raises(ValueError, match="empty.txt.*is empty"):
        load_text(tmp_path / "empty.txt")
    # "caf\xe9" is Latin-1: byte 7 (after "abc\ncaf") starts no UTF-8 character
    (tmp_path / "latin1.txt").write_bytes("abc\ncafé ok".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.txt' is not UTF-8 text: byte 7 \(0xe9"):
        load_text(tmp_path / "latin1.txt")
    (tmp_path / "bom_bad.txt").write_bytes(b"\xef\xbb\xbfab\xff")
    with pytest.raises(ValueError, match="byte 5 "):  # offsets count the BOM too
        load_text(tmp_path / "bom_bad.txt")
    (tmp_path / "folder").mkdir()
    with pytest.raises(ValueError, match="holds no .txt files"):
        load_text(tmp_path / "folder")


# ---- split and windows -----------------------------------------------------


def test_split_is_contiguous_like_nanogpt():
    ids = np.arange(1000)
    train, val = split_ids(ids, 0.1)
    np.testing.assert_array_equal(train, np.arange(900))
    np.testing.assert_array_equal(val, np.arange(900, 1000))
    with pytest.raises(ValueError, match="val_fraction must be in"):
        split_ids(ids, 1.0)
    with pytest.raises(ValueError, match="1 token\\(s\\) are too few"):
        split_ids([5], 0.1)


def test_random_windows_shapes_targets_and_seed():
    ids = (np.arange(500) * 7) % 101   # distinct neighbours, so a wrong shift shows
    tl.manual_seed(123)
    x, y = random_windows(ids, 8, 16)
    assert x.shape == (8, 16) and y.shape == (8, 16)
    assert x.dtype == tl.int64 and y.dtype == tl.int64
    xd, yd = x.numpy(), y.numpy()
    np.testing.assert_array_equal(xd[:, 1:], yd[:, :-1])
    for row_x, row_y in zip(xd, yd):   # each row is a real window of ids, y its next tokens
        start = int(np.flatnonzero(ids == row_x[0])[0])
        np.testing.assert_array_equal(row_x, ids[start:start + 16])
        np.testing.assert_array_equal(row_y, ids[start + 1:start + 17])
    tl.manual_seed(123)
    x2, y2 = random_windows(ids, 8, 16)
    np.testing.assert_array_equal(x2.numpy(), xd)
    np.testing.assert_array_equal(y2.numpy(), yd)
    x3, _ = random_windows(ids, 8, 16)
    assert not np.array_equal(x3.numpy(), xd)


def test_random_windows_reach_both_ends():
    ids = np.arange(12)
    tl.manual_seed(0)
    starts = {int(random_windows(ids, 64, 4)[0].numpy()[b, 0]) for b in range(64)}
    assert starts == set(range(8))  # every start whose window and next token fit: 0..12-4-1


def test_sequential_windows_cover_the_data_in_order():
    ids = np.arange(103)
    batches = list(sequential_windows(ids, 4, 10))
    assert [x.shape for x, _ in batches] == [(4, 10), (4, 10), (2, 10)]
    assert len(batches) == num_sequential_batches(103, 4, 10)
    x = np.concatenate([b[0].numpy() for b in batches]).ravel()
    y = np.concatenate([b[1].numpy() for b in batches]).ravel()
    np.testing.assert_array_equal(x, np.arange(100))
    np.testing.assert_array_equal(y, np.arange(1, 101))
    dropped = list(sequential_windows(ids, 4, 10, drop_last=True))
    assert len(dropped) == 2 == num_sequential_batches(103, 4, 10, drop_last=True)


def test_windows_need_block_size_plus_one_tokens():
    with pytest.raises(ValueError, match="the data has 8 tokens, but a window of block_size 8 needs "
                                         "block_size \\+ 1 = 9"):
        random_windows(np.arange(8), 2, 8)
    with pytest.raises(ValueError, match="has 5 tokens.*block_size 16"):
        next(sequential_windows(np.arange(5), 2, 16))
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        random_windows(np.arange(50), 0, 8)
    with pytest.raises(ValueError, match="1-D array of integer token ids"):
        random_windows(np.zeros((5, 5)), 2, 2)


# ---- ids on disk -----------------------------------------------------------


@pytest.mark.parametrize("vocab_size, dtype", [(96, np.uint16), (65536, np.uint16), (65537, np.uint32),
                                               (100_000, np.uint32)])
def test_ids_memmap_round_trip(tmp_path, vocab_size, dtype):
    ids = np.random.default_rng(0).integers(0, vocab_size, 5000)
    ids[0] = vocab_size - 1
    path = tmp_path / "train.bin"
    assert save_ids(path, ids, vocab_size) == dtype
    assert path.stat().st_size == 5000 * np.dtype(dtype).itemsize   # raw ids, no header
    back = load_ids(path)
    assert isinstance(back, np.memmap) and back.dtype == dtype and back.shape == (5000,)
    np.testing.assert_array_equal(back, ids)
    tl.manual_seed(1)
    x, y = random_windows(back, 4, 32)   # windows gather straight from the memmap
    np.testing.assert_array_equal(x.numpy()[:, 1:], y.numpy()[:, :-1])


def test_ids_file_errors(tmp_path):
    path = tmp_path / "ids.bin"
    with pytest.raises(ValueError, match=r"ids must lie in \[0, vocab_size=10\), got 0..12"):
        save_ids(path, np.arange(13), vocab_size=10)
    save_ids(path, np.arange(100))
    assert load_ids(path).dtype == np.uint16
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(ValueError, match="ids.bin' has 198 bytes, but 100 uint16 ids take 200"):
        load_ids(path)
    with pytest.raises(FileNotFoundError, match="other.bin"):
        load_ids(tmp_path / "other.bin")
    save_ids(tmp_path / "empty.bin", np.zeros(0, np.int64))
    assert load_ids(tmp_path / "empty.bin").size == 0
