"""Word2Vec training (skip-gram / CBOW x negative sampling / hierarchical
softmax) as one Numba kernel per job of sentences, beside the plain
Python/NumPy reference that it must match to float32 rounding, and the
Huffman tree of hierarchical softmax (word2vec.c's CreateBinaryTree).

Layout: the corpus is one int32 array `ids`, sentence s in
ids[offsets[s]:offsets[s + 1]] (offsets int64). A job trains sentences
[s_begin, s_end) at one learning rate `alpha`:
  syn0     (V, d) float32  input vectors (the word vectors), updated in place
  syn1neg  (V, d) float32  output vectors for negative sampling (or (0, d))
  syn1     (V-1, d) float32 inner-node vectors for hierarchical softmax (or (0, d))
  keep     (V,) uint32     subsampling thresholds (Vocab.keep_thresholds)
  cum_table (V,) uint32    negative-sampling table (Vocab.cum_table)
  guide, guide_shift       negative_guide(cum_table): where each draw's search starts
  points/codes (V, L) int32/uint8, codelens (V,) int32: each word's Huffman path
  work, neu1 (d,) float32 and sent (longest sentence,) int32: per-thread scratch
It returns (words kept after subsampling, next_random).

Per sentence, in this order (the reference draws the same numbers):
  1. subsampling: word w stays when random_int32() <= keep[w]
     (only when `subsample`; gensim/word2vec.c's rule);
  2. per position i: b = random_int32() % window, the context is the
     kept words within window - b of i (word2vec.c's dynamic window);
  3. skip-gram: for each context word j, input syn0[ids[j]] predicts the
     centre word ids[i] (word2vec.c's and gensim's direction); CBOW: the
     mean (cbow_mean=1) or sum of the context inputs predicts ids[i];
  4. hierarchical softmax over the centre word's path, then negative
     sampling: the centre word (label 1) and `negative` words drawn by
     bisect_left(cum_table, random_int32() % cum_table[-1]), skipping draws
     equal to the centre word (label 0). gensim bisects; the kernel looks the
     start up in a guide table and steps forward (the same word, 2x faster
     overall: 13 dependent loads per draw were half the skip-gram time);
  5. the input update `work` (summed over the HS and negative targets, as
     word2vec.c does; gensim applies the two parts one after the other).
random_int32() returns next_random >> 16 and advances the 48-bit LCG
next_random = (next_random * 25214903917 + 11) mod 2**48 (word2vec.c's
multiplier with gensim's 48-bit mask, i.e. Java's Random).

Each output row u with label y (y = 1 - code for HS) takes
g = (y - sigmoid(u . h)) * alpha; u += g * h; work += g * u (old u).
That is SGD on -log sigmoid(+-u . h) with learning rate alpha. Unlike
word2vec.c/gensim, sigmoid is computed (fastmath.fast_sigmoid, float32 to
about 1 ulp; the reference uses math.exp) rather than read from a
1000-entry table, and scores beyond +-6 are not skipped, so the update is
the gradient step that tests/test_word2vec.py checks with tinylm's autograd.
The input update adds `work` (the step for h) to each input row, as
word2vec.c and gensim do: for skip-gram that is exact SGD; for CBOW with
cbow_mean=1 it is count times the exact step of each context row (h is
their mean), and with cbow_mean=0 gensim divides it by count, and so do we.
"""
import math

import numpy as np

from .fastmath import fast_sigmoid
from .jit import cpu_kernel

MASK48 = (1 << 48) - 1
MULT = 25214903917

_MULT = np.uint64(MULT)
_ADD = np.uint64(11)
_MASK = np.uint64(MASK48)
_SHIFT = np.uint64(16)


# ---- reference -------------------------------------------------------------


def _sigmoid_ref(x):
    return 1.0 / (1.0 + math.exp(-float(x)))


class _LCG:
    """word2vec.c's generator on Python ints."""

    def __init__(self, state):
        self.state = int(state)

    def int32(self):
        out = self.state >> 16
        self.state = (self.state * MULT + 11) & MASK48
        return out


def _update_ref(h, rows, out, labels, alpha, work):
    """SGD on -log sigmoid(+-out[r] . h) for each (r, label), in order."""
    for r, label in zip(rows, labels):
        g = np.float32((label - _sigmoid_ref(np.dot(out[r], h))) * alpha)
        work += g * out[r]
        out[r] += g * h


