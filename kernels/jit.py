"""The one place that holds the JIT options of every kernel, CPU and CUDA.

CPU (numba.njit):
- error_model='numpy': a float division by zero gives inf/nan instead of a
  ZeroDivisionError branch that would block vectorisation.
- fastmath without nnan/ninf: reassociation lets reductions vectorise, while
  NaN and inf checks keep working (fastmath=True would break them).
- cache=True: a second process loads compiled kernels from NUMBA_CACHE_DIR.
  The cache key ignores these options, so each kernel variant needs its own
  Python function.
- serial: on 2 cores BLAS owns the threads; parallel Numba kernels spinning
  beside OpenBLAS ran 29x slower (see shared/NUMBA-NOTES.md).

CUDA (numba.cuda.jit): nothing compiles at import; a kernel compiles on its
first launch. Launch configurations are parameters (`launch=(blocks,
threads)`), and kernels loop grid-stride, so tests under the simulator can
launch a few threads that still span several blocks.
"""
import numba

FASTMATH = {"reassoc", "contract", "arcp", "nsz", "afn"}
THREADS = 256          # default threads per block on a GPU
MAX_THREADS = 1024     # size of per-block shared scratch arrays


def cpu_kernel(fn):
    """Compile `fn` for the CPU with the project's options."""
    return numba.njit(cache=True, error_model="numpy", fastmath=FASTMATH, nogil=True)(fn)


def precise_cpu_kernel(fn):
    """As cpu_kernel, but without fast-math: for kernels that must match a
    reference to the last bit (float64 gradchecks, PyTorch's Adam rounding)."""
    return numba.njit(cache=True, error_model="numpy", nogil=True)(fn)


def cuda_kernel(fn):
    """Compile `fn` as a CUDA kernel on first launch (or simulate it).

    fastmath=False keeps IEEE division and inf/NaN, but NVVM still contracts
    a * b + c into one FMA: a formula that relies on cancellation should
    store an intermediate and read it back."""
    from numba import cuda
    return cuda.jit(fastmath=False)(fn)  # keeps IEEE inf/NaN and exact division


def grid(n, launch=None, threads=THREADS):
    """(blocks, threads) covering n work items, unless `launch` gives them."""
    if launch is not None:
        return launch
    return (max(1, min(65535, (n + threads - 1) // threads)), threads)


def rows_grid(rows, launch=None, threads=THREADS):
    """One block per row (grid-stride beyond 65535 rows)."""
    if launch is not None:
        return launch
    return (max(1, min(65535, rows)), threads)
