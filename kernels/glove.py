"""GloVe (Pennington et al. 2014): co-occurrence counting and the AdaGrad
updates of the weighted least-squares objective, each a Numba kernel beside
the NumPy reference it must match.

Layout shared with kernels/word2vec.py: the corpus is one int32 array of word
ids `ids`, sentence s in ids[offsets[s]:offsets[s + 1]] (offsets: int64,
n_sentences + 1); out-of-vocabulary words are already dropped, so a window
spans over them, as in glove's cooccur.c.

Counting: cooccur(ids, offsets, window, V, symmetric, dense_entries) ->
(rows int32, cols int32, vals float64), sorted by (row, col). For a word
w2 at position p and each w1 at p - k (1 <= k <= window, same sentence),
X[w1, w2] += 1/k, and with `symmetric` also X[w2, w1] += 1/k (cooccur.c: a
word next to itself adds 2/k to the diagonal).
  reference: every (key, 1/k) in corpus order, np.unique + np.add.at.
  kernel: one pass. Pairs of frequent words (ranks a, c with (a+1)(c+1)
    <= P) add into a dense array, as cooccur.c's bigram_table (P chosen so
    that it has dense_entries cells: 32 MB by default, which holds all of
    V x V up to V = 2048); the rest go to an open-addressing hash table
    (int64 key w1 * V + w2 and its float64 sum side by side in one 16-byte
    slot, one cache line per probe; Fibonacci hashing, linear probing),
    doubled when half full. Both add each key's terms in corpus order, so
    the float64 sums are equal.
  memory: the dense array, plus 2 to 4 slots (6 while doubling) of 16
    bytes per distinct hashed pair, plus 16 bytes per pair of output: at
    most ~112 bytes per distinct pair, whatever the corpus length (cooccur.c
    caps its memory by spilling sorted runs to disk instead).

Training: glove_epoch(W, Wt, b, bt, gW, gWt, gb, gbt, entries, start, stop,
lr) -> summed cost. W, Wt (V, d) float32 word and context vectors, b, bt
(V,) their biases, g* the AdaGrad accumulators of the same shapes (start at
1.0, as glove.c's gradsq). entries[start:stop] (ENTRY records: i, j,
log X_ij, f(X_ij); make_entries) are taken in order; the caller shuffles
the records themselves, not an index into them, so that they are read
sequentially and only the parameter rows at random. The update is glove.c's
(v1.2, the paper's code):
    diff  = w_i . w~_j + b_i + b~_j - log X_ij
    cost += 0.5 f(X) diff^2
    g     = lr f(X) diff                           (lr times d cost / d diff)
    w_i  -= g w~_j / sqrt(gW_i);   gW_i  += (g w~_j)^2      (elementwise)
    w~_j -= g w_i  / sqrt(gWt_j);  gWt_j += (g w_i)^2       (old w_i)
    b_i  -= g / sqrt(gb_i);        gb_i  += g^2    (and the same for b~_j)
so each step is -lr * grad / sqrt(gradsq) with the accumulator holding the
squared *scaled* steps (lr grad)^2, as glove.c does. Threads (Hogwild, as
glove.c's pthreads) call the kernel on disjoint [start, stop) slices and
race on shared rows; one thread is deterministic.
  reference: the same loop in NumPy, one entry at a time.
"""
import math

import numpy as np

from .jit import cpu_kernel

_GOLDEN = np.uint64(11400714819323198485)  # 2^64 / golden ratio: Fibonacci hashing

# ---- co-occurrence counting -------------------------------------------------


