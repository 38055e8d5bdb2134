"""FastText (Bojanowski et al. 2017): character n-gram buckets and the
skip-gram / CBOW training loop over words plus their n-grams, each a Numba
kernel beside the plain Python/NumPy reference it must match.

N-grams (fastText's Dictionary::computeSubwords, gensim's
compute_ngrams_bytes + ft_hash_bytes, byte for byte): a word w becomes the
UTF-8 bytes of "<w>"; every run of min_n..max_n *characters* (a character
never split: UTF-8 continuation bytes 10xxxxxx stay with their lead byte),
except the lone "<" and ">", is hashed by 32-bit FNV-1a with each byte
sign-extended first (fastText hashes `char`, signed on x86: byte 0xC3 is
xored in as 0xFFFFFFC3) and taken modulo `bucket`. Repeats stay (as in both).
  ngram_buckets(word_bytes, word_offsets, min_n, max_n, bucket) ->
    (sub_offsets int64 (W + 1,), sub_ids int32): word k's buckets are
    sub_ids[sub_offsets[k]:sub_offsets[k + 1]]; word_bytes (uint8) holds
    every "<w>" back to back, word k in word_bytes[word_offsets[k]:...].
  reference: ngrams_reference / ft_hash_reference, gensim's code in Python.

Word vectors: word_vectors(out, syn0_vocab, syn0_ngrams, sub_offsets,
sub_ids) writes each word's mean row (step 3 below) into out (V, d).

Training: fasttext_train(syn0_vocab, syn0_ngrams, syn1neg, syn1, ids,
offsets, s0, s1, sub_offsets, sub_ids, keep, cum_table, path_offsets,
codes, points, sg, hs, negative, window, alpha, seed) -> (raw words,
trained words) over sentences s0..s1-1 (layout of kernels/glove.py).
syn0_vocab (V, d), syn0_ngrams (bucket, d): input rows; syn1neg (V, d),
syn1 (V - 1, d): output rows for negative sampling and hierarchical softmax
(a (0, d) array when unused); all float32, updated in place (Hogwild).
For each sentence, as gensim's fasttext_inner:
  1. subsample: word w is kept when keep[w] >= r32() (keep: Vocab.keep_thresholds);
  2. per kept position i, b = r32() % window draws the reduced window
     window - b on each side (word2vec.c's dynamic window);
  3. the input vector h of a word is the mean of its row and its n-gram rows
     (sg: the centre word's, recomputed for each context word it predicts;
     CBOW: the mean over all rows of all context words, predicting the
     centre). fastText divides by 1 + the n-gram count; gensim's skip-gram
     divides by the n-gram count alone, a quirk not copied here;
  4. for each output row u (the Huffman path's inner nodes with label
     1 - code, when hs; then, when negative > 0, the target with label 1
     and `negative` words drawn from cum_table with label 0, a draw equal
     to the target skipped), g = (label - sigmoid(h.u)) * alpha;
     work += g u; u += g h. The sigmoid is computed exactly (no table, no
     clipping), so each step is exactly SGD on -log sigmoid(+-h.u);
  5. work is added to *every* input row that made up h, undivided, as
     fastText's Model::update and gensim do for sg and CBOW.
Randomness is one LCG per call, word2vec.c's next = next * 25214903917 + 11
(mod 2^48), r32() = next >> 16 taken before the step (gensim's
random_int32); a negative is the first word whose cum_table entry is >=
r32() % cum_table[-1] (gensim's bisect_left). The reference replays the
same stream.
"""
import math

import numpy as np

from .jit import cpu_kernel

_MASK48 = (1 << 48) - 1

# ---- n-gram buckets ---------------------------------------------------------


def ngrams_reference(word, min_n, max_n):
    """gensim's compute_ngrams_bytes: the n-grams of "<word>" as bytes."""
    b = f"<{word}>".encode("utf-8")
    out = []
    for i in range(len(b)):
        if b[i] & 0xC0 == 0x80:
            continue
        j, n = i, 1
        while j < len(b) and n <= max_n:
            j += 1
            while j < len(b) and b[j] & 0xC0 == 0x80:
                j += 1
            if n >= min_n and not (n == 1 and (i == 0 or j == len(b))):
                out.append(b[i:j])
            n += 1
    return out


