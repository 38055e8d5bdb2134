"""Character-level tokenizer: one token per Unicode character (code point),
as in nanoGPT's shakespeare_char and Karpathy's char-rnn.

    tok = CharTokenizer().train(text)        # or CharTokenizer.from_text(text)
    ids = tok.encode("hello")                # list of ints
    tok.decode(ids) == "hello"

Vocabulary: the sorted unique characters of the training text, so id order
is code-point order and the same text always gives the same ids.

Unknown characters (not in the vocabulary): by default encode raises a
ValueError that names them (the first few, repr'd) and their positions, so
a prompt with a character the model never saw fails loudly instead of
silently meaning something else. A tokenizer built with unk="?" (any one
character; it joins the vocabulary even if the text lacks it) can instead
encode with errors="replace", which maps every unknown character to the unk
token. errors="replace" without an unk token is an error.
"""
from .base import FORMAT_VERSION, field, read_json, write_json

SHOWN = 5  # unknown characters named in an error message


class CharTokenizer:
    def __init__(self, chars=(), unk=None):
        """chars: the vocabulary (any iterable of single characters; sorted
        and de-duplicated). unk: a character to stand for unknown ones, or None."""
        if unk is not None and (not isinstance(unk, str) or len(unk) != 1):
            raise ValueError(f"CharTokenizer: unk must be a single character or None, got {unk!r}")
        self.unk = unk
        self._set_chars(chars)

    def _set_chars(self, chars):
        chars = set(chars)
        if self.unk is not None:
            chars.add(self.unk)
        for ch in chars:
            if not isinstance(ch, str) or len(ch) != 1:
                raise ValueError(f"CharTokenizer: vocabulary entries must be single characters, got {ch!r}")
        self.chars = sorted(chars)
        self.stoi = {ch: i for i, ch in enumerate(self.chars)}
        self.itos = dict(enumerate(self.chars))

    def train(self, text):
        """Set the vocabulary to the sorted unique characters of text; returns self."""
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer.train: expected a str, got {type(text).__name__}")
        if not text:
            raise ValueError("CharTokenizer.train: the text is empty")
        self._set_chars(text)
        return self

    @classmethod
    def from_text(cls, text, unk=None):
        return cls(unk=unk).train(text)

    @property
    def vocab_size(self):
        return len(self.chars)

    @property
    def unk_id(self):
        return None if self.unk is None else self.stoi[self.unk]

    def encode(self, text, errors="strict"):
        """List of ids; errors="strict" raises on unknown characters, "replace" maps them to unk."""
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer.encode: expected a str, got {type(text).__name__}")
        if errors not in ("strict", "replace"):
            raise ValueError(f"CharTokenizer.encode: errors must be 'strict' or 'replace', got {errors!r}")
        stoi = self.stoi
        try:
            return [stoi[ch] for ch in text]
        except KeyError:
            pass
        unknown = [(i, ch) for i, ch in enumerate(text) if ch not in stoi]
        if errors == "replace" and self.unk is not None:
            unk = self.stoi[self.unk]
            return [stoi.get(ch, unk) for ch in text]
        shown = ", ".join(f"{ch!r} at {i}" for i, ch in unknown[:SHOWN])
        more = f" and {len(unknown) - SHOWN} more" if len(unknown) > SHOWN else ""
        hint = ("build the tokenizer with unk=... to use errors='replace'" if self.unk is None
                else "encode with errors='replace' to map them to " + repr(self.unk))
        raise ValueError(f"CharTokenizer.encode: {len(unknown)} character(s) not in the vocabulary "
                         f"of {self.vocab_size}: {shown}{more} ({hint})")

    def decode(self, ids):
        """The text of a sequence of ids (ints or integer NumPy values)."""
        itos = self.itos
        try:
            return "".join(itos[int(i)] for i in ids)
        except KeyError as e:
            raise ValueError(f"CharTokenizer.decode: id {e.args[0]} is out of range for a vocabulary "
                             f"of {self.vocab_size}") from None

    def save(self, path):
        write_json(path, {"type": "char", "version": FORMAT_VERSION, "chars": self.chars,
                          "unk": self.unk})

    @classmethod
    def load(cls, path):
        return cls.from_dict(read_json(path, "char"), path)

    @classmethod
    def from_dict(cls, obj, path):
        chars = field(obj, "chars", list, path)
        unk = field(obj, "unk", (str, type(None)), path)
        if any(not isinstance(c, str) or len(c) != 1 for c in chars) or len(set(chars)) != len(chars):
            raise ValueError(f"tokenizer file {str(path)!r}: 'chars' must be distinct single characters")
        if unk is not None and unk not in chars:
            raise ValueError(f"tokenizer file {str(path)!r}: the unk character {unk!r} is not in 'chars'")
        if not chars:
            raise ValueError(f"tokenizer file {str(path)!r}: the vocabulary is empty")
        return cls(chars, unk=unk)

    def __repr__(self):
        return f"CharTokenizer(vocab_size={self.vocab_size}, unk={self.unk!r})"
