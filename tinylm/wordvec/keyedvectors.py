"""Trained word vectors and what people do with them (gensim 4's KeyedVectors).

    kv = KeyedVectors(words, vectors)              # vectors: float32 (V, d), row i is words[i]
    kv["king"]                                     # (d,) vector; kv[["a", "b"]] -> (2, d)
    kv.most_similar(positive=["king", "woman"], negative=["man"], topn=5)
    kv.evaluate_word_pairs("wordsim353.tsv")       # ((pearson, p), (spearman, p), oov %)
    kv.evaluate_word_analogies("questions-words.txt")  # (accuracy, sections)
    kv.save_word2vec_format("v.bin", binary=True); KeyedVectors.load_word2vec_format("v.bin", binary=True)

Similarities are cosines: every query works on unit-length copies of the
rows (cached in `norms`, dropped when `vectors` is assigned; a trainer that
updates vectors in place calls `fill_norms(force=True)`).

Evaluation follows gensim: only the first `restrict_vocab` words (the most
frequent, when the rows are sorted by count) are used; with
case_insensitive, words are upper-cased and a case variant maps to its
most frequent form; pairs/questions with an unknown word are skipped and
counted (oov ratio, in percent). Unlike gensim, a line that does not parse
raises ValueError naming the file and line, instead of being skipped.
p-values are exact two-sided Student-t values with n - 2 degrees of
freedom (what scipy.stats.pearsonr/spearmanr report), from a continued
fraction for the incomplete beta function, so scipy is not needed.

word2vec formats (gensim's and word2vec.c's): a header "V d", then per
word, text: "word v1 ... vd\n" (floats written with 9 significant digits,
which round-trip float32 exactly); binary: the word, a space, d float32
little-endian, then "\n" (word2vec.c writes it, gensim's reader skips it).
"""
import os

import numpy as np

from .stats import pearson, spearman

_KEYS = (str,)


