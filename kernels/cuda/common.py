"""Pieces shared by the CUDA kernels: per-dtype kernel factories, the
block-wide reduction, and wrapper checks.

A shared-memory array needs its dtype at compile time, so each kernel is
built by a factory for float32 and float64; the float32 variant uses only
float32 constants, which the PTX check verifies (no .f64 instruction)."""
import numpy as np
from numba import float32, float64

from ..jit import MAX_THREADS, cuda_kernel

NB_TYPES = {np.dtype(np.float32): float32, np.dtype(np.float64): float64}


def per_dtype(factory):
    """Build factory(numba_type) for each float dtype, compiled on first launch."""
    return {dt: cuda_kernel(factory(nb)) for dt, nb in NB_TYPES.items()}


def check_launch(launch, name):
    blocks, threads = launch
    if threads > MAX_THREADS or threads & (threads - 1):
        raise ValueError(f"{name}: threads per block must be a power of two <= {MAX_THREADS}, "
                         f"got {threads}")
    return launch


def device_rows(name, a, what="x"):
    """A device array viewed as (N, C) rows; dtype float32/float64."""
    if not hasattr(a, "copy_to_host"):  # a numba device array (real or simulated)
        raise TypeError(f"{name}: {what} must be a CUDA device array (numba.cuda.to_device)")
    if np.dtype(a.dtype) not in NB_TYPES:
        raise TypeError(f"{name}: {what} must be float32 or float64, got {a.dtype}")
    shape = tuple(a.shape)  # simulated arrays refuse negative indices into .shape
    if not shape:
        raise ValueError(f"{name}: {what} needs at least 1 dim")
    return a.reshape(int(np.prod(shape[:-1])), shape[-1]) if len(shape) != 2 else a
