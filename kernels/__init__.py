"""kernels: the hot paths of tinylm as Numba kernels, each beside the plain
NumPy reference it must match.

This package imports only numpy and numba (never tinylm), and importing it
compiles nothing and needs no GPU: kernels compile on first call and are
cached on disk (NUMBA_CACHE_DIR).
"""
from . import gelu

__all__ = ["gelu"]