class KeyedVectors:
    def __init__(self, index_to_key, vectors):
        vectors = np.asarray(vectors, dtype=np.float32)
        index_to_key = list(index_to_key)
        if vectors.ndim != 2 or vectors.shape[0] != len(index_to_key):
            raise ValueError(f"KeyedVectors: vectors must be (V, d) with V = {len(index_to_key)} words, "
                             f"got shape {vectors.shape}")
        self.index_to_key = index_to_key
        self.key_to_index = {k: i for i, k in enumerate(index_to_key)}
        if len(self.key_to_index) != len(index_to_key):
            raise ValueError("KeyedVectors: words repeat in index_to_key")
        self.vectors = vectors

    @property
    def vectors(self):
        return self._vectors

    @vectors.setter
    def vectors(self, value):
        self._vectors = value
        self.norms = None   # unit vectors are recomputed on the next query

    @property
    def vector_size(self):
        return self._vectors.shape[1]

    def __len__(self):
        return len(self.index_to_key)

    def __contains__(self, key):
        return key in self.key_to_index

    has_index_for = __contains__

    def __repr__(self):
        return f"KeyedVectors({len(self)} words, vector_size={self.vector_size})"

    def get_index(self, key):
        try:
            return self.key_to_index[key]
        except KeyError:
            raise KeyError(f"word {key!r} not in vocabulary") from None

    def _indices(self, keys):
        missing = [k for k in keys if k not in self.key_to_index]
        if missing:
            raise KeyError(f"words not in vocabulary: {', '.join(map(repr, missing))}")
        return [self.key_to_index[k] for k in keys]

    def get_vector(self, key, norm=False):
        i = self.get_index(key)
        return self.get_normed_vectors()[i] if norm else self._vectors[i]

    def __getitem__(self, keys):
        if isinstance(keys, _KEYS):
            return self.get_vector(keys)
        return self._vectors[self._indices(list(keys))]

    # ---- similarity ----------------------------------------------------------

    def fill_norms(self, force=False):
        if self.norms is None or force:
            self.norms = np.linalg.norm(self._vectors, axis=1)
            self._unit = self._vectors / np.maximum(self.norms, 1e-12)[:, None]

    def get_normed_vectors(self):
        """(V, d) float32: every row scaled to unit length (zero rows stay zero)."""
        self.fill_norms()
        return self._unit

    def similarity(self, w1, w2):
        """Cosine similarity of two words."""
        unit = self.get_normed_vectors()
        i, j = self._indices([w1, w2])
        return float(np.dot(unit[i], unit[j]))

    def distance(self, w1, w2):
        return 1.0 - self.similarity(w1, w2)

    def distances(self, word_or_vector, other_words=()):
        """1 - cosine from a word (or vector) to other_words (all words if empty)."""
        unit = self.get_normed_vectors()
        if isinstance(word_or_vector, _KEYS):
            v = unit[self.get_index(word_or_vector)]
        else:
            v = np.asarray(word_or_vector, np.float32)
            v = v / max(float(np.linalg.norm(v)), 1e-12)
        rows = unit if not other_words else unit[self._indices(list(other_words))]
        return 1.0 - rows @ v

    def n_similarity(self, ws1, ws2):
        """Cosine between the means of two word sets (raw vectors, as gensim)."""
        if not len(ws1) or not len(ws2):
            raise ZeroDivisionError("n_similarity: at least one of the word lists is empty")
        a, b = self[list(ws1)].mean(axis=0), self[list(ws2)].mean(axis=0)
        return float(np.dot(a, b) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12))

    def _query(self, positive, negative):
        """Unit mean of weighted unit vectors (gensim's get_mean_vector) and the query's word ids."""
        positive = [positive] if isinstance(positive, (str, np.ndarray)) else list(positive or [])
        negative = [negative] if isinstance(negative, (str, np.ndarray)) else list(negative or [])
        # a plain word weighs +1 (positive) or -1 (negative); a (word, weight) pair says its weight
        items = [(k[0], float(k[1])) if isinstance(k, tuple) else (k, w)
                 for keys, w in ((positive, 1.0), (negative, -1.0)) for k in keys]
        if not items:
            raise ValueError("most_similar: give at least one positive or negative word")
        self._indices([k for k, _ in items if isinstance(k, _KEYS)])   # KeyError naming unknown words
        unit = self.get_normed_vectors()
        mean = np.zeros(self.vector_size, np.float64)
        for key, w in items:
            if isinstance(key, _KEYS):
                mean += w * unit[self.key_to_index[key]]
            else:
                mean += w * np.asarray(key, np.float64)
        mean /= max(float(np.linalg.norm(mean)), 1e-12)
        ids = [self.key_to_index[k] for k, _ in items if isinstance(k, _KEYS)]
        return mean.astype(np.float32), ids

    def most_similar(self, positive=None, negative=None, topn=10, restrict_vocab=None):
        """[(word, cosine)] of the topn words nearest to sum(positive) - sum(negative)
        (unit vectors), the query words left out; topn=None gives all cosines."""
        mean, ids = self._query(positive, negative)
        n = len(self) if restrict_vocab is None else min(int(restrict_vocab), len(self))
        dists = self.get_normed_vectors()[:n] @ mean
        if not topn:
            return dists
        k = min(topn + len(ids), n)
        best = np.argpartition(-dists, k - 1)[:k] if k < n else np.arange(n)
        best = best[np.argsort(-dists[best], kind="stable")]
        skip = set(ids)
        return [(self.index_to_key[i], float(dists[i])) for i in best if i not in skip][:topn]

    def similar_by_word(self, word, topn=10, restrict_vocab=None):
        return self.most_similar([word], topn=topn, restrict_vocab=restrict_vocab)

    def similar_by_vector(self, vector, topn=10, restrict_vocab=None):
        return self.most_similar([np.asarray(vector)], topn=topn, restrict_vocab=restrict_vocab)

    def doesnt_match(self, words):
        """The word furthest from the mean of the others' unit vectors (unknown words ignored, as gensim)."""
        used = [w for w in words if w in self.key_to_index]
        if not used:
            raise ValueError(f"doesnt_match: none of the words {list(words)!r} is in the vocabulary")
        vecs = self.get_normed_vectors()[self._indices(used)]
        mean = vecs.mean(axis=0)
        mean /= max(float(np.linalg.norm(mean)), 1e-12)
        return min(zip(vecs @ mean, used))[1]

    # ---- evaluation ----------------------------------------------------------

    def _ok_vocab(self, restrict_vocab, case_insensitive):
        """{word (upper-cased if case_insensitive): id} over the first restrict_vocab words;
        a case variant maps to its first (most frequent) form."""
        ok = self.index_to_key[:restrict_vocab]
        if case_insensitive:
            return {k.upper(): self.key_to_index[k] for k in reversed(ok)}
        return {k: self.key_to_index[k] for k in reversed(ok)}

    def evaluate_word_pairs(self, pairs, delimiter="\t", restrict_vocab=300000, case_insensitive=True,
                            dummy4unknown=False):
        """((pearson r, p), (spearman rho, p), oov %) of model cosines against human scores in a
        'word1 <delimiter> word2 <delimiter> score' file ('#' lines are comments)."""
        ok = self._ok_vocab(restrict_vocab, case_insensitive)
        unit = self.get_normed_vectors()
        gold, model, oov = [], [], 0
        for line_no, line in _lines(pairs):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.rstrip("\r\n").split(delimiter)
            try:
                a, b, sim = parts
                sim = float(sim)
            except ValueError:
                raise ValueError(f"{os.fspath(pairs)!r} line {line_no + 1}: expected 'word1{delimiter!r}"
                                 f"word2{delimiter!r}score', got {line.rstrip()!r}") from None
            a, b = (a.upper(), b.upper()) if case_insensitive else (a, b)
            if a not in ok or b not in ok:
                oov += 1
                if dummy4unknown:
                    gold.append(sim)
                    model.append(0.0)
                continue
            gold.append(sim)
            model.append(float(np.dot(unit[ok[a]], unit[ok[b]])))
        if not gold:
            raise ValueError(f"no word pair in {os.fspath(pairs)!r} has both words among the first "
                             f"{restrict_vocab} of the vocabulary ({oov} pairs out of vocabulary)")
        oov_ratio = 100.0 * oov / (len(gold) if dummy4unknown else len(gold) + oov)
        return pearson(gold, model), spearman(gold, model), oov_ratio

    def evaluate_word_analogies(self, analogies, restrict_vocab=300000, case_insensitive=True,
                                dummy4unknown=False):
        """(accuracy, sections) on a questions-words.txt style file: ': section' headers, then
        'a b c expected' lines; the answer is the nearest word to b - a + c by cosine among the
        first restrict_vocab words, the question words excluded (3CosAdd, gensim's rule)."""
        ok = self._ok_vocab(restrict_vocab, case_insensitive)
        n = min(restrict_vocab, len(self))
        unit = self.get_normed_vectors()[:n]
        # canon[i]: the id a candidate stands for (its most frequent case variant), so a
        # candidate that is a case variant of a question word is excluded too
        canon = np.array([ok[k.upper() if case_insensitive else k] for k in self.index_to_key[:n]])
        sections, questions, oov = [], [], 0
        for line_no, line in _lines(analogies):
            if line.startswith(": "):
                sections.append({"section": line[2:].strip(), "correct": [], "incorrect": []})
                continue
            if not line.strip():
                continue
            if not sections:
                raise ValueError(f"{os.fspath(analogies)!r} line {line_no + 1}: a question before "
                                 f"the first ': section' header")
            words = line.upper().split() if case_insensitive else line.split()
            if len(words) != 4:
                raise ValueError(f"{os.fspath(analogies)!r} line {line_no + 1}: expected 4 words "
                                 f"'a b c expected', got {line.rstrip()!r}")
            if not all(w in ok for w in words):
                oov += 1
                if dummy4unknown:
                    sections[-1]["incorrect"].append(tuple(words))
                continue
            questions.append((sections[-1], tuple(words), [ok[w] for w in words]))
        for start in range(0, len(questions), 1024):   # 1024 questions per matrix product
            chunk = questions[start:start + 1024]
            ids = np.array([q[2] for q in chunk])                    # (Q, 4): a, b, c, expected
            query = unit[ids[:, 1]] + unit[ids[:, 2]] - unit[ids[:, 0]]
            query /= np.maximum(np.linalg.norm(query, axis=1, keepdims=True), 1e-12)
            sims = query @ unit.T                                     # (Q, n)
            for col in range(3):
                sims[canon[None, :] == ids[:, col:col + 1]] = -np.inf
            predicted = sims.argmax(axis=1)
            for (section, words, _), p, q in zip(chunk, predicted, ids):
                section["correct" if canon[p] == q[3] else "incorrect"].append(words)
        total = {"section": "Total accuracy",
                 "correct": [q for s in sections for q in s["correct"]],
                 "incorrect": [q for s in sections for q in s["incorrect"]]}
        asked = len(total["correct"]) + len(total["incorrect"])
        if not asked:
            raise ValueError(f"no analogy question in {os.fspath(analogies)!r} has all four words among "
                             f"the first {restrict_vocab} of the vocabulary ({oov} questions out of vocabulary)")
        sections.append(total)
        self.analogy_oov = oov   # questions skipped, as gensim logs
        return len(total["correct"]) / asked, sections

    # ---- word2vec formats ----------------------------------------------------

    def save_word2vec_format(self, path, binary=False):
        """Write the word2vec text or binary format (see module doc)."""
        bad = [w for w in self.index_to_key if not w or any(ch.isspace() for ch in w)]
        if bad:
            raise ValueError(f"save_word2vec_format: words with whitespace can't be stored: {bad[:5]!r}")
        vectors = self._vectors.astype("<f4")
        with open(path, "wb") as f:
            f.write(f"{len(self)} {self.vector_size}\n".encode())
            for word, row in zip(self.index_to_key, vectors):
                if binary:
                    f.write(word.encode("utf-8") + b" " + row.tobytes() + b"\n")
                else:
                    f.write((word + " " + " ".join("%.9g" % v for v in row.tolist()) + "\n").encode("utf-8"))

    @classmethod
    def load_word2vec_format(cls, path, binary=False, limit=None, encoding="utf-8"):
        """Read the word2vec text or binary format (first `limit` words if given)."""
        name = os.fspath(path)
        with open(path, "rb") as f:
            header = f.readline()
            try:
                n, d = (int(x) for x in header.split())
            except ValueError:
                raise ValueError(f"{name!r}: the first line must be 'count dimensions', got {header[:80]!r}") from None
            if n < 0 or d <= 0:
                raise ValueError(f"{name!r}: bad header {header.strip()!r}")
            n = n if limit is None else min(n, int(limit))
            words, vectors = (_read_binary if binary else _read_text)(f, name, n, d, encoding)
        if len(set(words)) != len(words):
            raise ValueError(f"{name!r}: some words appear twice")
        return cls(words, vectors)


