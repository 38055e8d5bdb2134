"""Byte-pair encoding over chunks of token ids: training (pair counting and
merging) and encoding, each a Numba kernel beside the plain NumPy/Python
reference it must match exactly (integer work: equal, not close).

Layout, shared by every function here: the pre-split chunks of a text live
in one int32 array `tok`, chunk c in tok[offsets[c]:offsets[c + 1]]
(offsets: int64, n_chunks + 1). A pair never spans two chunks. A pair (a, b)
is the int64 key a << 32 | b, so keys sort like (a, b) tuples.

Training: bpe_train(tok, offsets, weights, num_merges, first_id) ->
(merges (M, 2) int32, counts (M,) int64). `weights[c]` says how often chunk c
occurs: the tokenizer stores each distinct chunk once (as HuggingFace's
trainer does), and weighted pair counts equal the counts over the running
text. Merge m takes the most frequent adjacent pair, ties going to the
smallest (a, b), makes it token first_id + m and replaces its occurrences
left to right without overlap (minbpe's `merge`: a a a -> z a). It stops
early when no pair is left.
  reference: recount every pair after every merge, over one flat array with
    a -1 sentinel between chunks (np.unique + np.add.at).
  kernel: count once, then update incrementally. Each pair has a slot (a
    typed Dict maps key -> slot) holding its count and a linked list of the
    chunks it has occurred in (never pruned: a visit checks the chunk still
    holds the pair). A max-heap of (count, key) entries finds the best pair;
    an entry whose count is no longer its pair's count is stale and skipped
    when popped (lazy deletion). Merging a pair visits only the chunks on its
    list: their pairs are subtracted, the chunk is merged in place, its new
    pairs added back (new pairs all hold the new token, so only those join
    the lists), and every pair whose count changed gets a fresh heap entry.
    Work per merge is proportional to the chunks that hold the pair, not to
    the corpus.

Encoding: bpe_encode(tok, offsets, merges, first_id) -> (ids, offsets):
each chunk merged as far as the merges allow, by repeatedly merging its
lowest-ranked pair (minbpe's encode_chunk), which applies the merges in the
order they were learnt.
"""
import numpy as np
from numba import types
from numba.typed import Dict

from .jit import cpu_kernel

# ---- references ------------------------------------------------------------


def _merge_flat_reference(ids, a, b, z):
    """Replace each (a, b) in ids by z, left to right, without overlap."""
    hit = (ids[:-1] == a) & (ids[1:] == b)           # a pair starts at i
    if a == b:  # in a run of a's only every second position from the run's start starts a pair
        pos = np.arange(ids.size)
        is_a = ids == a
        run_start = np.maximum.accumulate(np.where(is_a & ~np.r_[False, is_a[:-1]], pos, 0))
        hit &= (pos[:-1] - run_start[:-1]) % 2 == 0
    starts = np.flatnonzero(hit)
    keep = np.ones(ids.size, bool)
    keep[starts + 1] = False
    out = ids.copy()
    out[starts] = z
    return out, keep


def bpe_train_reference(tok, offsets, weights, num_merges, first_id=256):
    """Recount every pair after every merge; same outputs as bpe_train."""
    n_chunks = len(offsets) - 1
    # one flat array, chunks separated by -1; w holds each position's chunk weight
    ids = np.full(len(tok) + n_chunks, -1, np.int64)
    w = np.zeros(ids.size, np.int64)
    where = np.arange(len(tok)) + np.repeat(np.arange(n_chunks), np.diff(offsets))
    ids[where] = tok
    w[where] = np.repeat(weights, np.diff(offsets))
    merges = np.zeros((num_merges, 2), np.int32)
    counts = np.zeros(num_merges, np.int64)
    for m in range(num_merges):
        ok = (ids[:-1] >= 0) & (ids[1:] >= 0)
        keys = (ids[:-1][ok] << 32) | ids[1:][ok]
        if keys.size == 0:
            return merges[:m], counts[:m]
        uniq, inverse = np.unique(keys, return_inverse=True)
        total = np.zeros(uniq.size, np.int64)
        np.add.at(total, inverse, w[:-1][ok])
        best = int(np.argmax(total))  # the first maximum: the smallest key, as keys are sorted
        a, b = int(uniq[best] >> 32), int(uniq[best] & 0xFFFFFFFF)
        merges[m] = a, b
        counts[m] = total[best]
        ids, keep = _merge_flat_reference(ids, a, b, first_id + m)
        ids, w = ids[keep], w[keep]
    return merges, counts


