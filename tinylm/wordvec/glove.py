"""GloVe: global vectors from a word-word co-occurrence matrix (Pennington et
al. 2014), trained as the reference C code (glove's cooccur.c and glove.c).

    model = GloVe(read_corpus("corpus.txt"), vector_size=100, window=10, epochs=25)
    model.wv.most_similar("king")

1. Count X_ij over a symmetric window, each pair weighted 1/distance
   (kernels/glove.py: `cooccur`, a dense block for frequent pairs and a
   hash table for the rest; memory bound by the number of distinct pairs,
   not the corpus length). The model keeps the nonzero X_ij (16 bytes
   each); training adds 32 more per entry (the weighted records and a
   shuffled copy).
2. Minimise sum_ij f(X_ij) (w_i . w~_j + b_i + b~_j - log X_ij)^2 with
   f(x) = min(1, (x / x_max)^alpha) by AdaGrad over the nonzero X_ij in a
   fresh random order each epoch (glove.c shuffles once; a new order per
   epoch costs a permutation and helps a little), `workers` threads racing
   on shared rows (Hogwild, as glove.c's pthreads).
3. The vectors are W + W~ (glove.c's default `-model 2`).

Defaults are glove.c's (x_max=100, alpha=0.75, eta=0.05, 25 iterations,
vectors and biases drawn from uniform(-0.5, 0.5) / d, AdaGrad accumulators
starting at 1), except window=10: the paper's "symmetric context window of
size 10" (cooccur.c's own default is 15).
"""
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np

from kernels.glove import cooccur, glove_epoch, make_entries

from .keyedvectors import KeyedVectors
from .vocab import Vocab, read_corpus

CHUNK = 1 << 16   # most co-occurrence entries per kernel call: a progress tick, a unit of work for a thread
FORMAT = "tinylm.glove.v1"


