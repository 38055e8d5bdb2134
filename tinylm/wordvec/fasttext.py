"""FastText: word vectors built from the word and its character n-grams
(Bojanowski et al. 2017), with gensim 4's names.

    model = FastText(read_corpus("corpus.txt"), vector_size=100, sg=1, min_n=3, max_n=6)
    model.wv["king"]; model.wv["kingz"]          # an unseen word gets a vector from its n-grams
    model.wv.most_similar("kingz")

Each word w has its own input row plus one row per n-gram of "<w>" (3 to 6
characters by default), hashed into `bucket` rows shared by all words
(kernels/fasttext.py: the hash is gensim's ft_hash_bytes, so a word's
buckets are the same as in gensim and Facebook's fastText). Training is
word2vec's skip-gram or CBOW with negative sampling or hierarchical
softmax, with a word's input vector the mean of its row and its n-gram rows.
The vector of a known word is that mean; of an unknown word, the mean of its
n-gram rows (zero when it has none, as gensim).

Sentences are cut into jobs of about batch_words words (gensim's 10000).
Each job runs the kernel with one learning rate, alpha decayed linearly to
min_alpha by the words handed out before it (as gensim's job producer), and
its own random seed; `workers` threads take jobs and race on the shared
rows (Hogwild). With workers=1 a run is repeatable.
"""
import heapq
import threading
from dataclasses import asdict, dataclass

import numpy as np

from kernels.fasttext import fasttext_train, ngram_buckets, word_vectors

from .glove import hogwild_map
from .keyedvectors import KeyedVectors
from .vocab import Vocab, read_corpus

FORMAT = "tinylm.fasttext.v1"


@dataclass
class FastTextConfig:
    vector_size: int = 100        # d, the width of every row
    alpha: float = 0.025          # initial learning rate
    window: int = 5               # largest context on each side (drawn from 1..window per word)
    min_count: int = 5            # words seen fewer times are dropped
    max_vocab_size: int = None    # prune the raw vocabulary while scanning (gensim semantics)
    sample: float = 1e-3          # frequent-word subsampling threshold (0: off)
    seed: int = 1                 # initial rows and every job's random stream
    workers: int = 3              # Hogwild threads
    min_alpha: float = 1e-4       # learning rate at the end of the last epoch
    sg: int = 0                   # 1: skip-gram; 0: CBOW
    hs: int = 0                   # 1: hierarchical softmax over a Huffman tree
    negative: int = 5             # negative samples per target (0: none)
    ns_exponent: float = 0.75     # negatives drawn by count ** ns_exponent
    epochs: int = 5               # passes over the corpus
    min_n: int = 3                # shortest n-gram, in characters
    max_n: int = 6                # longest n-gram (max_n < min_n: no n-grams, plain word2vec)
    bucket: int = 2000000         # n-gram hash buckets (rows of vectors_ngrams)
    batch_words: int = 10000      # words per job

    def check(self):
        for name, lo in (("vector_size", 1), ("window", 1), ("min_count", 1), ("epochs", 1), ("workers", 1),
                         ("negative", 0), ("min_n", 0), ("max_n", 0), ("bucket", 0), ("batch_words", 1)):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
                raise ValueError(f"FastText: {name} must be an int >= {lo}, got {v!r}")
        if not self.alpha > 0 or not self.min_alpha >= 0:
            raise ValueError(f"FastText: need alpha > 0 and min_alpha >= 0, got {self.alpha}, {self.min_alpha}")
        for name in ("sg", "hs"):
            if getattr(self, name) not in (0, 1):
                raise ValueError(f"FastText: {name} must be 0 or 1, got {getattr(self, name)!r}")
        if not self.sample >= 0:
            raise ValueError(f"FastText: sample must be >= 0, got {self.sample!r}")
        if not self.hs and not self.negative:
            raise ValueError("FastText: with hs=0 and negative=0 nothing is trained; set one of them")