def ft_hash_reference(data):
    """gensim's ft_hash_bytes: FNV-1a over sign-extended bytes, uint32."""
    h = 2166136261
    for byte in data:
        h = ((h ^ (byte | 0xFFFFFF00 if byte >= 128 else byte)) * 16777619) & 0xFFFFFFFF
    return h


@cpu_kernel
def _fnv_step(h, byte):
    """One FNV-1a step on a sign-extended byte, h kept in 32 bits."""
    x = np.uint64(byte) | np.uint64(0xFFFFFF00) if byte >= 128 else np.uint64(byte)
    return ((h ^ x) * np.uint64(16777619)) & np.uint64(0xFFFFFFFF)


@cpu_kernel
def _ngram_pass(out, word_bytes, word_offsets, min_n, max_n, bucket):
    """Write word k's buckets from out[k's start] on (out=None: just count); returns counts."""
    counts = np.zeros(word_offsets.size - 1, np.int64)
    pos = 0
    for k in range(word_offsets.size - 1):
        b = word_bytes[word_offsets[k]:word_offsets[k + 1]]
        m = b.size
        for i in range(m):
            if b[i] & 0xC0 == 0x80:
                continue
            j, n = i, 1
            h = np.uint64(2166136261)     # uint64 arithmetic masked to 32 bits
            while j < m and n <= max_n:
                # hash the bytes of the next character, continuing the hash of the shorter n-gram
                h = _fnv_step(h, b[j])
                j += 1
                while j < m and b[j] & 0xC0 == 0x80:
                    h = _fnv_step(h, b[j])
                    j += 1
                if n >= min_n and not (n == 1 and (i == 0 or j == m)):
                    if out.size:
                        out[pos] = np.int32(np.int64(h) % bucket)
                    pos += 1
                    counts[k] += 1
                n += 1
    return counts


def ngram_buckets(word_bytes, word_offsets, min_n, max_n, bucket):
    """(sub_offsets, sub_ids): the n-gram buckets of every word (see module doc)."""
    word_bytes = np.ascontiguousarray(word_bytes, np.uint8)
    word_offsets = np.ascontiguousarray(word_offsets, np.int64)
    empty = np.zeros(0, np.int32)
    counts = _ngram_pass(empty, word_bytes, word_offsets, min_n, max_n, bucket)
    sub_offsets = np.zeros(counts.size + 1, np.int64)
    np.cumsum(counts, out=sub_offsets[1:])
    sub_ids = np.zeros(max(1, sub_offsets[-1]), np.int32)
    _ngram_pass(sub_ids, word_bytes, word_offsets, min_n, max_n, bucket)
    return sub_offsets, sub_ids[:sub_offsets[-1]]


def ngram_buckets_reference(words, min_n, max_n, bucket):
    """The same CSR from ngrams_reference and ft_hash_reference."""
    per_word = [[ft_hash_reference(g) % bucket for g in ngrams_reference(w, min_n, max_n)] for w in words]
    sub_offsets = np.zeros(len(words) + 1, np.int64)
    np.cumsum([len(p) for p in per_word], out=sub_offsets[1:])
    return sub_offsets, np.array([h for p in per_word for h in p], np.int32)


# ---- training ---------------------------------------------------------------