@dataclass
class GloVeConfig:
    vector_size: int = 100        # d, the width of W and W~
    window: int = 10              # words on each side counted as context (the paper's 10)
    min_count: int = 5            # words seen fewer times are dropped before counting
    max_vocab_size: int = None    # prune the raw vocabulary while scanning (gensim semantics); None: no limit
    x_max: float = 100.0          # f(x) = 1 from x_max on
    alpha: float = 0.75           # exponent of f below x_max
    learning_rate: float = 0.05   # AdaGrad's initial step (glove.c's eta)
    epochs: int = 25              # passes over the nonzero X_ij
    seed: int = 1                 # initial vectors and the shuffles
    workers: int = 2              # Hogwild threads; 1 gives the same vectors on every run
    symmetric: bool = True        # count left and right contexts (cooccur.c -symmetric 1)

    def check(self):
        for name in ("vector_size", "window", "min_count", "epochs", "workers"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"GloVe: {name} must be an int >= 1, got {v!r}")
        for name in ("x_max", "alpha", "learning_rate"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not v > 0:
                raise ValueError(f"GloVe: {name} must be a number > 0, got {v!r}")


class GloVe:
    """GloVe(sentences=None, corpus_file=None, **GloVeConfig fields, progress=None).

    With a corpus it counts co-occurrences and trains at once; else call
    build_vocab(sentences) and train(). `progress(done, total, lr)` is
    called as training goes (done/total: co-occurrence updates over all
    epochs; Word2Vec's hook), from one thread at a time."""

    def __init__(self, sentences=None, corpus_file=None, progress=None, **config):
        unknown = set(config) - set(GloVeConfig.__dataclass_fields__)
        if unknown:
            raise TypeError(f"GloVe: unknown arguments {sorted(unknown)}")
        self.config = GloVeConfig(**config)
        self.config.check()
        self.vocab = None
        self.wv = None
        if sentences is not None and corpus_file is not None:
            raise ValueError("GloVe: give sentences or corpus_file, not both")
        if sentences is not None or corpus_file is not None:
            self.build_vocab(read_corpus(corpus_file if corpus_file is not None else sentences))
            self.train(progress=progress)

    # ---- counting --------------------------------------------------------------

    def build_vocab(self, corpus_iterable=None, corpus_file=None):
        """Vocabulary, co-occurrence counts and freshly initialised parameters."""
        c = self.config
        if (corpus_iterable is None) == (corpus_file is None):
            raise ValueError("GloVe.build_vocab: give exactly one of corpus_iterable (sentences) and corpus_file")
        sentences = read_corpus(corpus_file if corpus_file is not None else corpus_iterable)
        self.vocab = Vocab(sentences, min_count=c.min_count, max_vocab_size=c.max_vocab_size)
        ids, offsets = self.vocab.encode_corpus(sentences)
        V = len(self.vocab)
        self.rows, self.cols, self.counts = cooccur(ids, offsets, c.window, V, c.symmetric)
        if self.rows.size == 0:
            raise ValueError(f"GloVe: no co-occurrences: no sentence has 2 of the {V} words kept by "
                             f"min_count={c.min_count}; give longer sentences or lower min_count")
        self._init_params(V)
        self.epochs_trained = 0

    def _init_params(self, V):
        d = self.config.vector_size
        rng = np.random.default_rng(self.config.seed)
        uniform = lambda *shape: ((rng.random(shape) - 0.5) / d).astype(np.float32)  # noqa: E731
        self.W, self.W_context = uniform(V, d), uniform(V, d)          # (V, d) each
        self.b, self.b_context = uniform(V), uniform(V)                # (V,)
        # AdaGrad accumulators start at 1, as glove.c's gradsq
        self.gradsq = [np.ones_like(a) for a in (self.W, self.W_context, self.b, self.b_context)]
        self._set_wv()

    def _set_wv(self):
        vectors = self.W + self.W_context                              # glove.c -model 2
        if self.wv is None or self.wv.index_to_key != self.vocab.words:
            self.wv = KeyedVectors(self.vocab.words, vectors)
        else:
            self.wv.vectors = vectors

    # ---- training --------------------------------------------------------------

    def train(self, epochs=None, progress=None):
        """`epochs` more passes (default: config.epochs); returns the mean
        weighted cost of each pass (glove.c prints it as "cost")."""
        if self.vocab is None:
            raise ValueError("GloVe.train: no vocabulary; call build_vocab(sentences) first")
        c = self.config
        epochs = c.epochs if epochs is None else int(epochs)
        if epochs < 1:
            raise ValueError(f"GloVe.train: epochs must be >= 1, got {epochs}")
        entries = make_entries(self.rows, self.cols, self.counts, c.x_max, c.alpha)
        n = self.rows.size
        step = max(1, min(CHUNK, -(-n // (4 * c.workers))))   # at least 4 chunks per thread, to balance
        chunks = [(s, min(s + step, n)) for s in range(0, n, step)]
        params = (self.W, self.W_context, self.b, self.b_context, *self.gradsq)
        rng = np.random.default_rng([c.seed, self.epochs_trained])
        losses, lock = [], threading.Lock()
        state = {"done": 0, "cost": 0.0}
        total = epochs * n

        def run(chunk, entries):
            cost = glove_epoch(*params, entries, chunk[0], chunk[1], c.learning_rate)
            with lock:
                state["cost"] += cost
                state["done"] += chunk[1] - chunk[0]
                if progress is not None:
                    progress(state["done"], total, c.learning_rate)

        for epoch in range(epochs):
            shuffled = entries[rng.permutation(n)]     # the 16-byte records themselves: read in order
            state["cost"] = 0.0
            hogwild_map(lambda ch: run(ch, shuffled), chunks, c.workers)
            losses.append(state["cost"] / n)
        self.epochs_trained += epochs
        self._set_wv()
        return losses

    # ---- save / load -----------------------------------------------------------

    def save(self, path):
        """Everything needed to go on training, as one safetensors file (no pickle)."""
        from ..serialization import save
        save({"format": FORMAT, "config": asdict(self.config), "words": self.vocab.words,
              "word_counts": self.vocab.counts, "total_words": self.vocab.total_words,
              "epochs_trained": self.epochs_trained,
              "cooccurrence": {"rows": self.rows, "cols": self.cols, "counts": self.counts},
              "params": {"W": self.W, "W_context": self.W_context, "b": self.b, "b_context": self.b_context},
              "gradsq": list(self.gradsq)}, path)

    @classmethod
    def load(cls, path):
        from ..serialization import load
        state = load(path)
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ValueError(f"GloVe.load: {str(path)!r} is not a saved GloVe model "
                             f"(format {state.get('format') if isinstance(state, dict) else None!r})")
        self = cls(**state["config"])
        self.vocab = Vocab.from_counts(state["words"], state["word_counts"], state["total_words"])
        co = state["cooccurrence"]
        self.rows, self.cols, self.counts = co["rows"], co["cols"], co["counts"]
        p = state["params"]   # writable copies: training updates them in place
        self.W, self.W_context, self.b, self.b_context = (np.array(p[k]) for k in ("W", "W_context", "b", "b_context"))
        self.gradsq = [np.array(g) for g in state["gradsq"]]
        self.epochs_trained = state["epochs_trained"]
        self._set_wv()
        return self


def hogwild_map(fn, items, workers):
    """fn(item) for every item, on `workers` threads taking items in order (fn
    calls a nogil kernel; the threads race on shared rows, Hogwild); one worker
    runs them in this thread, in order. Errors in fn are raised here."""
    if workers <= 1:
        for item in items:
            fn(item)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="wordvec") as pool:
        for _ in pool.map(fn, items):
            pass
