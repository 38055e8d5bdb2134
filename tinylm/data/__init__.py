"""tinylm.data: corpora, token ids, batching and evaluation splits.

corpus.py  builtin_corpus (CPython's help topics), load_text, load_corpus
tokens.py  split_ids, random_windows, sequential_windows, save_ids/load_ids (memmaps)
split.py   kfold, cross_validate
"""
from .corpus import builtin_corpus, load_corpus, load_text
from .split import cross_validate, kfold
from .tokens import (load_ids, num_sequential_batches, random_windows, save_ids,
                     sequential_windows, split_ids)

__all__ = ["kfold", "cross_validate", "builtin_corpus", "load_text", "load_corpus", "split_ids",
           "random_windows", "sequential_windows", "num_sequential_batches", "save_ids", "load_ids"]
