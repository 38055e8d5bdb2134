"""The one place that holds the JIT options of every kernel, CPU and CUDA.

CPU (numba.njit):
- error_model='numpy': a float division by zero gives inf/nan instead of a
  ZeroDivisionError branch that would block vectorisation.
- fastmath without nnan/ninf: reassociation lets reductions vectorise, while
  NaN and inf checks keep working (fastmath=True would break them).
- cache=True: a second process loads compiled kernels from NUMBA_CACHE_DIR.
  The cache key ignores these options, so each kernel variant needs its own
  Python function.
- serial kernels, threads from here: a wrapper whose kernel runs long
  enough splits its work in two with `in_halves`, on two Python threads
  (nogil kernels) that sleep when idle. OpenMP (prange) workers spin when
  idle, and beside OpenBLAS's threads ran 29x slower (shared/NUMBA-NOTES.md).
  OpenBLAS's own worker spins too, for ~0.1 s after every product, and took
  half a core from the next kernel's second thread (a GELU after a matmul:
  1.4 ms against 0.75 alone). So at import NumPy's OpenBLAS is set to run
  each product on its calling thread (`SERIAL_BLAS`), and the matmul,
  linear and attention wrappers share large products between in_halves'
  two threads themselves (within 5% of OpenBLAS's own threads on the GPT
  shapes, and the GPT, LSTM and GRU training steps ran 5-30% faster).
  TINYLM_OWN_THREADS=0 leaves OpenBLAS its threads.

CUDA (numba.cuda.jit): nothing compiles at import; a kernel compiles on its
first launch. Launch configurations are parameters (`launch=(blocks,
threads)`), and kernels loop grid-stride, so tests under the simulator can
launch a few threads that still span several blocks.
"""
import ctypes
import functools
import os
import re
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np  # noqa: F401  (loads the OpenBLAS that _serial_blas looks for)

FASTMATH = {"reassoc", "contract", "arcp", "nsz", "afn"}
THREADS = 256          # default threads per block on a GPU
MAX_THREADS = 1024     # size of per-block shared scratch arrays


def cpu_kernel(fn):
    """Compile `fn` for the CPU with the project's options."""
    return numba.njit(cache=True, error_model="numpy", fastmath=FASTMATH, nogil=True)(fn)


@functools.lru_cache(maxsize=1)
def pool():
    """Worker threads for nogil kernels: in_halves runs its first half on one."""
    return ThreadPoolExecutor(2, thread_name_prefix="kernel")


def in_halves(fn, n, cut=None):
    """fn(0, cut) on a worker thread and fn(cut, n) on this one, cut = n // 2
    unless given; returns when both are done. fn calls a nogil kernel on its
    own part of the outputs, so every output element is computed by one
    thread in a fixed order: the result is the same run to run."""
    cut = n // 2 if cut is None else cut
    job = pool().submit(fn, 0, cut)
    try:
        fn(cut, n)
    finally:
        job.result()


def _serial_blas():
    """Set NumPy's OpenBLAS to one thread; True if it was found and set."""
    if os.environ.get("TINYLM_OWN_THREADS", "1") == "0":
        return False
    try:
        with open("/proc/self/maps") as f:  # the libraries this process has loaded
            paths = sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", f.read())))
        for path in paths:
            lib = ctypes.CDLL(path)
            # the symbol's name depends on how the library was built
            for name in ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_",
                         "scipy_openblas_set_num_threads", "openblas_set_num_threads"):
                if hasattr(lib, name):
                    getattr(lib, name)(1)
                    return True
    except OSError:  # no /proc (not Linux), or a library that will not load
        pass
    return False


SERIAL_BLAS = _serial_blas()


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


# Under NUMBA_ENABLE_CUDASIM every CUDA thread is a Python thread (~0.15 ms
# each): a launch without an explicit configuration gets a few threads in
# several blocks instead, which grid-stride kernels cover the work with.
SIM_LAUNCH = (3, 4)


def simulating():
    return bool(numba.config.ENABLE_CUDASIM)


def grid(n, launch=None, threads=THREADS):
    """(blocks, threads) covering n work items, unless `launch` gives them."""
    if launch is not None:
        return launch
    if simulating():
        return SIM_LAUNCH
    return (max(1, min(65535, (n + threads - 1) // threads)), threads)


def rows_grid(rows, launch=None, threads=THREADS):
    """One block per row (grid-stride beyond 65535 rows)."""
    if launch is not None:
        return launch
    if simulating():
        return SIM_LAUNCH
    return (max(1, min(65535, rows)), threads)