def _targets_ref(word, rng, negative, cum_table):
    """The centre word (label 1), then negatives drawn by bisection (label 0)."""
    rows, labels = [word], [1.0]
    for _ in range(negative):
        t = int(np.searchsorted(cum_table, rng.int32() % int(cum_table[-1]), side="left"))
        if t != word:
            rows.append(t)
            labels.append(0.0)
    return rows, labels


def w2v_train_job_reference(syn0, syn1neg, syn1, ids, offsets, s_begin, s_end, keep, cum_table,
                            points, codes, codelens, sg, hs, negative, window, cbow_mean,
                            subsample, alpha, next_random):
    """Plain Python/NumPy training of one job; same arguments (no scratch) and results as the kernel."""
    rng, kept = _LCG(next_random), 0
    for s in range(s_begin, s_end):
        sent = [w for w in ids[offsets[s]:offsets[s + 1]] if not subsample or rng.int32() <= keep[w]]
        kept += len(sent)
        for i, word in enumerate(sent):
            b = rng.int32() % window
            ctx = [sent[j] for j in range(max(0, i - window + b), min(len(sent), i + window + 1 - b)) if j != i]
            path = (list(points[word, :codelens[word]]), [1.0 - c for c in codes[word, :codelens[word]]])
            if sg:
                for c in ctx:
                    work = np.zeros(syn0.shape[1], np.float32)
                    h = syn0[c].copy()
                    if hs:
                        _update_ref(h, path[0], syn1, path[1], alpha, work)
                    if negative:
                        rows, labels = _targets_ref(word, rng, negative, cum_table)
                        _update_ref(h, rows, syn1neg, labels, alpha, work)
                    syn0[c] += work
            elif ctx:
                h = syn0[ctx].sum(axis=0, dtype=np.float32)
                if cbow_mean:
                    h = h * np.float32(1.0 / len(ctx))
                work = np.zeros(syn0.shape[1], np.float32)
                if hs:
                    _update_ref(h, path[0], syn1, path[1], alpha, work)
                if negative:
                    rows, labels = _targets_ref(word, rng, negative, cum_table)
                    _update_ref(h, rows, syn1neg, labels, alpha, work)
                if not cbow_mean:
                    work *= np.float32(1.0 / len(ctx))
                for c in ctx:
                    syn0[c] += work
    return kept, rng.state


def negative_guide(cum_table, max_bits=22):
    """(guide int64 (2**k,), shift): guide[b] = bisect_left(cum_table, b << shift), so the draw for x
    is the first r >= guide[x >> shift] with cum_table[r] >= x: one lookup and, on average, at most
    V / 2**k steps forward instead of log2(V) dependent steps of a bisection. 2**k >= 2V (capped
    at 2**max_bits), shift chosen so that every x < cum_table[-1] has x >> shift < 2**k."""
    top = int(cum_table[-1])
    bits = min(max_bits, max(1, int(2 * len(cum_table) - 1).bit_length()))
    shift = max(0, (top - 1).bit_length() - bits)
    starts = np.arange(2**bits, dtype=np.int64) << shift
    return np.searchsorted(cum_table, starts, side="left").astype(np.int64), shift


def huffman_tree_reference(counts):
    """word2vec.c's CreateBinaryTree on counts sorted in descending order:
    (points (V, L) int32 inner-node ids root first, codes (V, L) uint8, codelens (V,) int32)."""
    V = len(counts)
    count = np.concatenate([np.asarray(counts, np.int64), np.full(max(V - 1, 0), 10**15, np.int64)])
    parent, binary = np.zeros(2 * V, np.int64), np.zeros(2 * V, np.uint8)
    pos1, pos2 = V - 1, V
    for a in range(V - 1):                     # merge the two smallest: leaves from the end, then new nodes
        mins = []
        for _ in range(2):
            if pos1 >= 0 and count[pos1] < count[pos2]:
                mins.append(pos1)
                pos1 -= 1
            else:
                mins.append(pos2)
                pos2 += 1
        count[V + a] = count[mins[0]] + count[mins[1]]
        parent[mins[0]] = parent[mins[1]] = V + a
        binary[mins[1]] = 1
    paths = []
    for w in range(V):
        node, code, point = w, [], []
        while V > 1 and node != 2 * V - 2:     # climb to the root
            code.append(binary[node])
            point.append(parent[node] - V)
            node = parent[node]
        paths.append((point[::-1], code[::-1]))
    L = max(1, max(len(p) for p, _ in paths))
    points, codes = np.zeros((V, L), np.int32), np.zeros((V, L), np.uint8)
    codelens = np.array([len(p) for p, _ in paths], np.int32)
    for w, (p, c) in enumerate(paths):
        points[w, :len(p)], codes[w, :len(c)] = p, c
    return points, codes, codelens