class FastTextKeyedVectors(KeyedVectors):
    """KeyedVectors whose lookups also answer for unseen words, from their n-grams
    (gensim: `word in wv` is True for every word once there are n-gram buckets)."""

    def __init__(self, index_to_key, vectors, vectors_ngrams, min_n, max_n, bucket):
        super().__init__(index_to_key, vectors)
        self.vectors_ngrams, self.min_n, self.max_n, self.bucket = vectors_ngrams, min_n, max_n, bucket

    def buckets(self, word):
        """int32: the n-gram rows of any word."""
        return word_buckets([word], self.min_n, self.max_n, self.bucket)[1]

    def __contains__(self, key):
        return key in self.key_to_index or (self.bucket > 0 and self.max_n >= self.min_n)

    def get_vector(self, key, norm=False):
        if key in self.key_to_index:
            return super().get_vector(key, norm)
        if not self.bucket:
            raise KeyError(f"word {key!r} not in vocabulary, and the model has no n-gram buckets")
        rows = self.buckets(key)
        v = self.vectors_ngrams[rows].mean(axis=0) if rows.size else np.zeros(self.vector_size, np.float32)
        return v / max(float(np.linalg.norm(v)), 1e-12) if norm else v

    def __getitem__(self, keys):
        if isinstance(keys, str):
            return self.get_vector(keys)
        if not len(keys):
            return np.zeros((0, self.vector_size), np.float32)
        return np.stack([self.get_vector(k) for k in keys])

    def similarity(self, w1, w2):
        a, b = self.get_vector(w1, norm=True), self.get_vector(w2, norm=True)
        return float(np.dot(a, b))

    def most_similar(self, positive=None, negative=None, topn=10, restrict_vocab=None):
        """As KeyedVectors.most_similar; unseen words enter by their n-gram vectors."""
        def as_vec(words):   # unseen words become their unit vectors, which most_similar accepts
            words = [words] if isinstance(words, str) else list(words or [])
            return [self.get_vector(w, norm=True) if isinstance(w, str) and w not in self.key_to_index else w
                    for w in words]
        return super().most_similar(as_vec(positive), as_vec(negative), topn, restrict_vocab)


def word_buckets(words, min_n, max_n, bucket):
    """(sub_offsets, sub_ids) of `words` (kernels/fasttext.py's CSR layout)."""
    if bucket == 0 or max_n < min_n:
        return np.zeros(len(words) + 1, np.int64), np.zeros(0, np.int32)
    enc = [f"<{w}>".encode("utf-8") for w in words]
    offsets = np.zeros(len(enc) + 1, np.int64)
    np.cumsum([len(e) for e in enc], out=offsets[1:])
    return ngram_buckets(np.frombuffer(b"".join(enc), np.uint8), offsets, min_n, max_n, bucket)


def huffman_paths(counts):
    """(path_offsets int64 (V + 1,), codes uint8, points int32): word w's path from the
    root, inner-node rows points[...] (0..V-2) and the branch taken at each (word2vec.c's tree:
    repeatedly join the two least frequent nodes; ties by node index)."""
    V = len(counts)
    heap = [(int(c), i) for i, c in enumerate(counts)]
    heapq.heapify(heap)
    parent, bit = np.zeros(2 * V, np.int64), np.zeros(2 * V, np.uint8)
    for k in range(V - 1):
        (c1, a), (c2, b) = heapq.heappop(heap), heapq.heappop(heap)
        parent[a], parent[b], bit[b] = V + k, V + k, 1
        heapq.heappush(heap, (c1 + c2, V + k))
    codes, points, lengths = [], [], []
    for w in range(V):
        node, cs, ps = w, [], []
        while node != 2 * V - 2 and V > 1:   # up to the root
            cs.append(bit[node])
            ps.append(parent[node] - V)
            node = parent[node]
        codes += cs[::-1]
        points += ps[::-1]
        lengths.append(len(cs))
    path_offsets = np.zeros(V + 1, np.int64)
    np.cumsum(lengths, out=path_offsets[1:])
    return path_offsets, np.array(codes, np.uint8), np.array(points, np.int32)


