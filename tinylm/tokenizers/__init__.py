"""tinylm.tokenizers: text <-> token ids.

char.py   CharTokenizer: one id per character (nanoGPT's shakespeare_char)
bpe.py    ByteBPETokenizer (alias BPETokenizer): byte-level BPE like GPT-2 / minbpe
word.py   WordTokenizer: words with lower-casing, punctuation and stop-word options
base.py   the JSON file format they share

Every tokenizer has encode(text) -> list of ids, decode(ids) -> text,
vocab_size, save(path) and load(path); load_tokenizer(path) reads any of
them back, choosing the class by the file's "type" field.
"""
from .base import read_json
from .bpe import SPLIT_PATTERN, BPETokenizer, ByteBPETokenizer
from .char import CharTokenizer
from .word import STOP_WORDS, WordTokenizer

TOKENIZERS = {"char": CharTokenizer, "bpe": ByteBPETokenizer, "word": WordTokenizer}


def load_tokenizer(path):
    """The tokenizer saved in path (a JSON file written by any tokenizer's save)."""
    obj = read_json(path)
    cls = TOKENIZERS.get(obj["type"])
    if cls is None:
        raise ValueError(f"tokenizer file {str(path)!r} has type {obj['type']!r}; "
                         f"known types: {sorted(TOKENIZERS)}")
    return cls.from_dict(obj, path)


__all__ = ["CharTokenizer", "ByteBPETokenizer", "BPETokenizer", "WordTokenizer", "load_tokenizer",
           "SPLIT_PATTERN", "STOP_WORDS", "TOKENIZERS"]
