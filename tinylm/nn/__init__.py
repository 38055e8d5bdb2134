"""tinylm.nn: neural-network building blocks. So far the functional API (F)."""
from . import functional

__all__ = ["functional"]