class FastText:
    """FastText(sentences=None, corpus_file=None, **FastTextConfig fields, progress=None).

    With a corpus it builds the vocabulary and trains at once; else call
    build_vocab(sentences) and train(sentences). `progress(done, total, alpha)`
    is called after each job (done/total: words over all epochs; Word2Vec's
    hook), from one thread at a time."""

    def __init__(self, sentences=None, corpus_file=None, progress=None, **config):
        unknown = set(config) - set(FastTextConfig.__dataclass_fields__)
        if unknown:
            raise TypeError(f"FastText: unknown arguments {sorted(unknown)}")
        self.config = FastTextConfig(**config)
        self.config.check()
        self.vocab = self.wv = None
        if sentences is not None and corpus_file is not None:
            raise ValueError("FastText: give sentences or corpus_file, not both")
        if sentences is not None or corpus_file is not None:
            sentences = read_corpus(corpus_file if corpus_file is not None else sentences)
            self.build_vocab(sentences)
            self.train(sentences, progress=progress)

    def build_vocab(self, corpus_iterable=None, corpus_file=None):
        """Vocabulary, n-gram buckets, sampling tables and freshly initialised rows."""
        c = self.config
        sentences = _corpus(corpus_iterable, corpus_file, "FastText.build_vocab")
        self.vocab = Vocab(sentences, min_count=c.min_count, max_vocab_size=c.max_vocab_size)
        V, d = len(self.vocab), c.vector_size
        self.sub_offsets, self.sub_ids = word_buckets(self.vocab.words, c.min_n, c.max_n, c.bucket)
        rng = np.random.default_rng(c.seed)
        # input rows uniform(-1/d, 1/d), output rows zero (fastText, gensim)
        self.vectors_vocab = _uniform(rng, (V, d), 1.0 / d)
        self.vectors_ngrams = _uniform(rng, (c.bucket if self.sub_ids.size else 0, d), 1.0 / d)
        self.syn1neg = np.zeros((V if c.negative else 0, d), np.float32)
        self.syn1 = np.zeros((V - 1 if c.hs else 0, d), np.float32)
        self.epochs_trained = 0
        self._set_wv()

    def _tables(self):
        c = self.config
        keep = self.vocab.keep_thresholds(c.sample)
        cum = self.vocab.cum_table(c.ns_exponent) if c.negative else np.ones(1, np.uint32)
        paths = huffman_paths(self.vocab.counts) if c.hs else (np.zeros(len(self.vocab) + 1, np.int64),
                                                               np.zeros(0, np.uint8), np.zeros(0, np.int32))
        return keep, cum, paths

    def train(self, corpus_iterable=None, corpus_file=None, epochs=None, progress=None, total_examples=None,
              total_words=None):
        """`epochs` passes (default config.epochs), alpha decaying to min_alpha over them;
        returns the words trained on (after subsampling) per epoch. total_examples and
        total_words are accepted for gensim compatibility and not needed."""
        if self.vocab is None:
            raise ValueError("FastText.train: no vocabulary; call build_vocab(sentences) first")
        c = self.config
        epochs = c.epochs if epochs is None else int(epochs)
        if epochs < 1:
            raise ValueError(f"FastText.train: epochs must be >= 1, got {epochs}")
        ids, offsets = self.vocab.encode_corpus(_corpus(corpus_iterable, corpus_file, "FastText.train"))
        lengths = np.diff(offsets)
        n_words = int(lengths.sum())
        if n_words == 0:
            raise ValueError("FastText.train: no sentence holds a word of the vocabulary")
        jobs = _jobs(lengths, c.batch_words)                 # [(first sentence, end, words before)]
        keep, cum, (path_offsets, codes, points) = self._tables()
        total, lock = epochs * n_words, threading.Lock()
        state = {"done": 0, "trained": 0}

        def run(job, epoch, job_seed):
            s0, s1, before = job
            alpha = c.alpha - (c.alpha - c.min_alpha) * (epoch * n_words + before) / total
            raw, trained = fasttext_train(self.vectors_vocab, self.vectors_ngrams, self.syn1neg, self.syn1, ids,
                                          offsets, s0, s1, self.sub_offsets, self.sub_ids, keep, cum,
                                          path_offsets, codes, points, c.sg, c.hs, c.negative, c.window,
                                          alpha, job_seed)
            with lock:
                state["done"] += raw
                state["trained"] += trained
                if progress is not None:
                    progress(state["done"], total, alpha)

        trained_per_epoch = []
        for epoch in range(epochs):
            seeds = np.random.default_rng([c.seed, self.epochs_trained + epoch]).integers(0, 2**48, len(jobs))
            state["trained"] = 0
            hogwild_map(lambda q: run(jobs[q], epoch, int(seeds[q])), range(len(jobs)), c.workers)
            trained_per_epoch.append(state["trained"])
        self.epochs_trained += epochs
        self._set_wv()
        return trained_per_epoch

    def _set_wv(self):
        """wv.vectors = mean of each word's row and its n-gram rows (gensim's adjust_vectors)."""
        c = self.config
        vectors = np.empty_like(self.vectors_vocab)
        word_vectors(vectors, self.vectors_vocab, self.vectors_ngrams, self.sub_offsets, self.sub_ids)
        self.wv = FastTextKeyedVectors(self.vocab.words, vectors, self.vectors_ngrams,
                                       c.min_n, c.max_n, c.bucket if self.sub_ids.size else 0)

    # ---- save / load -----------------------------------------------------------

    def save(self, path):
        """Everything needed to go on training, as one safetensors file (no pickle)."""
        from ..serialization import save
        save({"format": FORMAT, "config": asdict(self.config), "words": self.vocab.words,
              "word_counts": self.vocab.counts, "total_words": self.vocab.total_words,
              "epochs_trained": self.epochs_trained,
              "rows": {"vectors_vocab": self.vectors_vocab, "vectors_ngrams": self.vectors_ngrams,
                       "syn1neg": self.syn1neg, "syn1": self.syn1}}, path)

    @classmethod
    def load(cls, path):
        from ..serialization import load
        state = load(path)
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ValueError(f"FastText.load: {str(path)!r} is not a saved FastText model")
        self = cls(**state["config"])
        self.vocab = Vocab.from_counts(state["words"], state["word_counts"], state["total_words"])
        c = self.config
        self.sub_offsets, self.sub_ids = word_buckets(self.vocab.words, c.min_n, c.max_n, c.bucket)
        for name, rows in state["rows"].items():
            setattr(self, name, np.array(rows))   # writable copies: training updates them in place
        self.epochs_trained = state["epochs_trained"]
        self._set_wv()
        return self


def _corpus(corpus_iterable, corpus_file, who):
    if (corpus_iterable is None) == (corpus_file is None):
        raise ValueError(f"{who}: give exactly one of corpus_iterable (sentences) and corpus_file")
    return read_corpus(corpus_file if corpus_file is not None else corpus_iterable)


def _uniform(rng, shape, scale):
    """float32 uniform(-scale, scale), drawn in float32 (no float64 copy of a large table)."""
    a = rng.random(shape, dtype=np.float32)
    a -= np.float32(0.5)
    a *= np.float32(2 * scale)
    return a


def _jobs(lengths, batch_words):
    """[(s0, s1, words before s0)]: runs of whole sentences of about batch_words words."""
    jobs, s0, words, before = [], 0, 0, 0
    for s, n in enumerate(lengths):
        words += int(n)
        if words >= batch_words:
            jobs.append((s0, s + 1, before))
            s0, before, words = s + 1, before + words, 0
    if s0 < len(lengths):
        jobs.append((s0, len(lengths), before))
    return jobs
