"""Which kernels run an op: tinylm asks here for the kernel table of the
device its data lives on, and never branches on the device inside an op.

    K = kernels_for(x)         # x: the array inside a tensor
    y = K.softmax_forward(x)

Set TINYLM_KERNELS=reference (or use `with kernels.use("reference"):`) to run
the whole engine on the kernels' NumPy references.

Host memory: every op returns a new NumPy array, and glibc's malloc gives
blocks of 128 KB and more their own mmap and returns them to the kernel
when freed (or trims them off the heap), so each step's activations and
gradients land on fresh pages that fault on first touch: 27,000 page
faults per GPT-d128 training step, about 60 of its 170 ms, measured here.
At import, tinylm therefore asks glibc (mallopt) to serve blocks up to
32 MB (its limit) from the heap and never trim it: freed blocks are reused
and a step faults ~5 times. The process keeps its peak heap, as PyTorch's
caching allocators keep theirs. TINYLM_KEEP_FREED_MEMORY=0 turns this off.
"""
import ctypes
import os

import numpy as np

import kernels
from .device import DeviceArray

_CPU = kernels.backend("cpu")
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)


def _keep_freed_memory():
    """Heap up to 32 MB per block, never trimmed (see the module docstring);
    True if glibc took both settings."""
    if os.environ.get("TINYLM_KEEP_FREED_MEMORY", "1") == "0":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not Linux with glibc: nothing to do
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(mallopt(M_TRIM_THRESHOLD, 1 << 30))


KEEPS_FREED_MEMORY = _keep_freed_memory()


def kernels_for(array):
    """The kernel table for the device holding `array`: a NumPy array's the
    CPU's, a CudaArray's the cuda one (tinylm/cuda/kernel_table.py)."""
    if isinstance(array, np.ndarray):
        return _CPU
    if isinstance(array, DeviceArray):
        from .cuda.kernel_table import TABLE
        return TABLE
    raise TypeError(f"no kernels for arrays of type {type(array).__name__}")


def is_array(x):
    """True for the arrays tensors hold: NumPy arrays and device arrays."""
    return isinstance(x, (np.ndarray, DeviceArray))


def contiguous(x):
    """x in C order: itself if it already is (np.ascontiguousarray for any
    array type, keeping 0-d arrays 0-d)."""
    return x if x.flags.c_contiguous else x.copy()


def asarray(x):
    """np.asarray that leaves device arrays where they are."""
    return x if isinstance(x, DeviceArray) else np.asarray(x)
