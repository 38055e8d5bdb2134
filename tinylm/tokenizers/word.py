"""Word-level tokenizer with the classic preprocessing used before subword
tokenizers (and by word vectors: word2vec, GloVe):

    tok = WordTokenizer(lower=True, punctuation="split", remove_stop_words=False)
    tok.tokenize("Don't panic, it's fine.")   # ["don't", 'panic', ',', "it's", 'fine', '.']
    tok.sentences(text)                       # list of token lists, for word vectors
    tok.train(text, min_count=2)              # vocabulary: id 0 is unk, then by count
    tok.encode("fine panic")                  # ids; unknown words -> unk id

Preprocessing, in order:
  lower              lower-case the text first (str.lower).
  punctuation        "split": a word is a run of word characters (letters,
                     digits, underscore) that may hold apostrophes inside
                     ("don't", "o'clock"); every other non-space character is
                     a token of its own. "remove": the same, then the
                     punctuation tokens are dropped. "keep": split on
                     whitespace only, punctuation stays attached ("fine.").
  remove_stop_words  drop tokens whose lower-cased form is in stop_words
                     (default STOP_WORDS below).

Vocabulary: unk first (id 0), then the tokens seen at least min_count times,
most frequent first, ties in string order, so the same text always gives the
same ids. `counts[i]` is how often token i occurred (unk: how many tokens
fell below min_count or beyond max_size); word vectors use it for
subsampling and negative sampling.
"""
import re
from collections import Counter

from .base import FORMAT_VERSION, field, read_json, write_json

# The 127 words of NLTK's original English stop-word list
# (nltk.corpus.stopwords.words("english"), up to "now"), written out here so
# that nothing needs downloading.
STOP_WORDS = frozenset("""
i me my myself we our ours ourselves you your yours yourself yourselves he him
his himself she her hers herself it its itself they them their theirs
themselves what which who whom this that these those am is are was were be
been being have has had having do does did doing a an the and but if or
because as until while of at by for with about against between into through
during before after above below to from up down in out on off over under
again further then once here there when where why how all any both each few
more most other some such no nor not only own same so than too very s t can
will just don should now
""".split())

WORD = r"\w+(?:['\u2019]\w+)*"                        # words, with inner apostrophes
TOKEN_RE = re.compile(WORD + r"|[^\w\s]")            # a word, or one punctuation character
WORD_RE = re.compile(WORD)
SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+|\n\s*\n")  # after . ! ? and at blank lines
PUNCTUATION = ("split", "remove", "keep")


