"""Byte-level byte-pair encoding (BPE), as in GPT-2 and Karpathy's minbpe.

    tok = ByteBPETokenizer()
    tok.train(text, vocab_size=4096, special_tokens=["<|endoftext|>"])
    ids = tok.encode("hello world")          # list of ints
    tok.decode(ids) == "hello world"         # for any str

The text is first cut into chunks by a regular expression (SPLIT_PATTERN:
words, numbers, punctuation runs, whitespace), so that no token spans, say,
the end of one word and the start of the next. Each chunk is UTF-8 encoded:
ids 0..255 are the 256 byte values, so any text can be encoded and nothing
is ever unknown. Training then repeats: count every adjacent pair of ids
inside the chunks, give the most frequent pair the next id (256, 257, ...)
and replace it everywhere (left to right, without overlap: a a a -> Z a).
Ties go to the smallest pair (a, b), so training is deterministic. Encoding
applies the learnt merges in the order they were learnt; decoding joins the
bytes of the ids and decodes them as UTF-8 with errors="replace": ids that
do not form valid UTF-8 (a lone continuation byte, say) come out as U+FFFD
instead of raising, as in minbpe.

vocab_size counts everything: 256 bytes + merges + special tokens; the
special tokens get the last ids, after the merges. A corpus too small for
that many merges stops early (vocab_size then comes out smaller).

The counting and merging runs in a Numba kernel (kernels/bpe.py: pair
counts updated incrementally after each merge, a heap to find the best
pair) over the distinct chunks of the corpus, each weighted by how often
it occurs. Encoding caches each distinct chunk's ids, so a large text
costs one regex pass plus one kernel call for the chunks not seen before.

SPLIT_PATTERN is GPT-4's (cl100k) split pattern written for Python's `re`
module, which has no \\p{L}: a letter is [^\\W\\d_] (a word character that is
not a digit or underscore), a digit \\d, and everything else that is not
whitespace counts as punctuation. The possessive quantifiers of the
original are dropped; here they change no match.
"""
import re
import time
from collections import Counter

import numpy as np

from kernels.bpe import bpe_encode, bpe_train

from .base import FORMAT_VERSION, field, read_json, write_json

SPLIT_PATTERN = "|".join([
    r"'(?i:[sdmt]|ll|ve|re)",        # English contractions: 's 'd 'm 't 'll 've 're
    r"(?:[^\r\n\w]|_)?[^\W\d_]+",     # a word, with one space or mark before it
    r"\d{1,3}",                       # numbers, in groups of up to three digits
    r" ?(?:[^\s\w]|_)+[\r\n]*",       # a run of punctuation, with the line breaks after it
    r"\s*[\r\n]",                     # line breaks, with the spaces before them
    r"\s+(?!\S)",                     # spaces, leaving the last one to the next word
    r"\s+",
])
CACHE_LIMIT = 1 << 20  # distinct chunks remembered by encode before the cache is cleared
ALLOWED_SPECIAL = ("none_raise", "all", "none")


