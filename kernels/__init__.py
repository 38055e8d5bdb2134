"""kernels: the hot paths of tinylm as Numba kernels, each beside the plain
NumPy reference it must match.

Each family lives in one module (softmax.py, matmul.py, ...) holding its
references, its Numba CPU kernels and their registration; the CUDA twins
live in kernels/cuda/ and are imported on first use. This package imports
only numpy and numba (never tinylm), and importing it compiles nothing and
needs no GPU.

    import kernels
    K = kernels.backend("cpu")          # kernels for one device
    y = K.softmax_forward(x)
    with kernels.use("reference"):      # or TINYLM_KERNELS=reference
        y_ref = K.softmax_forward(x)    # the NumPy specification
"""
import importlib
import pkgutil

from .registry import KERNELS, backend, lookup, mode, use

# Every module here that is not part of the machinery is a kernel family;
# importing it registers its kernels.
_MACHINERY = {"registry", "jit", "validate", "harness", "check", "fastmath"}
FAMILIES = sorted(m.name for m in pkgutil.iter_modules(__path__)
                  if not m.ispkg and m.name not in _MACHINERY)
for _family in FAMILIES:
    importlib.import_module(f"{__name__}.{_family}")

__all__ = ["KERNELS", "FAMILIES", "backend", "lookup", "mode", "use"]
