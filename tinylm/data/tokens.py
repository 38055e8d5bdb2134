"""Token ids for language-model training, as in nanoGPT's train.py:

split_ids(ids, val_fraction)              train = the first part, val = the last
                                          val_fraction of the ids (contiguous,
                                          so no window straddles the two)
random_windows(ids, batch_size, block_size)
                                          (x, y) int64 tensors of shape (B, T):
                                          B windows at random starts, y = x
                                          shifted left by one (the next tokens)
sequential_windows(ids, batch_size, block_size, drop_last=False)
                                          for evaluation: the windows that tile
                                          the ids in order, B at a time
save_ids(path, ids) / load_ids(path)      ids on disk as raw uint16 (or uint32
                                          when the ids need more than 16 bits),
                                          loaded back as a read-only np.memmap

Random starts come from tinylm's one generator (tinylm/random.py), so
tl.manual_seed(s) repeats the batches. Every function accepts a 1-D
integer array, a list or a memmap; windows are gathered from a memmap
without reading the rest of the file.
"""
import json
import os

import numpy as np

from .. import random as _random
from ..creation import from_numpy


def _as_ids(ids, where):
    if not isinstance(ids, np.ndarray):
        ids = np.asarray(ids)
    if ids.ndim != 1 or not (np.issubdtype(ids.dtype, np.integer) or ids.size == 0):
        raise ValueError(f"{where}: expected a 1-D array of integer token ids, got shape "
                         f"{ids.shape} and dtype {ids.dtype}")
    return ids


def _check_windows(ids, batch_size, block_size, where):
    ids = _as_ids(ids, where)
    for name, v in (("batch_size", batch_size), ("block_size", block_size)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{where}: {name} must be a positive int, got {v!r}")
    if len(ids) < block_size + 1:
        raise ValueError(f"{where}: the data has {len(ids)} tokens, but a window of block_size "
                         f"{block_size} needs block_size + 1 = {block_size + 1} (inputs and the "
                         f"next token); use more text or a smaller block_size")
    return ids


def split_ids(ids, val_fraction=0.1):
    """(train, val): views of the first and last parts of ids (nanoGPT's 90/10 split by default)."""
    ids = _as_ids(ids, "split_ids")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"split_ids: val_fraction must be in [0, 1), got {val_fraction}")
    n_train = int(len(ids) * (1 - val_fraction))
    if n_train == 0 or (val_fraction > 0 and n_train == len(ids)):
        raise ValueError(f"split_ids: {len(ids)} token(s) are too few to split with "
                         f"val_fraction={val_fraction}")
    return ids[:n_train], ids[n_train:]


def _windows(ids, starts, block_size):
    """x, y (B, T) int64 tensors for windows starting at starts (B,)."""
    idx = starts[:, None] + np.arange(block_size + 1)     # (B, T + 1)
    w = np.asarray(ids[idx], dtype=np.int64)              # a gather; reads only these tokens
    return from_numpy(np.ascontiguousarray(w[:, :-1])), from_numpy(np.ascontiguousarray(w[:, 1:]))


def random_windows(ids, batch_size, block_size):
    """x, y: (B, T) int64 tensors; row b is ids[s:s+T] and ids[s+1:s+T+1] for a random s."""
    ids = _check_windows(ids, batch_size, block_size, "random_windows")
    # as nanoGPT's torch.randint(len(data) - block_size, (batch_size,)): every start whose
    # window and next token fit, drawn as tl.randint draws
    starts = _random.generator().integers(0, len(ids) - block_size, size=batch_size, dtype=np.int64)
    return _windows(ids, starts, block_size)


def sequential_windows(ids, batch_size, block_size, drop_last=False):
    """Yield (x, y) batches of the windows ids[k*T:(k+1)*T] (targets one to the right), k = 0, 1, ...

    The n_windows = (len(ids) - 1) // block_size windows do not overlap and
    score every target but the last (len(ids) - 1) % block_size, which do not
    fill a window. The last batch holds the n_windows % batch_size windows
    left over (fewer rows), unless drop_last=True, which skips it."""
    ids = _check_windows(ids, batch_size, block_size, "sequential_windows")
    n_windows = (len(ids) - 1) // block_size
    for first in range(0, n_windows, batch_size):
        rows = min(batch_size, n_windows - first)
        if drop_last and rows < batch_size:
            return
        yield _windows(ids, (first + np.arange(rows, dtype=np.int64)) * block_size, block_size)


def num_sequential_batches(n_tokens, batch_size, block_size, drop_last=False):
    """How many batches sequential_windows yields for n_tokens ids (for progress bars)."""
    n_windows = max(0, (n_tokens - 1) // block_size)
    return n_windows // batch_size if drop_last else -(-n_windows // batch_size)


# ---- ids on disk ------------------------------------------------------------


def _sidecar(path):
    return os.fspath(path) + ".json"


def save_ids(path, ids, vocab_size=None):
    """Write ids as raw little-endian uint16 (vocab_size <= 65536) or uint32,
    with a JSON sidecar path + ".json" giving dtype, length and vocab_size.
    vocab_size defaults to max(ids) + 1."""
    ids = _as_ids(ids, "save_ids")
    lo, hi = (int(ids.min()), int(ids.max())) if ids.size else (0, -1)
    if vocab_size is None:
        vocab_size = hi + 1
    if lo < 0 or hi >= vocab_size:
        raise ValueError(f"save_ids: ids must lie in [0, vocab_size={vocab_size}), got {lo}..{hi}")
    if vocab_size > 2**32:
        raise ValueError(f"save_ids: vocab_size {vocab_size} does not fit in uint32")
    dtype = np.dtype("<u2") if vocab_size <= 2**16 else np.dtype("<u4")
    path = os.fspath(path)
    tmp = path + ".tmp"
    np.asarray(ids).astype(dtype).tofile(tmp)
    os.replace(tmp, path)
    with open(_sidecar(path), "w") as f:
        json.dump({"format": "tinylm token ids", "dtype": dtype.name, "length": int(ids.size),
                   "vocab_size": int(vocab_size)}, f)
        f.write("\n")
    return dtype


def load_ids(path):
    """The ids written by save_ids, as a read-only np.memmap (uint16 or uint32)."""
    path, meta_path = os.fspath(path), _sidecar(path)
    for p in (path, meta_path):
        if not os.path.isfile(p):
            raise FileNotFoundError(f"load_ids: {p!r} does not exist (save_ids writes the ids and "
                                    f"a .json sidecar beside them)")
    try:
        with open(meta_path) as f:
            meta = json.load(f)
        dtype, length = np.dtype(meta["dtype"]).newbyteorder("<"), int(meta["length"])
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"load_ids: {meta_path!r} is not a token-id sidecar: {e!r}") from None
    if dtype not in (np.dtype("<u2"), np.dtype("<u4")):
        raise ValueError(f"load_ids: {meta_path!r} gives dtype {meta['dtype']!r}; "
                         f"expected uint16 or uint32")
    size = os.path.getsize(path)
    if size != length * dtype.itemsize:
        raise ValueError(f"load_ids: {path!r} has {size} bytes, but {length} {dtype.name} ids "
                         f"take {length * dtype.itemsize}: the file is truncated or not the one "
                         f"{meta_path!r} describes")
    if length == 0:
        return np.zeros(0, dtype)  # np.memmap cannot map an empty file
    return np.memmap(path, dtype=dtype, mode="r", shape=(length,))