class ByteBPETokenizer:
    def __init__(self, pattern=SPLIT_PATTERN):
        self.pattern = pattern
        self._regex = re.compile(pattern)
        self._set_merges([], [])

    def _set_merges(self, merges, special_tokens):
        """Rebuild everything derived from the merge list and the special tokens."""
        self.merges = {(int(a), int(b)): 256 + i for i, (a, b) in enumerate(merges)}
        self._merge_array = np.array(list(self.merges), np.int64).reshape(-1, 2)
        self.vocab = [bytes([i]) for i in range(256)]  # id -> the bytes it stands for
        for (a, b) in self.merges:
            self.vocab.append(self.vocab[a] + self.vocab[b])
        first = 256 + len(self.merges)
        self.special_tokens = {s: first + i for i, s in enumerate(special_tokens)}
        self._special_of_id = {i: s.encode("utf-8") for s, i in self.special_tokens.items()}
        self._cache = {}

    @property
    def vocab_size(self):
        return len(self.vocab) + len(self.special_tokens)

    # ---- training ----------------------------------------------------------

    def train(self, text, vocab_size, special_tokens=None, verbose=False):
        """Learn vocab_size - 256 - len(special_tokens) merges from text; returns self."""
        if not isinstance(text, str):
            raise TypeError(f"ByteBPETokenizer.train: expected a str, got {type(text).__name__}")
        specials = list(special_tokens or [])
        for s in specials:
            if not isinstance(s, str) or not s:
                raise ValueError(f"ByteBPETokenizer.train: special tokens must be non-empty strings, "
                                 f"got {s!r}")
        if len(set(specials)) != len(specials):
            raise ValueError(f"ByteBPETokenizer.train: special tokens repeat: {specials}")
        num_merges = vocab_size - 256 - len(specials)
        if num_merges < 0:
            raise ValueError(f"ByteBPETokenizer.train: vocab_size {vocab_size} is below the 256 byte "
                             f"tokens + {len(specials)} special tokens")
        t0 = time.perf_counter()
        # each distinct chunk once, weighted by how often it occurs
        chunk_counts = Counter(self._split(text, "train"))
        data = [chunk.encode("utf-8") for chunk in chunk_counts]
        tok = np.frombuffer(b"".join(data), np.uint8).astype(np.int32)
        offsets = np.zeros(len(data) + 1, np.int64)
        offsets[1:] = np.cumsum([len(d) for d in data])
        weights = np.fromiter(chunk_counts.values(), np.int64, len(chunk_counts))
        merges, counts = bpe_train(tok, offsets, weights, num_merges)
        self._set_merges(merges.tolist(), specials)
        if verbose:
            for i, ((a, b), new) in enumerate(self.merges.items()):
                print(f"merge {i + 1}/{num_merges}: ({a}, {b}) -> {new} ({self.vocab[new]!r}) "
                      f"had {counts[i]} occurrences")
            print(f"trained {len(merges)} merges on {len(text):,} characters "
                  f"({len(data):,} distinct chunks) in {time.perf_counter() - t0:.2f} s")
        return self

    def _split(self, text, where):
        """The regex chunks of text; they must cover it exactly."""
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise ValueError(f"ByteBPETokenizer.{where}: character {text[e.start]!r} at {e.start} "
                             f"cannot be encoded as UTF-8 (a lone surrogate)") from None
        chunks = self._regex.findall(text)
        if sum(map(len, chunks)) != len(text):
            raise ValueError(f"ByteBPETokenizer.{where}: the split pattern {self.pattern!r} does not "
                             f"cover the whole text, so it would be lost; use a pattern that "
                             f"matches every character")
        return chunks

    # ---- encoding and decoding ---------------------------------------------

    def encode_ordinary(self, text):
        """Ids of text, treating special-token strings in it as plain text."""
        if not isinstance(text, str):
            raise TypeError(f"ByteBPETokenizer.encode: expected a str, got {type(text).__name__}")
        chunks = self._split(text, "encode")
        cache = self._cache
        missing = [c for c in dict.fromkeys(chunks) if c not in cache]
        if missing:
            if len(cache) + len(missing) > CACHE_LIMIT:
                cache.clear()
            self._encode_chunks(missing)
        ids = []
        for chunk in chunks:
            ids.extend(cache[chunk])
        return ids

    def _encode_chunks(self, chunks):
        """Encode distinct chunks in one kernel call and cache their ids."""
        data = [c.encode("utf-8") for c in chunks]
        tok = np.frombuffer(b"".join(data), np.uint8).astype(np.int32)
        offsets = np.zeros(len(data) + 1, np.int64)
        offsets[1:] = np.cumsum([len(d) for d in data])
        ids, new_offsets = bpe_encode(tok, offsets, self._merge_array)
        ids, new_offsets = ids.tolist(), new_offsets.tolist()
        for k, chunk in enumerate(chunks):
            self._cache[chunk] = ids[new_offsets[k]:new_offsets[k + 1]]

    def encode(self, text, allowed_special="none_raise"):
        """Ids of text. Special-token strings in the text are:
        "none_raise" (default): an error (text from users should not smuggle them in);
        "all": encoded as their special ids; "none": encoded as plain text;
        a set of special tokens: those become special ids, the rest plain text."""
        if isinstance(allowed_special, str):
            if allowed_special not in ALLOWED_SPECIAL:
                raise ValueError(f"ByteBPETokenizer.encode: allowed_special must be one of "
                                 f"{ALLOWED_SPECIAL} or a set of special tokens, got {allowed_special!r}")
            special = self.special_tokens if allowed_special == "all" else {}
            if allowed_special == "none_raise":
                found = [s for s in self.special_tokens if s in text]
                if found:
                    raise ValueError(f"ByteBPETokenizer.encode: the text contains the special token(s) "
                                     f"{found}; pass allowed_special='all' to encode them as special "
                                     f"ids or 'none' to encode them as plain text")
        else:
            unknown = set(allowed_special) - set(self.special_tokens)
            if unknown:
                raise ValueError(f"ByteBPETokenizer.encode: {sorted(unknown)} are not special tokens "
                                 f"of this tokenizer ({list(self.special_tokens)})")
            special = {s: self.special_tokens[s] for s in allowed_special}
        if not special:
            return self.encode_ordinary(text)
        # longest first, so that a special token that starts another does not cut it
        pattern = "(" + "|".join(re.escape(s) for s in sorted(special, key=len, reverse=True)) + ")"
        ids = []
        for k, part in enumerate(re.split(pattern, text)):
            if k % 2:  # re.split puts the captured separators at odd places
                ids.append(special[part])
            else:
                ids.extend(self.encode_ordinary(part))
        return ids

    def decode(self, ids):
        """Text of ids; bytes that are not valid UTF-8 become U+FFFD."""
        vocab, n = self.vocab, len(self.vocab)
        parts = []
        for i in ids:
            i = int(i)
            if 0 <= i < n:
                parts.append(vocab[i])
            elif i in self._special_of_id:
                parts.append(self._special_of_id[i])
            else:
                raise ValueError(f"ByteBPETokenizer.decode: id {i} is out of range for a vocabulary "
                                 f"of {self.vocab_size}")
        return b"".join(parts).decode("utf-8", errors="replace")

    # ---- files -------------------------------------------------------------

    def save(self, path):
        """JSON: the split pattern, the merges as [a, b] pairs in order, the special tokens."""
        write_json(path, {"type": "bpe", "version": FORMAT_VERSION, "pattern": self.pattern,
                          "merges": [list(p) for p in self.merges],
                          "special_tokens": self.special_tokens})

    @classmethod
    def load(cls, path):
        return cls.from_dict(read_json(path, "bpe"), path)

    @classmethod
    def from_dict(cls, obj, path):
        name = repr(str(path))
        pattern = field(obj, "pattern", str, path)
        merges = field(obj, "merges", list, path)
        specials = field(obj, "special_tokens", dict, path)
        try:
            re.compile(pattern)
        except re.error as e:
            raise ValueError(f"tokenizer file {name}: the split pattern does not compile: {e}") from None
        for i, m in enumerate(merges):
            # merge i makes id 256 + i, so it can only join ids made before it
            if not (isinstance(m, list) and len(m) == 2
                    and all(isinstance(t, int) and not isinstance(t, bool) and 0 <= t < 256 + i for t in m)):
                raise ValueError(f"tokenizer file {name}: merge {i} is {m!r}; expected a pair "
                                 f"[a, b] of ids below {256 + i}")
        if len({tuple(m) for m in merges}) != len(merges):
            raise ValueError(f"tokenizer file {name}: the merges list holds a pair twice")
        first = 256 + len(merges)
        expected = list(range(first, first + len(specials)))
        ids = list(specials.values())
        if any(not isinstance(v, int) or isinstance(v, bool) for v in ids) or sorted(ids) != expected \
                or any(not s for s in specials):
            raise ValueError(f"tokenizer file {name}: special tokens must be non-empty strings with "
                             f"the ids {first}..{first + len(specials) - 1} after the merges, "
                             f"got {specials}")
        tok = cls(pattern)
        tok._set_merges(merges, sorted(specials, key=specials.get))
        return tok

    def __repr__(self):
        return (f"ByteBPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
                f"special_tokens={list(self.special_tokens)})")


BPETokenizer = ByteBPETokenizer