@cpu_kernel
def _out_rows(syn1neg, syn1, h, work, target, cum_table, path_offsets, codes, points,
              hs, negative, alpha, rnd):
    """Step 4 of the module doc for one (h, target); returns the LCG state."""
    d = h.size
    if hs:
        for p in range(path_offsets[target], path_offsets[target + 1]):
            u = syn1[points[p]]
            f = np.float32(0.0)
            for k in range(d):
                f += h[k] * u[k]
            g = np.float32((1.0 - codes[p] - 1.0 / (1.0 + math.exp(-f))) * alpha)
            for k in range(d):
                work[k] += g * u[k]
                u[k] += g * h[k]
    if negative == 0:                 # hierarchical softmax only
        return rnd
    total = cum_table[cum_table.size - 1]
    for s in range(negative + 1):
        if s == 0:
            w, label = target, 1.0
        else:
            r = (rnd >> np.uint64(16)) % np.uint64(total)
            rnd = (rnd * np.uint64(25214903917) + np.uint64(11)) & np.uint64(_MASK48)
            lo, hi = 0, cum_table.size      # first entry >= r (bisect_left, as gensim)
            while lo < hi:
                mid = (lo + hi) >> 1
                if np.uint64(cum_table[mid]) < r:
                    lo = mid + 1
                else:
                    hi = mid
            w, label = lo, 0.0
            if w == target:
                continue
        u = syn1neg[w]
        f = np.float32(0.0)
        for k in range(d):
            f += h[k] * u[k]
        g = np.float32((label - 1.0 / (1.0 + math.exp(-f))) * alpha)
        for k in range(d):
            work[k] += g * u[k]
            u[k] += g * h[k]
    return rnd


@cpu_kernel
def _add_rows(h, syn0_vocab, syn0_ngrams, sub_offsets, sub_ids, word):
    """h += the word's row and its n-gram rows; returns how many rows."""
    v = syn0_vocab[word]
    for k in range(h.size):
        h[k] += v[k]
    for q in range(sub_offsets[word], sub_offsets[word + 1]):
        v = syn0_ngrams[sub_ids[q]]
        for k in range(h.size):
            h[k] += v[k]
    return 1 + sub_offsets[word + 1] - sub_offsets[word]


@cpu_kernel
def _update_rows(work, syn0_vocab, syn0_ngrams, sub_offsets, sub_ids, word):
    """work added, undivided, to the word's row and each of its n-gram rows."""
    v = syn0_vocab[word]
    for k in range(work.size):
        v[k] += work[k]
    for q in range(sub_offsets[word], sub_offsets[word + 1]):
        v = syn0_ngrams[sub_ids[q]]
        for k in range(work.size):
            v[k] += work[k]


@cpu_kernel
def word_vectors(out, syn0_vocab, syn0_ngrams, sub_offsets, sub_ids):
    """out[w] = mean of word w's row and its n-gram rows (gensim's adjust_vectors)."""
    for w in range(out.shape[0]):
        h = out[w]
        h[:] = 0.0
        inv = np.float32(1.0 / _add_rows(h, syn0_vocab, syn0_ngrams, sub_offsets, sub_ids, w))
        for k in range(h.size):
            h[k] *= inv


