"""The one place that holds the JIT options of every CPU kernel.

- error_model='numpy': a float division by zero gives inf/nan instead of a
  ZeroDivisionError branch that would block vectorisation.
- fastmath without nnan/ninf: reassociation lets reductions vectorise, while
  NaN and inf checks keep working (fastmath=True would break them).
- cache=True: a second process loads compiled kernels from NUMBA_CACHE_DIR.
  The cache key ignores these options, so each kernel variant needs its own
  Python function.
- serial: on 2 cores BLAS owns the threads; parallel Numba kernels spinning
  beside OpenBLAS ran 29x slower (see shared/NUMBA-NOTES.md).
"""
import numba

FASTMATH = {"reassoc", "contract", "arcp", "nsz", "afn"}


def cpu_kernel(fn):
    """Compile `fn` for the CPU with the project's options."""
    return numba.njit(cache=True, error_model="numpy", fastmath=FASTMATH, nogil=True)(fn)


def precise_cpu_kernel(fn):
    """As cpu_kernel, but without fast-math: for kernels whose float64
    results must match a reference to the last bits (gradchecks)."""
    return numba.njit(cache=True, error_model="numpy", nogil=True)(fn)