def cooccur_reference(ids, offsets, window, V, symmetric=True):
    """Every (key, 1/k) in the kernel's order, summed with np.add.at."""
    keys, weights = [], []
    for s in range(len(offsets) - 1):
        a, e = int(offsets[s]), int(offsets[s + 1])
        for p in range(a, e):
            w2 = int(ids[p])
            for q in range(p - 1, max(a, p - window) - 1, -1):
                w1, wt = int(ids[q]), 1.0 / (p - q)
                keys.append(w1 * V + w2)
                weights.append(wt)
                if symmetric:
                    keys.append(w2 * V + w1)
                    weights.append(wt)
    keys = np.array(keys, np.int64)
    uniq, inverse = np.unique(keys, return_inverse=True)
    vals = np.zeros(uniq.size, np.float64)
    np.add.at(vals, inverse, np.array(weights, np.float64))  # in index order: corpus order
    return (uniq // V).astype(np.int32), (uniq % V).astype(np.int32), vals


@cpu_kernel
def _slot(tab, key, shift):
    """The slot holding `key` in tab (keys at even places), or the empty slot where it belongs."""
    mask = tab.size // 2 - 1
    h = np.int64((np.uint64(key) * _GOLDEN) >> np.uint64(shift))
    while tab[2 * h] != key and tab[2 * h] != -1:
        h = (h + 1) & mask
    return h


@cpu_kernel
def _cooccur_kernel(ids, offsets, window, V, symmetric, lookup, bits):
    """(dense, table): X in cooccur.c's dense rows (row a holds columns below
    lookup[a + 1] - lookup[a]), the rest in a hash table of 2**bits slots."""
    dense = np.zeros(lookup[V], np.float64)
    tab = np.full(2 << bits, -1, np.int64)          # slot h: key at 2h, float64 sum at 2h + 1
    vals = tab.view(np.float64)
    used = 0
    for s in range(offsets.size - 1):
        a, e = offsets[s], offsets[s + 1]
        for p in range(a, e):
            w2 = np.int64(ids[p])
            for q in range(p - 1, max(a, p - window) - 1, -1):
                wt = 1.0 / (p - q)
                w1 = np.int64(ids[q])
                for side in range(2 if symmetric else 1):
                    r, c = (w1, w2) if side == 0 else (w2, w1)
                    if c < lookup[r + 1] - lookup[r]:
                        dense[lookup[r] + c] += wt
                        continue
                    key = r * V + c
                    h = _slot(tab, key, 64 - bits)
                    if tab[2 * h] == -1:
                        tab[2 * h] = key
                        vals[2 * h + 1] = 0.0
                        used += 1
                    vals[2 * h + 1] += wt
                    if 2 * used > (1 << bits):  # half full: double the table and rehash
                        old = tab
                        bits += 1
                        tab = np.full(2 << bits, -1, np.int64)
                        vals = tab.view(np.float64)
                        for o in range(0, old.size, 2):
                            if old[o] != -1:
                                h = _slot(tab, old[o], 64 - bits)
                                tab[2 * h] = old[o]
                                tab[2 * h + 1] = old[o + 1]   # the float64's bits, moved as they are
    return dense, tab


def dense_rows(V, max_entries):
    """lookup (V + 1,) int64 of cooccur.c's dense region: row a (0-based rank) keeps
    columns c with (a + 1)(c + 1) <= P, P the largest product giving at most
    max_entries cells: the frequent pairs, which take most of the counts."""
    def widths(P):
        return np.minimum(V, P // np.arange(1, V + 1, dtype=np.int64))
    lo, hi = 0, V * V          # largest P with widths(P).sum() <= max_entries
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if widths(mid).sum() <= max_entries else (lo, mid - 1)
    lookup = np.zeros(V + 1, np.int64)
    np.cumsum(widths(lo), out=lookup[1:])
    return lookup


def cooccur(ids, offsets, window, V, symmetric=True, dense_entries=1 << 22):
    """X as a sparse (rows, cols, vals) list, sorted by (row, col). dense_entries:
    cells of the dense region (8 bytes each; 0: hash everything)."""
    ids = np.ascontiguousarray(ids, np.int32)
    offsets = np.ascontiguousarray(offsets, np.int64)
    lookup = dense_rows(int(V), int(dense_entries))
    bits = min(20, max(10, int(math.log2(max(1, ids.size)))))   # grows by doubling from at most 16 MB
    dense, tab = _cooccur_kernel(ids, offsets, int(window), np.int64(V), bool(symmetric), lookup, bits)
    cells = np.flatnonzero(dense)
    r = np.searchsorted(lookup, cells, side="right") - 1
    full = tab[0::2] != -1
    keys = np.concatenate([r * V + (cells - lookup[r]), tab[0::2][full]])
    vals = np.concatenate([dense[cells], tab.view(np.float64)[1::2][full]])
    order = np.argsort(keys)
    keys, vals = keys[order], vals[order]
    return (keys // V).astype(np.int32), (keys % V).astype(np.int32), vals


# ---- training ---------------------------------------------------------------


# one co-occurrence as training reads it: 16 bytes, so a shuffled list is one gather
ENTRY = np.dtype([("i", np.int32), ("j", np.int32), ("logx", np.float32), ("fx", np.float32)])


def make_entries(rows, cols, vals, x_max=100.0, alpha=0.75):
    """ENTRY array: word i, context j, log X_ij and f(X_ij) = min(1, (X / x_max)^alpha),
    the last two computed once instead of on every epoch as glove.c does."""
    vals = np.asarray(vals, np.float64)
    entries = np.empty(vals.size, ENTRY)
    entries["i"], entries["j"] = rows, cols
    entries["logx"] = np.log(vals)
    entries["fx"] = np.where(vals < x_max, (vals / x_max) ** alpha, 1.0)
    return entries


def glove_epoch_reference(W, Wt, b, bt, gW, gWt, gb, gbt, entries, start, stop, lr):
    """glove_epoch in NumPy, one entry at a time; updates in place, returns the cost."""
    lr = np.float32(lr)
    cost = 0.0
    for i, j, logx, fx in entries[start:stop].tolist():
        diff = np.float32(np.dot(W[i], Wt[j]) + b[i] + bt[j] - np.float32(logx))
        fdiff = np.float32(fx) * diff
        cost += 0.5 * float(fdiff) * float(diff)
        fdiff = fdiff * lr
        t1 = fdiff * Wt[j]                 # lr * dcost/dw_i
        t2 = fdiff * W[i]                  # lr * dcost/dw~_j (old w_i)
        W[i] -= t1 / np.sqrt(gW[i])
        Wt[j] -= t2 / np.sqrt(gWt[j])
        gW[i] += t1 * t1
        gWt[j] += t2 * t2
        b[i] -= fdiff / np.sqrt(gb[i])
        bt[j] -= fdiff / np.sqrt(gbt[j])
        gb[i] += fdiff * fdiff
        gbt[j] += fdiff * fdiff
    return cost


@cpu_kernel
def glove_epoch(W, Wt, b, bt, gW, gWt, gb, gbt, entries, start, stop, lr):
    """AdaGrad steps over entries start..stop-1, in order; returns the summed cost."""
    lr = np.float32(lr)
    d = W.shape[1]
    cost = 0.0
    for e in range(start, stop):
        ent = entries[e]
        i, j = ent.i, ent.j
        w, c, gw, gc = W[i], Wt[j], gW[i], gWt[j]      # (d,) row views
        dot = np.float32(0.0)
        for k in range(d):
            dot += w[k] * c[k]
        diff = dot + b[i] + bt[j] - ent.logx
        if not math.isfinite(diff):                     # glove.c skips NaN/inf updates too
            continue
        fdiff = ent.fx * diff
        cost += 0.5 * fdiff * diff
        fdiff *= lr
        for k in range(d):
            t1 = fdiff * c[k]
            t2 = fdiff * w[k]
            w[k] -= t1 / math.sqrt(gw[k])
            c[k] -= t2 / math.sqrt(gc[k])
            gw[k] += t1 * t1
            gc[k] += t2 * t2
        b[i] -= fdiff / math.sqrt(gb[i])
        bt[j] -= fdiff / math.sqrt(gbt[j])
        gb[i] += fdiff * fdiff
        gbt[j] += fdiff * fdiff
    return cost