@cpu_kernel
def fasttext_train(syn0_vocab, syn0_ngrams, syn1neg, syn1, ids, offsets, s0, s1, sub_offsets, sub_ids,
                   keep, cum_table, path_offsets, codes, points, sg, hs, negative, window, alpha, seed):
    d = syn0_vocab.shape[1]
    h = np.zeros(d, np.float32)
    work = np.zeros(d, np.float32)
    longest = 0
    for s in range(s0, s1):
        longest = max(longest, offsets[s + 1] - offsets[s])
    sent = np.zeros(longest, np.int32)
    reduced = np.zeros(longest, np.int64)
    rnd = np.uint64(seed) & np.uint64(_MASK48)
    raw, trained = 0, 0
    for s in range(s0, s1):
        n = 0
        for p in range(offsets[s], offsets[s + 1]):       # 1. subsampling
            w = ids[p]
            r = rnd >> np.uint64(16)
            rnd = (rnd * np.uint64(25214903917) + np.uint64(11)) & np.uint64(_MASK48)
            if np.uint64(keep[w]) >= r:
                sent[n] = w
                n += 1
        raw += offsets[s + 1] - offsets[s]
        trained += n
        for i in range(n):                                 # 2. dynamic window
            reduced[i] = np.int64((rnd >> np.uint64(16)) % np.uint64(window))
            rnd = (rnd * np.uint64(25214903917) + np.uint64(11)) & np.uint64(_MASK48)
        for i in range(n):
            lo = max(0, i - window + reduced[i])
            hi = min(n, i + window + 1 - reduced[i])
            if sg:                                         # centre word -> each context word
                for j in range(lo, hi):
                    if j == i:
                        continue
                    h[:] = 0.0
                    rows = _add_rows(h, syn0_vocab, syn0_ngrams, sub_offsets, sub_ids, sent[i])
                    inv = np.float32(1.0 / rows)
                    for k in range(d):
                        h[k] *= inv
                    work[:] = 0.0
                    rnd = _out_rows(syn1neg, syn1, h, work, sent[j], cum_table, path_offsets, codes,
                                    points, hs, negative, alpha, rnd)
                    _update_rows(work, syn0_vocab, syn0_ngrams, sub_offsets, sub_ids, sent[i])
            else:                                          # context words -> centre word
                h[:] = 0.0
                rows = 0
                for j in range(lo, hi):
                    if j != i:
                        rows += _add_rows(h, syn0_vocab, syn0_ngrams, sub_offsets, sub_ids, sent[j])
                if rows == 0:
                    continue
                inv = np.float32(1.0 / rows)
                for k in range(d):
                    h[k] *= inv
                work[:] = 0.0
                rnd = _out_rows(syn1neg, syn1, h, work, sent[i], cum_table, path_offsets, codes, points,
                                hs, negative, alpha, rnd)
                for j in range(lo, hi):
                    if j != i:
                        _update_rows(work, syn0_vocab, syn0_ngrams, sub_offsets, sub_ids, sent[j])
    return raw, trained


def fasttext_train_reference(syn0_vocab, syn0_ngrams, syn1neg, syn1, ids, offsets, s0, s1, sub_offsets,
                             sub_ids, keep, cum_table, path_offsets, codes, points, sg, hs, negative,
                             window, alpha, seed):
    """fasttext_train in Python/NumPy with Python-int randomness (same stream)."""
    state = [int(seed) & _MASK48]

    def r32():
        r = state[0] >> 16
        state[0] = (state[0] * 25214903917 + 11) & _MASK48
        return r

    def rows_of(w):
        return [(syn0_vocab, w)] + [(syn0_ngrams, q) for q in sub_ids[sub_offsets[w]:sub_offsets[w + 1]]]

    def out_rows(h, target):
        work = np.zeros_like(h)
        steps = []
        if hs:
            steps += [(syn1, points[p], 1.0 - codes[p]) for p in range(path_offsets[target], path_offsets[target + 1])]
        for s in range(negative + 1 if negative else 0):
            if s == 0:
                steps.append((syn1neg, target, 1.0))
                continue
            w = int(np.searchsorted(cum_table, r32() % int(cum_table[-1]), side="left"))
            if w != target:
                steps.append((syn1neg, w, 0.0))
        for table, row, label in steps:
            f = float(np.dot(h, table[row]))
            g = np.float32((label - 1.0 / (1.0 + math.exp(-f))) * alpha)
            work += g * table[row]
            table[row] += g * h
        return work

    raw = trained = 0
    for s in range(s0, s1):
        words = ids[offsets[s]:offsets[s + 1]]
        sent = [w for w in words if keep[w] >= r32()]
        raw, trained = raw + len(words), trained + len(sent)
        reduced = [r32() % window for _ in sent]
        for i, wi in enumerate(sent):
            ctx = [j for j in range(max(0, i - window + reduced[i]), min(len(sent), i + window + 1 - reduced[i]))
                   if j != i]
            for targets, inputs in ([(sent[j], [wi]) for j in ctx] if sg else [(wi, [sent[j] for j in ctx])]):
                rows = [r for w in inputs for r in rows_of(w)]
                if not rows:
                    continue
                h = np.sum([t[r] for t, r in rows], axis=0) * np.float32(1.0 / len(rows))
                work = out_rows(h.astype(np.float32), targets)
                for t, r in rows:
                    t[r] += work
    return raw, trained