def _merge_list(ids, a, b, z):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == a and ids[i + 1] == b:
            out.append(z)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def bpe_encode_reference(tok, offsets, merges, first_id=256):
    """minbpe's encode_chunk on each chunk, in plain Python."""
    rank = {(int(a), int(b)): r for r, (a, b) in enumerate(merges)}
    out = []
    new_offsets = [0]
    for c in range(len(offsets) - 1):
        ids = [int(t) for t in tok[offsets[c]:offsets[c + 1]]]
        while len(ids) >= 2:
            pair = min(zip(ids, ids[1:]), key=lambda p: rank.get(p, np.inf))
            if pair not in rank:
                break
            ids = _merge_list(ids, *pair, first_id + rank[pair])
        out += ids
        new_offsets.append(len(out))
    return np.array(out, np.int32), np.array(new_offsets, np.int64)


# ---- Numba kernels ---------------------------------------------------------

KEY, COUNT, HEAD, LAST, STAMP, BEFORE = 0, 1, 2, 3, 4, 5  # columns of a pair's slot
CHUNK, NEXT = 0, 1                                       # columns of a list node


@cpu_kernel
def _key(a, b):
    return (np.int64(a) << 32) | np.int64(b)


@cpu_kernel
def _grow_rows(a, need, fill):
    """a, or a copy with at least `need` rows (new rows = fill)."""
    if need <= a.shape[0]:
        return a
    b = np.full((max(need, 2 * a.shape[0]), a.shape[1]), fill, a.dtype)
    b[:a.shape[0]] = a
    return b


@cpu_kernel
def _merge_chunk(tok, s0, n, a, b, z):
    """Merge (a, b) -> z in tok[s0:s0 + n] in place, left to right; returns the new length."""
    i = s0
    j = s0
    while i < s0 + n:
        if i + 1 < s0 + n and tok[i] == a and tok[i + 1] == b:
            tok[j] = z
            i += 2
        else:
            tok[j] = tok[i]
            i += 1
        j += 1
    return j - s0


@cpu_kernel
def _above(c1, k1, c2, k2):
    """Heap order: the higher count first, ties to the smaller pair."""
    return c1 > c2 or (c1 == c2 and k1 < k2)


@cpu_kernel
def _heap_push(heap, n, count, key):
    i = n
    while i > 0:
        p = (i - 1) // 2
        if not _above(count, key, heap[p, 0], heap[p, 1]):
            break
        heap[i] = heap[p]
        i = p
    heap[i, 0] = count
    heap[i, 1] = key
    return n + 1


@cpu_kernel
def _heap_pop(heap, n):
    """Drop the top entry (read it first); returns the new size."""
    n -= 1
    count, key = heap[n, 0], heap[n, 1]
    i = 0
    while 2 * i + 1 < n:
        j = 2 * i + 1
        if j + 1 < n and _above(heap[j + 1, 0], heap[j + 1, 1], heap[j, 0], heap[j, 1]):
            j += 1
        if not _above(heap[j, 0], heap[j, 1], count, key):
            break
        heap[i] = heap[j]
        i = j
    heap[i, 0] = count
    heap[i, 1] = key
    return n


@cpu_kernel
def _slot(slot_of, slots, n_slots, key):
    """The slot of `key`; a missing key gets slot n_slots (the caller counts it)."""
    if key in slot_of:
        s = slot_of[key]
    else:
        s = n_slots
        slot_of[key] = s
        slots[s, KEY] = key
        slots[s, COUNT] = 0
        slots[s, HEAD] = -1
        slots[s, LAST] = -1
        slots[s, STAMP] = -1
    return s


