"""Word2Vec (Mikolov et al. 2013) with gensim 4's interface, trained by the
Numba kernel in kernels/word2vec.py.

    model = Word2Vec(sentences, vector_size=100, window=5, min_count=5, sg=1, workers=2)
    model.wv.most_similar("python")
    model.save("w2v.npz"); model = Word2Vec.load("w2v.npz")

Like gensim, giving sentences (or corpus_file) to the constructor builds
the vocabulary and trains at once; otherwise call build_vocab() then train().

Training, as word2vec.c and gensim do it:
- the corpus (in-vocabulary ids only) is cut into jobs of whole sentences,
  about JOB_WORDS ids each; every job trains at one learning rate, decayed
  linearly from alpha to min_alpha by the share of the epochs*words done
  before it (gensim's per-job schedule);
- `workers` Python threads take jobs in order and run the kernel with the
  GIL released, all updating the same weight arrays without locks
  (Hogwild, as gensim). With workers=1 a seed gives the same vectors every
  run; with more, thread timing changes the order of updates;
- each job draws its random numbers from its own LCG state, taken from a
  generator seeded by `seed`;
- input vectors start uniform in [-1/d, 1/d) (gensim 4's prep_vectors;
  word2vec.c uses [-0.5/d, 0.5/d)), output vectors at zero.
Sentences are not cut at 10000 words (gensim truncates them in training);
read_corpus cuts long lines as gensim's LineSentence does.
"""
import json
import os
import threading
from dataclasses import asdict, dataclass

import numpy as np

from kernels.word2vec import huffman_tree, negative_guide, w2v_train_job

from .keyedvectors import KeyedVectors
from .vocab import Vocab, read_corpus

JOB_WORDS = 10000          # ids per job (gensim's MAX_WORDS_IN_BATCH)
FORMAT = "tinylm.word2vec/1"


@dataclass
class Word2VecConfig:
    vector_size: int = 100       # dimension d of the word vectors
    alpha: float = 0.025         # initial learning rate
    window: int = 5              # max distance between centre and context word
    min_count: int = 5           # words seen fewer times are dropped
    max_vocab_size: int = None   # prune the raw vocabulary while counting when it grows past this
    sample: float = 1e-3         # subsampling threshold for frequent words (0: off)
    seed: int = 1                # seeds initial vectors and the random draws
    workers: int = 3             # training threads (Hogwild)
    min_alpha: float = 1e-4      # learning rate at the end of training
    sg: int = 0                  # 1: skip-gram, 0: CBOW
    hs: int = 0                  # 1: hierarchical softmax
    negative: int = 5            # negative samples per target (0: none)
    ns_exponent: float = 0.75    # negative sampling draws words by count**ns_exponent
    cbow_mean: int = 1           # CBOW: 1 averages the context vectors, 0 sums them
    epochs: int = 5              # passes over the corpus

    def check(self):
        def bad(name, want):
            raise ValueError(f"Word2Vec: {name} must be {want}, got {getattr(self, name)!r}")
        for name in ("vector_size", "window", "min_count", "workers", "epochs"):
            if not isinstance(getattr(self, name), (int, np.integer)) or getattr(self, name) < 1:
                bad(name, "an int >= 1")
        for name in ("sg", "hs", "cbow_mean"):
            if getattr(self, name) not in (0, 1):
                bad(name, "0 or 1")
        if not isinstance(self.negative, (int, np.integer)) or self.negative < 0:
            bad("negative", "an int >= 0")
        if not self.hs and not self.negative:
            raise ValueError("Word2Vec: hs=0 and negative=0 leave nothing to train; set hs=1 or negative > 0")
        if not self.alpha > 0 or not self.min_alpha >= 0:
            raise ValueError(f"Word2Vec: need alpha > 0 and min_alpha >= 0, got {self.alpha}, {self.min_alpha}")
        if not self.sample >= 0:
            bad("sample", ">= 0")