# ---- Numba kernels ---------------------------------------------------------
# One function, no helpers: Numba does not inline a call to another kernel,
# and each call paid reference counting on its array arguments (~30% of
# the time). The targets of one input h (the HS path, then the centre word
# and the negatives) are gathered first, then trained in one loop.


@cpu_kernel
def w2v_train_job(syn0, syn1neg, syn1, work, neu1, sent, ids, offsets, s_begin, s_end, keep, cum_table,
                  guide, guide_shift, points, codes, codelens, sg, hs, negative, window, cbow_mean, subsample,
                  alpha, next_random):
    """The kernel of w2v_train_job_reference (scratch: work, neu1 (d,) float32, sent int32;
    guide, guide_shift = negative_guide(cum_table))."""
    state = np.uint64(next_random)
    alpha = np.float32(alpha)
    d = syn0.shape[1]
    top = np.uint64(cum_table[cum_table.shape[0] - 1])
    guide_shift = np.uint64(guide_shift)
    n_hs = codelens.max() if hs else 0
    rows = np.empty(n_hs + negative + 1, np.int64)        # targets of one input: row ids,
    labels = np.empty(n_hs + negative + 1, np.float32)    # labels,
    in_hs = np.empty(n_hs + negative + 1, np.bool_)       # and whether the row is in syn1 (else syn1neg)
    kept = 0
    for s in range(s_begin, s_end):
        n = 0
        for p in range(offsets[s], offsets[s + 1]):      # 1. subsampling
            w = ids[p]
            if subsample:
                x = state >> _SHIFT
                state = (state * _MULT + _ADD) & _MASK
                if x > np.uint64(keep[w]):
                    continue
            sent[n] = w
            n += 1
        kept += n
        for i in range(n):
            x = state >> _SHIFT                           # 2. dynamic window
            state = (state * _MULT + _ADD) & _MASK
            b = np.int64(x % np.uint64(window))
            lo, hi = max(0, i - window + b), min(n, i + window + 1 - b)
            word = sent[i]
            if hi - lo <= 1:
                continue
            if not sg:                                    # CBOW input: mean (or sum) of the context
                neu1[:] = 0.0
                for j in range(lo, hi):
                    if j != i:
                        c = syn0[sent[j]]
                        for k in range(d):
                            neu1[k] += c[k]
                inv = np.float32(1.0) / np.float32(hi - lo - 1)
                if cbow_mean:
                    for k in range(d):
                        neu1[k] *= inv
            j = lo
            for unit in range(hi - lo - 1 if sg else 1):  # skip-gram: one input per context word
                if sg:
                    j = j + 1 if j == i else j
                    h = syn0[sent[j]]
                    j += 1
                else:
                    h = neu1
                nt = 0                                    # 3. gather the targets
                if hs:
                    for t in range(codelens[word]):
                        rows[nt] = points[word, t]
                        labels[nt] = np.float32(1.0) - np.float32(codes[word, t])
                        in_hs[nt] = True
                        nt += 1
                if negative:
                    rows[nt], labels[nt], in_hs[nt] = word, np.float32(1.0), False
                    nt += 1
                    for _ in range(negative):
                        x = (state >> _SHIFT) % top
                        state = (state * _MULT + _ADD) & _MASK
                        # bisect_left(cum_table, x): start from the guide, step forward
                        r = guide[x >> guide_shift]
                        while np.uint64(cum_table[r]) < x:
                            r += 1
                        if r != word:
                            rows[nt], labels[nt], in_hs[nt] = r, np.float32(0.0), False
                            nt += 1
                work[:] = 0.0                             # 4. SGD on each target
                for t in range(nt):
                    u = syn1[rows[t]] if in_hs[t] else syn1neg[rows[t]]
                    f = np.float32(0.0)
                    for k in range(d):
                        f += u[k] * h[k]
                    g = (labels[t] - fast_sigmoid(f)) * alpha
                    for k in range(d):
                        work[k] += g * u[k]
                        u[k] += g * h[k]
                if sg:                                    # 5. the input's update
                    for k in range(d):
                        h[k] += work[k]
                else:
                    if not cbow_mean:
                        for k in range(d):
                            work[k] *= inv
                    for jj in range(lo, hi):
                        if jj != i:
                            c = syn0[sent[jj]]
                            for k in range(d):
                                c[k] += work[k]
    return kept, state