@cpu_kernel
def _link(slots, nodes, n_nodes, s, c):
    """Add chunk c to the list of slot s (unless it was the last one added)."""
    if slots[s, LAST] == c:
        return n_nodes
    slots[s, LAST] = c
    nodes[n_nodes, CHUNK] = c
    nodes[n_nodes, NEXT] = slots[s, HEAD]
    slots[s, HEAD] = n_nodes
    return n_nodes + 1


@cpu_kernel
def _touch(slots, touched, n_touched, s, m):
    """Remember slot s's count before merge m changes it (once per merge)."""
    if slots[s, STAMP] == m:
        return n_touched
    slots[s, STAMP] = m
    slots[s, BEFORE] = slots[s, COUNT]
    touched[n_touched, 0] = s
    return n_touched + 1


@cpu_kernel
def _bpe_train(merges, counts, tok, offsets, weights, first_id):
    """Fill merges (M, 2) and counts (M,); merges tok in place; returns how many merges were made."""
    n_chunks = offsets.size - 1
    lens = offsets[1:] - offsets[:-1]
    slot_of = Dict.empty(key_type=types.int64, value_type=types.int64)
    slots = np.full((1024, 6), -1, np.int64)
    nodes = np.full((1024, 2), -1, np.int64)
    n_slots = 0
    n_nodes = 0
    # 1. count every pair once
    for c in range(n_chunks):
        s0, n = offsets[c], lens[c]
        slots = _grow_rows(slots, n_slots + n, -1)
        nodes = _grow_rows(nodes, n_nodes + n, -1)
        for i in range(s0, s0 + n - 1):
            s = _slot(slot_of, slots, n_slots, _key(tok[i], tok[i + 1]))
            if s == n_slots:
                n_slots += 1
            slots[s, COUNT] += weights[c]
            n_nodes = _link(slots, nodes, n_nodes, s, c)
    heap = np.zeros((max(2 * n_slots, 1024), 2), np.int64)
    n_heap = 0
    for s in range(n_slots):
        n_heap = _heap_push(heap, n_heap, slots[s, COUNT], slots[s, KEY])
    touched = np.zeros((1024, 1), np.int64)
    visited = np.full(n_chunks, -1, np.int64)
    for m in range(merges.shape[0]):
        # 2. the best pair: pop until an entry holds its pair's current count
        best = -1
        while n_heap > 0 and best < 0:
            count, key = heap[0, 0], heap[0, 1]
            n_heap = _heap_pop(heap, n_heap)
            s = slot_of[key]
            if count > 0 and count == slots[s, COUNT]:
                best = s
        if best < 0:
            return m  # no pair left anywhere
        a, b, z = slots[best, KEY] >> 32, slots[best, KEY] & 0xFFFFFFFF, first_id + m
        merges[m, 0], merges[m, 1], counts[m] = a, b, slots[best, COUNT]
        # 3. merge it in every chunk on its list
        n_touched = 0
        node = slots[best, HEAD]
        while node != -1:
            c = nodes[node, CHUNK]
            node = nodes[node, NEXT]
            if visited[c] == m:
                continue
            visited[c] = m
            s0, n, w = offsets[c], lens[c], weights[c]
            holds = False
            for i in range(s0, s0 + n - 1):
                holds |= tok[i] == a and tok[i + 1] == b
            if not holds:
                continue  # a stale list entry: an earlier merge took the pair away
            slots = _grow_rows(slots, n_slots + n, -1)
            nodes = _grow_rows(nodes, n_nodes + n, -1)
            touched = _grow_rows(touched, n_touched + 2 * n, 0)
            for i in range(s0, s0 + n - 1):
                s = slot_of[_key(tok[i], tok[i + 1])]
                n_touched = _touch(slots, touched, n_touched, s, m)
                slots[s, COUNT] -= w
            n = _merge_chunk(tok, s0, n, a, b, z)
            lens[c] = n
            for i in range(s0, s0 + n - 1):
                s = _slot(slot_of, slots, n_slots, _key(tok[i], tok[i + 1]))
                if s == n_slots:
                    n_slots += 1
                n_touched = _touch(slots, touched, n_touched, s, m)
                slots[s, COUNT] += w
                if tok[i] == z or tok[i + 1] == z:
                    n_nodes = _link(slots, nodes, n_nodes, s, c)
        # 4. a fresh heap entry for every pair whose count changed
        heap = _grow_rows(heap, n_heap + n_touched, 0)
        for t in range(n_touched):
            s = touched[t, 0]
            if slots[s, COUNT] != slots[s, BEFORE] and slots[s, COUNT] > 0:
                n_heap = _heap_push(heap, n_heap, slots[s, COUNT], slots[s, KEY])
    return merges.shape[0]