class Word2Vec:
    def __init__(self, sentences=None, corpus_file=None, **kwargs):
        unknown = set(kwargs) - set(Word2VecConfig.__dataclass_fields__)
        if unknown:
            raise TypeError(f"Word2Vec: unknown arguments {sorted(unknown)}")
        self.config = Word2VecConfig(**kwargs)
        self.config.check()
        self.vocab, self.wv, self.syn1neg, self.syn1 = None, None, None, None
        self.epochs = self.config.epochs
        self._rng = np.random.default_rng([self.config.seed, 1])   # job seeds (apart from the init's stream)
        if sentences is not None and corpus_file is not None:
            raise ValueError("Word2Vec: give sentences or corpus_file, not both")
        if sentences is not None or corpus_file is not None:
            corpus = read_corpus(corpus_file if corpus_file is not None else sentences)
            self.build_vocab(corpus)
            self.train(corpus)

    def __getattr__(self, name):   # model.window, model.sg, ... as in gensim
        config = self.__dict__.get("config")
        if config is not None and name in Word2VecConfig.__dataclass_fields__:
            return getattr(config, name)
        raise AttributeError(f"'Word2Vec' object has no attribute {name!r}")

    @property
    def corpus_count(self):
        """Sentences seen by build_vocab (gensim's name)."""
        return self.vocab.corpus_count if self.vocab else 0

    @property
    def corpus_total_words(self):
        """Words seen by build_vocab, rare ones included (gensim's name)."""
        return self.vocab.total_words if self.vocab else 0

    def __repr__(self):
        c = self.config
        return (f"Word2Vec(vocab={len(self.vocab) if self.vocab else 0}, vector_size={c.vector_size}, "
                f"sg={c.sg}, hs={c.hs}, negative={c.negative}, window={c.window})")

    # ---- vocabulary --------------------------------------------------------

    def build_vocab(self, corpus_iterable=None, corpus_file=None):
        """Count words, keep those seen min_count times, and initialise the weights."""
        corpus = _corpus(corpus_iterable, corpus_file)
        c = self.config
        self.vocab = Vocab(corpus, min_count=c.min_count, max_vocab_size=c.max_vocab_size)
        self._prepare_weights()
        return self

    def _prepare_weights(self):
        c, V = self.config, len(self.vocab)
        init = np.random.default_rng(c.seed)
        # uniform in [-1/d, 1/d), as gensim 4 (prep_vectors); word2vec.c draws from [-0.5/d, 0.5/d)
        vectors = (init.random((V, c.vector_size), dtype=np.float32) * np.float32(2) - np.float32(1)) \
            / np.float32(c.vector_size)
        self.wv = KeyedVectors(self.vocab.words, vectors)
        self.syn1neg = np.zeros((V if c.negative else 0, c.vector_size), np.float32)
        self.syn1 = np.zeros((V - 1 if c.hs else 0, c.vector_size), np.float32)
        self._tables()

    def _tables(self):
        c = self.config
        self._keep = self.vocab.keep_thresholds(c.sample)
        self._cum = self.vocab.cum_table(c.ns_exponent)
        self._guide, self._guide_shift = negative_guide(self._cum)
        if c.hs:
            self._points, self._codes, self._codelens = huffman_tree(self.vocab.counts)
        else:
            self._points = np.zeros((1, 1), np.int32)
            self._codes = np.zeros((1, 1), np.uint8)
            self._codelens = np.zeros(1, np.int32)

    # ---- training ------------------------------------------------------------

    def train(self, corpus_iterable=None, corpus_file=None, epochs=None, start_alpha=None, end_alpha=None,
              total_examples=None, total_words=None, progress=None):
        """Train on the corpus; returns (words trained on after subsampling, corpus words x epochs),
        as gensim. progress(words_done, words_total, alpha) is called after every job, from the
        thread that ran it; words count in-vocabulary words.
        total_examples/total_words are accepted for gensim compatibility and not needed."""
        if self.vocab is None:
            raise RuntimeError("Word2Vec.train: call build_vocab() first (or pass sentences to Word2Vec())")
        corpus = _corpus(corpus_iterable, corpus_file)
        ids, offsets = self.vocab.encode_corpus(corpus)
        if ids.size == 0:
            raise ValueError("Word2Vec.train: no word of the corpus is in the vocabulary")
        c = self.config
        epochs = c.epochs if epochs is None else int(epochs)
        alpha0 = c.alpha if start_alpha is None else start_alpha
        alpha1 = c.min_alpha if end_alpha is None else end_alpha
        key = (offsets[1:] - 1) // JOB_WORDS            # a job ends where a sentence crosses a multiple
        starts = np.concatenate([[0], np.flatnonzero(np.diff(key)) + 1, [len(offsets) - 1]])
        total = epochs * ids.size
        jobs = []
        for e in range(epochs):
            for s0, s1 in zip(starts[:-1], starts[1:]):
                done = e * ids.size + offsets[s0]
                alpha = alpha0 - (alpha0 - alpha1) * done / total
                jobs.append((int(s0), int(s1), float(alpha), np.uint64(self._rng.integers(0, 2**48)), done))
        max_len = int(np.diff(offsets).max())
        kept = self._run(jobs, ids, offsets, max_len, total, progress)
        self.wv.fill_norms(force=True)
        return kept, epochs * sum(map(len, corpus))

    def _run(self, jobs, ids, offsets, max_len, total, progress):
        c, lock = self.config, threading.Lock()
        queue, kept, errors = iter(jobs), [0], []
        syn0 = self.wv.vectors

        def worker():
            work, neu1 = np.zeros(c.vector_size, np.float32), np.zeros(c.vector_size, np.float32)
            sent = np.zeros(max(max_len, 1), np.int32)
            try:
                while True:
                    with lock:
                        job = next(queue, None)
                    if job is None:
                        return
                    s0, s1, alpha, seed, done = job
                    n, _ = w2v_train_job(syn0, self.syn1neg, self.syn1, work, neu1, sent, ids, offsets, s0, s1,
                                         self._keep, self._cum, self._guide, self._guide_shift, self._points, self._codes, self._codelens,
                                         c.sg, c.hs, c.negative, c.window, c.cbow_mean, int(c.sample > 0),
                                         alpha, seed)
                    with lock:
                        kept[0] += n
                        if progress is not None:
                            progress(int(done + offsets[s1] - offsets[s0]), total, alpha)
            except BaseException as e:   # re-raised in the calling thread
                errors.append(e)

        if c.workers == 1:
            worker()
        else:
            threads = [threading.Thread(target=worker, daemon=True) for _ in range(c.workers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        if errors:
            raise errors[0]
        return kept[0]

    # ---- save / load -------------------------------------------------------

    def save(self, path):
        """One .npz file (no pickle): config and vocabulary as JSON, weights as arrays."""
        if self.vocab is None:
            raise RuntimeError("Word2Vec.save: the model has no vocabulary yet")
        meta = {"format": FORMAT, "config": asdict(self.config), "total_words": self.vocab.total_words,
                "corpus_count": self.vocab.corpus_count}
        with open(path, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta)), words=np.array(self.vocab.words, dtype=str),
                     counts=self.vocab.counts, vectors=self.wv.vectors, syn1neg=self.syn1neg, syn1=self.syn1)

    @classmethod
    def load(cls, path):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Word2Vec.load: {os.fspath(path)!r} does not exist")
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                arrays = {k: z[k] for k in ("words", "counts", "vectors", "syn1neg", "syn1")}
        except (ValueError, KeyError, OSError) as e:
            raise ValueError(f"Word2Vec.load: {os.fspath(path)!r} is not a saved tinylm Word2Vec model ({e})") from None
        if meta.get("format") != FORMAT:
            raise ValueError(f"Word2Vec.load: {os.fspath(path)!r} has format {meta.get('format')!r}, "
                             f"expected {FORMAT!r}")
        model = cls(**meta["config"])
        model.vocab = Vocab.from_counts(arrays["words"].tolist(), arrays["counts"], meta["total_words"],
                                        meta["corpus_count"])
        model.wv = KeyedVectors(model.vocab.words, arrays["vectors"])
        model.syn1neg, model.syn1 = arrays["syn1neg"], arrays["syn1"]
        model._tables()
        return model


def _corpus(corpus_iterable, corpus_file):
    if (corpus_iterable is None) == (corpus_file is None):
        raise ValueError("Word2Vec: give exactly one of corpus_iterable (sentences) and corpus_file")
    return read_corpus(corpus_file if corpus_file is not None else corpus_iterable)
