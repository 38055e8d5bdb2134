"""kernels: the hot paths of tinylm as Numba kernels, each beside the plain
NumPy reference it must match.

Each family lives in one module (softmax.py, ...) holding its references,
its Numba CPU kernels and their registration; the CUDA twins live in
kernels/cuda/ and are imported on first use. This package imports only numpy
and numba (never tinylm), and importing it compiles nothing and needs no GPU.

    import kernels
    K = kernels.backend("cpu")          # kernels for one device
    y = K.softmax_forward(x)
    with kernels.use("reference"):      # or TINYLM_KERNELS=reference
        y_ref = K.softmax_forward(x)    # the NumPy specification
"""
from . import gelu, softmax  # noqa: F401  (importing a family registers its kernels)
from .registry import KERNELS, backend, lookup, mode, use

__all__ = ["KERNELS", "backend", "lookup", "mode", "use"]
