"""The vocabulary of a word-vector model, and the corpus readers that feed it.

    sentences = read_corpus("corpus.txt")          # one sentence per line, split on whitespace
    vocab = Vocab(sentences, min_count=5)          # words sorted by count, most frequent first
    ids, offsets = vocab.encode_corpus(sentences)  # int32 ids, sentence s = ids[offsets[s]:offsets[s+1]]

Counting follows gensim 4 (Word2Vec.scan_vocab / prepare_vocab):
- words are counted sentence by sentence; with max_vocab_size set, whenever
  the raw vocabulary grows past it after a sentence, every word seen fewer
  than `min_reduce` times is dropped and min_reduce goes up by one (1, 2,
  3, ...). Counts of dropped words are lost, so a word dropped early and
  seen again later restarts from zero, exactly as in gensim.
- words seen at least min_count times are kept, then sorted by count,
  most frequent first; ties go in REVERSE order of first appearance, as
  gensim's sort_by_descending_frequency does (lexsort((-index, -count))).
- `total_words` counts every token scanned (pruned and rare ones too), as
  gensim's corpus_total_words; `retained_words` sums the kept words' counts.

The two tables that training draws from are built here, so every model
(Word2Vec, FastText) draws words the same way gensim does:
- keep_thresholds(sample): frequent-word subsampling. A word with count c
  is kept with probability p = (sqrt(c / t) + 1) * t / c, t = sample *
  retained_words (word2vec.c's formula), stored as p * (2**32 - 1) so a
  kernel compares it with a 32-bit random integer (gensim's sample_int).
- cum_table(ns_exponent): the negative-sampling distribution count**0.75,
  as a cumulative uint32 table scaled to 2**31 - 1 (gensim's make_cum_table).
  A draw is a binary search for a random integer: V entries instead of
  word2vec.c's 1e8-entry lookup table (400 MB), and exactly gensim's draws.
"""
import itertools
import math
import os
from pathlib import Path

import numpy as np

MAX_SENTENCE_LENGTH = 10000   # gensim's LineSentence splits longer lines into pieces of this size
CUM_TABLE_DOMAIN = 2**31 - 1  # gensim's make_cum_table domain


class Vocab:
    """Words sorted by count (most frequent first) with their counts.

    Vocab(sentences, min_count=5, max_vocab_size=None); sentences is an
    iterable of token lists (see read_corpus). Attributes: words (list[str]
    in id order), counts (int64 array), index (dict word -> id),
    total_words (tokens scanned), retained_words (tokens of kept words),
    corpus_count (sentences scanned)."""

    def __init__(self, sentences, min_count=5, max_vocab_size=None):
        if not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"Vocab: min_count must be an int >= 1, got {min_count!r}")
        if max_vocab_size is not None and (not isinstance(max_vocab_size, int) or max_vocab_size < 1):
            raise ValueError(f"Vocab: max_vocab_size must be None or an int >= 1, got {max_vocab_size!r}")
        raw, total_words, corpus_count = _scan(sentences, max_vocab_size)
        if total_words == 0:
            raise ValueError(f"Vocab: the corpus is empty ({corpus_count} sentences, 0 words)")
        kept = [(w, c) for w, c in raw.items() if c >= min_count]
        if not kept:
            raise ValueError(f"Vocab: no word occurs at least min_count={min_count} times "
                             f"({len(raw)} distinct words in {total_words} tokens were seen; "
                             f"the most frequent occurs {max(raw.values())} times); lower min_count")
        words = [w for w, _ in kept]
        counts = np.array([c for _, c in kept], np.int64)
        order = _sorted(counts)
        self._set([words[i] for i in order], counts[order], total_words, corpus_count)

    @classmethod
    def from_counts(cls, words, counts, total_words=None, corpus_count=0):
        """A vocabulary from words and counts as given (e.g. a loaded model); no re-sorting."""
        words = list(words)
        counts = np.asarray(counts, np.int64)
        if len(words) != counts.shape[0] or counts.ndim != 1:
            raise ValueError(f"Vocab.from_counts: {len(words)} words but counts has shape {counts.shape}")
        if len(set(words)) != len(words):
            raise ValueError("Vocab.from_counts: words repeat")
        self = cls.__new__(cls)
        self._set(words, counts, int(counts.sum()) if total_words is None else int(total_words), corpus_count)
        return self

    def _set(self, words, counts, total_words, corpus_count):
        self.words = words
        self.counts = counts
        self.index = {w: i for i, w in enumerate(words)}
        self.total_words = total_words
        self.retained_words = int(counts.sum())
        self.corpus_count = corpus_count

    def __len__(self):
        return len(self.words)

    def __contains__(self, word):
        return word in self.index

    def __repr__(self):
        return f"Vocab({len(self)} words, {self.retained_words} of {self.total_words} tokens kept)"

    # ---- ids -----------------------------------------------------------------

    def encode(self, sentence):
        """int32 ids of the in-vocabulary tokens of one sentence (others dropped)."""
        get = self.index.get
        ids = [i for i in map(get, sentence) if i is not None]
        return np.array(ids, np.int32)

    def encode_corpus(self, sentences):
        """(ids int32 (N,), offsets int64 (S + 1,)): all sentences' ids concatenated;
        sentence s is ids[offsets[s]:offsets[s + 1]]. Sentences left empty stay (length 0)."""
        sentences = sentences if isinstance(sentences, list) else list(sentences)
        lengths = np.fromiter(map(len, sentences), np.int64, len(sentences))
        lookup = _IdOrMinusOne(self.index).__getitem__    # dict lookups at C speed; misses give -1
        flat = np.fromiter(map(lookup, itertools.chain.from_iterable(sentences)), np.int32, int(lengths.sum()))
        known = flat >= 0
        kept = np.bincount(np.repeat(np.arange(len(sentences)), lengths)[known], minlength=len(sentences))
        offsets = np.zeros(len(sentences) + 1, np.int64)
        np.cumsum(kept, out=offsets[1:])
        return flat[known], offsets

    # ---- sampling tables -----------------------------------------------------

    def keep_thresholds(self, sample):
        """uint32 (V,): word i survives subsampling when a 32-bit random integer
        is <= keep[i] (keep = 2**32 - 1: always; see module doc).
        sample=0 disables subsampling; sample >= 1 is an absolute count, as in gensim."""
        if sample < 0:
            raise ValueError(f"sample must be >= 0, got {sample}")
        counts = self.counts.astype(np.float64)
        if not sample:
            return np.full(len(self), 2**32 - 1, np.uint32)
        t = sample * self.retained_words if sample < 1.0 else float(int(sample * (3 + math.sqrt(5)) / 2))
        p = np.minimum((np.sqrt(counts / t) + 1.0) * (t / counts), 1.0)
        return (p * (2**32 - 1)).astype(np.uint32)   # truncated, as gensim's np.uint32(p * (2**32 - 1))

    def cum_table(self, ns_exponent=0.75, domain=CUM_TABLE_DOMAIN):
        """uint32 (V,): cumulative counts**ns_exponent scaled to `domain` (gensim's make_cum_table);
        word i is drawn for a random r in [0, domain) when cum[i-1] <= r < cum[i]."""
        power = self.counts.astype(np.float64) ** float(ns_exponent)
        cumulative = np.cumsum(power)   # sequential sum, as gensim's loop
        return np.round(cumulative / cumulative[-1] * domain).astype(np.uint32)