class WordTokenizer:
    def __init__(self, lower=True, punctuation="split", remove_stop_words=False,
                 stop_words=STOP_WORDS, unk="<unk>"):
        if punctuation not in PUNCTUATION:
            raise ValueError(f"WordTokenizer: punctuation must be one of {PUNCTUATION}, got {punctuation!r}")
        if not isinstance(unk, str) or not unk:
            raise ValueError(f"WordTokenizer: unk must be a non-empty string, got {unk!r}")
        self.lower = bool(lower)
        self.punctuation = punctuation
        self.remove_stop_words = bool(remove_stop_words)
        self.stop_words = frozenset(w.lower() for w in stop_words)
        self.unk = unk
        self._set_vocab([unk], [0])

    def _set_vocab(self, itos, counts):
        self.itos = list(itos)
        self.counts = list(counts)
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    @property
    def vocab_size(self):
        return len(self.itos)

    @property
    def unk_id(self):
        return 0

    # ---- preprocessing -----------------------------------------------------

    def tokenize(self, text):
        """The tokens of text after lower-casing, punctuation handling and stop-word removal."""
        if not isinstance(text, str):
            raise TypeError(f"WordTokenizer.tokenize: expected a str, got {type(text).__name__}")
        if self.lower:
            text = text.lower()
        if self.punctuation == "keep":
            tokens = text.split()
        else:
            tokens = TOKEN_RE.findall(text)
            if self.punctuation == "remove":
                tokens = [t for t in tokens if WORD_RE.fullmatch(t)]
        if self.remove_stop_words:
            tokens = [t for t in tokens if t.lower() not in self.stop_words]
        return tokens

    def sentences(self, text, split_lines=False):
        """List of token lists, one per sentence: text is cut after . ! or ?
        followed by whitespace and at blank lines (and at every line break
        when split_lines=True; by default a single line break is treated as
        a space, as in wrapped prose). Empty sentences are dropped."""
        pieces = SENTENCE_END_RE.split(text)
        if split_lines:
            pieces = [line for piece in pieces for line in piece.splitlines()]
        return [tokens for tokens in map(self.tokenize, pieces) if tokens]

    # ---- vocabulary and ids ------------------------------------------------

    def train(self, text, min_count=1, max_size=None):
        """Build the vocabulary from text (a str, or an iterable of token
        lists such as sentences()); returns self."""
        if min_count < 1:
            raise ValueError(f"WordTokenizer.train: min_count must be >= 1, got {min_count}")
        if isinstance(text, str):
            counter = Counter(self.tokenize(text))
        else:
            counter = Counter(t for tokens in text for t in tokens)
        if not counter:
            raise ValueError("WordTokenizer.train: the text has no tokens")
        counter.pop(self.unk, None)
        kept = sorted((item for item in counter.items() if item[1] >= min_count),
                      key=lambda item: (-item[1], item[0]))
        if max_size is not None:
            kept = kept[:max(0, max_size - 1)]  # max_size counts unk
        unk_count = sum(counter.values()) - sum(c for _, c in kept)
        self._set_vocab([self.unk] + [t for t, _ in kept], [unk_count] + [c for _, c in kept])
        return self

    def encode_tokens(self, tokens):
        stoi = self.stoi
        return [stoi.get(t, 0) for t in tokens]

    def encode(self, text):
        """Ids of the tokens of text; tokens outside the vocabulary become the unk id (0)."""
        return self.encode_tokens(self.tokenize(text))

    def decode(self, ids):
        """The tokens of ids joined by single spaces (the preprocessing cannot be undone)."""
        words = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.itos):
                raise ValueError(f"WordTokenizer.decode: id {i} is out of range for a vocabulary "
                                 f"of {self.vocab_size}")
            words.append(self.itos[i])
        return " ".join(words)

    # ---- files -------------------------------------------------------------

    def save(self, path):
        write_json(path, {"type": "word", "version": FORMAT_VERSION, "lower": self.lower,
                          "punctuation": self.punctuation, "remove_stop_words": self.remove_stop_words,
                          "stop_words": sorted(self.stop_words), "unk": self.unk,
                          "itos": self.itos, "counts": self.counts})

    @classmethod
    def load(cls, path):
        return cls.from_dict(read_json(path, "word"), path)

    @classmethod
    def from_dict(cls, obj, path):
        name = repr(str(path))
        punctuation = field(obj, "punctuation", str, path)
        if punctuation not in PUNCTUATION:
            raise ValueError(f"tokenizer file {name}: punctuation must be one of {PUNCTUATION}, "
                             f"got {punctuation!r}")
        tok = cls(lower=field(obj, "lower", bool, path), punctuation=punctuation,
                  remove_stop_words=field(obj, "remove_stop_words", bool, path),
                  stop_words=field(obj, "stop_words", list, path), unk=field(obj, "unk", str, path))
        itos, counts = field(obj, "itos", list, path), field(obj, "counts", list, path)
        if not itos or itos[0] != tok.unk or len(set(itos)) != len(itos) \
                or any(not isinstance(t, str) for t in itos):
            raise ValueError(f"tokenizer file {name}: 'itos' must be distinct strings starting with "
                             f"the unk token {tok.unk!r}")
        if len(counts) != len(itos) or any(not isinstance(c, int) or c < 0 for c in counts):
            raise ValueError(f"tokenizer file {name}: 'counts' must hold one count >= 0 per token "
                             f"({len(itos)}), got {len(counts)}")
        tok._set_vocab(itos, counts)
        return tok

    def __repr__(self):
        return (f"WordTokenizer(vocab_size={self.vocab_size}, lower={self.lower}, "
                f"punctuation={self.punctuation!r}, remove_stop_words={self.remove_stop_words})")