def _read_text(f, name, n, d, encoding):
    words, vectors = [], np.empty((n, d), np.float32)
    for i in range(n):
        line = f.readline()
        if not line:
            raise ValueError(f"{name!r} is truncated: the header promises {n} words, the file ends after {i}")
        parts = line.decode(encoding).rstrip().split(" ")
        if len(parts) != d + 1:
            raise ValueError(f"{name!r} line {i + 2}: expected a word and {d} values, got "
                             f"{len(parts) - 1} values (word {parts[0]!r})")
        try:
            vectors[i] = np.asarray(parts[1:], dtype=np.float32)
        except ValueError:
            raise ValueError(f"{name!r} line {i + 2}: word {parts[0]!r} has a value that is not a number") from None
        words.append(parts[0])
    return words, vectors


def _read_binary(f, name, n, d, encoding):
    """Each word is the bytes up to a space (after word2vec.c's newline, if any), then d float32."""
    data, pos = f.read(), 0
    words, vectors = [], np.empty((n, d), np.float32)
    for i in range(n):
        pos += data[pos:pos + 1] == b"\n"
        space = data.find(b" ", pos)
        if space < 0:
            raise ValueError(f"{name!r} is truncated: the file ends inside word {i + 1} of {n}")
        try:
            word = data[pos:space].decode(encoding)
        except UnicodeDecodeError:
            raise ValueError(f"{name!r}: word {i + 1} is not {encoding}: {data[pos:space][:40]!r}") from None
        start = space + 1
        if start + 4 * d > len(data):
            raise ValueError(f"{name!r} is truncated: word {i + 1} of {n} ({word!r}) has "
                             f"{(len(data) - start) // 4} of {d} values")
        vectors[i] = np.frombuffer(data, "<f4", d, start)
        words.append(word)
        pos = start + 4 * d
    return words, vectors


def _lines(path):
    """(line number from 0, line) of a UTF-8 evaluation file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"evaluation file {os.fspath(path)!r} does not exist")
    with open(path, encoding="utf-8") as f:
        yield from enumerate(f)