class _IdOrMinusOne(dict):
    def __missing__(self, key):
        return -1


def _scan(sentences, max_vocab_size):
    """Raw counts in first-seen order, pruned as gensim does; (counts, total_words, corpus_count)."""
    raw, total_words, corpus_count, min_reduce = {}, 0, 0, 1
    get = raw.get
    for sentence in sentences:
        if isinstance(sentence, str):
            raise TypeError("Vocab: each sentence must be a list of tokens, got a str "
                            "(split it first, e.g. read_corpus or sentences_from_text)")
        for word in sentence:
            raw[word] = get(word, 0) + 1
        total_words += len(sentence)
        corpus_count += 1
        if max_vocab_size and len(raw) > max_vocab_size:
            for word in [w for w, c in raw.items() if c < min_reduce]:
                del raw[word]
            min_reduce += 1
    return raw, total_words, corpus_count


def _sorted(counts):
    """Indices by descending count, ties: the later-seen word first (gensim's order)."""
    return np.lexsort((-np.arange(counts.size), -counts))


def read_corpus(source, max_sentence_length=MAX_SENTENCE_LENGTH):
    """A list of sentences (lists of str tokens).

    source: a path to a UTF-8 text file with one sentence per line, tokens
    separated by whitespace (gensim's LineSentence: lines longer than
    max_sentence_length tokens are cut into pieces; empty lines dropped),
    or an iterable of token lists, returned as a list (each sentence checked to be a
    sequence rather than a string; the tokens themselves are not checked, for speed)."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(os.fspath(source))
        if not path.is_file():
            raise FileNotFoundError(f"corpus file {str(path)!r} does not exist")
        sentences = []
        with open(path, encoding="utf-8", errors="strict") as f:
            try:
                for line in f:
                    tokens = line.split()
                    for start in range(0, len(tokens), max_sentence_length):
                        sentences.append(tokens[start:start + max_sentence_length])
            except UnicodeDecodeError as e:
                raise ValueError(f"corpus file {str(path)!r} is not UTF-8 text: {e.reason} "
                                 f"at byte {e.start} of a line") from None
        return sentences
    sentences = []
    for i, sentence in enumerate(source):
        if isinstance(sentence, (str, bytes)) or not hasattr(sentence, "__iter__"):
            raise TypeError(f"read_corpus: sentence {i} must be a list of str tokens, "
                            f"got {type(sentence).__name__}")
        sentences.append(sentence if isinstance(sentence, list) else list(sentence))
    return sentences


def sentences_from_text(text, **tokenizer_kwargs):
    """Sentences of raw text by tinylm's WordTokenizer (lower-cased, punctuation
    split into tokens by default; tokenizer_kwargs go to WordTokenizer)."""
    from ..tokenizers import WordTokenizer
    return WordTokenizer(**tokenizer_kwargs).sentences(text)
