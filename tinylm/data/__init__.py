"""tinylm.data: datasets, batching and evaluation splits.

split.py   kfold, cross_validate
"""
from .split import cross_validate, kfold

__all__ = ["kfold", "cross_validate"]