@cpu_kernel
def huffman_tree(counts):
    """The kernel of huffman_tree_reference: same tree, same outputs."""
    V = counts.shape[0]
    count = np.full(2 * V, np.int64(10**15))
    count[:V] = counts
    parent, binary = np.zeros(2 * V, np.int64), np.zeros(2 * V, np.uint8)
    pos1, pos2 = V - 1, V
    for a in range(V - 1):
        if pos1 >= 0 and count[pos1] < count[pos2]:
            min1, pos1 = pos1, pos1 - 1
        else:
            min1, pos2 = pos2, pos2 + 1
        if pos1 >= 0 and count[pos1] < count[pos2]:
            min2, pos1 = pos1, pos1 - 1
        else:
            min2, pos2 = pos2, pos2 + 1
        count[V + a] = count[min1] + count[min2]
        parent[min1] = V + a
        parent[min2] = V + a
        binary[min2] = 1
    codelens = np.zeros(V, np.int32)
    for w in range(V):
        node = w
        while V > 1 and node != 2 * V - 2:
            codelens[w] += 1
            node = parent[node]
    L = max(1, codelens.max()) if V > 0 else 1
    points, codes = np.zeros((V, L), np.int32), np.zeros((V, L), np.uint8)
    for w in range(V):
        node, t = w, codelens[w] - 1
        while t >= 0:                          # fill from the leaf end back to the root
            codes[w, t] = binary[node]
            points[w, t] = parent[node] - V
            node = parent[node]
            t -= 1
    return points, codes, codelens


# ---- checker: python -c "from kernels.word2vec import check; check()" -------


def check(V=300, d=32, n_words=3000, seed=0):
    """Kernel vs reference on a random Zipf corpus in every mode: prints the max
    abs error, whether the random streams agree, and the time per word of each."""
    import time
    rng = np.random.default_rng(seed)
    counts = np.sort(rng.zipf(1.3, V).clip(1, 10**5))[::-1].copy()
    ids = rng.choice(V, n_words, p=counts / counts.sum()).astype(np.int32)
    offsets = np.unique(np.r_[0, rng.integers(0, n_words, n_words // 20), n_words]).astype(np.int64)
    p = counts / counts.sum()
    keep = (np.minimum(1.0, (np.sqrt(p / 1e-3) + 1) * 1e-3 / p) * (2**32 - 1)).astype(np.uint32)
    cum = np.round(np.cumsum(counts ** 0.75) / np.sum(counts ** 0.75) * (2**31 - 1)).astype(np.uint32)
    points, codes, codelens = huffman_tree(counts)
    ok = True
    for sg, hs, negative in ((1, 0, 5), (0, 0, 5), (1, 1, 0), (0, 1, 0)):
        weights = [((rng.random((n, d)) - 0.5) / d).astype(np.float32) for n in (V, V, V - 1)]
        ours, ref = [w.copy() for w in weights], [w.copy() for w in weights]
        scratch = (np.zeros(d, np.float32), np.zeros(d, np.float32), np.zeros(n_words, np.int32))
        args = (ids, offsets, 0, len(offsets) - 1, keep, cum)
        flags = (points, codes, codelens, sg, hs, negative, 5, 1, 1, 0.025, 42)
        w2v_train_job(*[w.copy() for w in weights], *scratch, *args, *negative_guide(cum), *flags)  # compile
        t0 = time.perf_counter()
        got = w2v_train_job(*ours, *scratch, *args, *negative_guide(cum), *flags)
        t1 = time.perf_counter()
        want = w2v_train_job_reference(*ref, *args, *flags)
        t2 = time.perf_counter()
        err = max(float(np.abs(a - b).max()) if a.size else 0.0 for a, b in zip(ours, ref))
        same = got[0] == want[0] and int(got[1]) == want[1]
        ok &= same and err < 1e-5
        print(f"sg={sg} hs={hs} negative={negative}: max abs err {err:.2e}, streams agree {same}, "
              f"kernel {1e9 * (t1 - t0) / n_words:.0f} ns/word, reference {1e6 * (t2 - t1) / n_words:.0f} us/word")
    return ok