@cpu_kernel
def _bpe_encode(lens, tok, offsets, keys, ranks, first_id):
    """Merge each chunk of tok in place; lens[c] gets chunk c's new length.
    keys: sorted pair keys of the merges, ranks: their merge indices."""
    for c in range(offsets.size - 1):
        s0, n = offsets[c], offsets[c + 1] - offsets[c]
        while n >= 2:
            best_rank, best_key = -1, np.int64(0)
            for i in range(s0, s0 + n - 1):
                key = _key(tok[i], tok[i + 1])
                j = np.searchsorted(keys, key)
                if j < keys.size and keys[j] == key and (best_rank < 0 or ranks[j] < best_rank):
                    best_rank, best_key = ranks[j], key
            if best_rank < 0:
                break
            n = _merge_chunk(tok, s0, n, best_key >> 32, best_key & 0xFFFFFFFF, first_id + best_rank)
        lens[c] = n


# ---- public wrappers -------------------------------------------------------


def _check_layout(name, tok, offsets):
    tok = np.ascontiguousarray(tok, dtype=np.int32)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    if offsets.ndim != 1 or offsets.size < 1 or offsets[0] != 0 or offsets[-1] != tok.size \
            or np.any(np.diff(offsets) < 0):
        raise ValueError(f"{name}: offsets must rise from 0 to len(tok) = {tok.size}")
    if tok.size and tok.min() < 0:
        raise ValueError(f"{name}: token ids must be >= 0, got {tok.min()}")
    return tok, offsets


def bpe_train(tok, offsets, weights, num_merges, first_id=256):
    """Learn up to num_merges merges; returns (merges (M, 2) int32, counts (M,) int64)."""
    tok, offsets = _check_layout("bpe_train", tok, offsets)
    tok = tok.copy()  # the kernel merges in place
    weights = np.ascontiguousarray(weights, dtype=np.int64)
    if weights.shape != (offsets.size - 1,):
        raise ValueError(f"bpe_train: {offsets.size - 1} chunks but {weights.size} weights")
    if num_merges < 0:
        raise ValueError(f"bpe_train: num_merges must be >= 0, got {num_merges}")
    merges = np.zeros((num_merges, 2), np.int32)
    counts = np.zeros(num_merges, np.int64)
    done = _bpe_train(merges, counts, tok, offsets, weights, np.int64(first_id))
    return merges[:done], counts[:done]


def bpe_encode(tok, offsets, merges, first_id=256):
    """Apply the merges to every chunk; returns (ids int32, new offsets int64)."""
    tok, offsets = _check_layout("bpe_encode", tok, offsets)
    tok = tok.copy()
    merges = np.asarray(merges, dtype=np.int64).reshape(-1, 2)
    keys = (merges[:, 0] << 32) | merges[:, 1]
    order = np.argsort(keys, kind="stable")
    lens = np.zeros(offsets.size - 1, np.int64)
    _bpe_encode(lens, tok, offsets, np.ascontiguousarray(keys[order]), order.astype(np.int64),
                np.int64(first_id))
    new_offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    # each chunk now starts where it did before, with lens[c] ids: pack them together
    keep = np.arange(tok.size) - np.repeat(offsets[:-1], np.diff(offsets)) < np.repeat(lens, np.diff(offsets))
    return tok[keep], new_offsets
