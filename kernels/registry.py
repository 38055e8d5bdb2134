"""The kernel registry: kernel name -> its backends, and the switch between them.

Every kernel is registered once, with:
  reference  the NumPy specification (plain, float64 accumulation)
  cpu        the Numba CPU version (host arrays in, host arrays out)
  cuda       the numba-cuda version (device arrays in, device arrays out;
             optional `launch=(blocks, threads)` keyword), or None
  example    example(rng, dtype, **sizes) -> args: random inputs for checks,
             with sizes drawn by hypothesis (tests) or fixed (check, bench)
All three backends take the same positional arguments and return the same
outputs, so any one can stand in for another.

tinylm asks `backend(device)` for a namespace of kernels and calls
`K.softmax_forward(x)`: it never branches on the device itself. Setting
TINYLM_KERNELS=reference in the environment, or `with use("reference"):`,
makes every lookup return the NumPy reference instead, for comparing
results and speed.
"""
import contextlib
import os
from dataclasses import dataclass
from typing import Callable, Optional

MODES = ("fast", "reference")


@dataclass
class Kernel:
    name: str
    reference: Callable            # the NumPy specification
    cpu: Callable                  # Numba CPU: host arrays in and out
    cuda: Optional[Callable]       # numba-cuda: device arrays in and out, launch=(blocks, threads)
    example: Callable              # example(rng, dtype, **sizes) -> tuple of input arrays
    sizes: dict                    # {"N": (lo, hi), ...}: ranges hypothesis draws sizes from
    sim_sizes: dict                # smaller ranges for the CUDA simulator
    bench: dict                    # realistic sizes for kernels.check and the benchmarks
    rtol: float = 1e-5             # float32 tolerances against the reference
    atol: float = 1e-6
    sim_launch: tuple = (2, 4)     # (blocks, threads) under the simulator: few threads, several blocks


KERNELS = {}
_mode = os.environ.get("TINYLM_KERNELS", "fast")
if _mode not in MODES:
    raise ValueError(f"TINYLM_KERNELS must be one of {MODES}, got {_mode!r}")


def register(kernel):
    if kernel.name in KERNELS:
        raise ValueError(f"kernel {kernel.name!r} is registered twice")
    KERNELS[kernel.name] = kernel
    return kernel


def mode():
    return _mode


@contextlib.contextmanager
def use(new_mode):
    """`with kernels.use('reference'):` runs every kernel as its NumPy reference."""
    global _mode
    if new_mode not in MODES:
        raise ValueError(f"kernel mode must be one of {MODES}, got {new_mode!r}")
    old, _mode = _mode, new_mode
    try:
        yield
    finally:
        _mode = old


def lookup(name, device="cpu"):
    """The function that runs kernel `name` for `device` in the current mode."""
    try:
        k = KERNELS[name]
    except KeyError:
        raise KeyError(f"no kernel named {name!r}; known: {sorted(KERNELS)}") from None
    if _mode == "reference" and device == "cpu":
        return k.reference
    fn = k.cpu if device == "cpu" else k.cuda
    if fn is None:
        raise NotImplementedError(f"kernel {name!r} has no {device} implementation")
    return fn


class backend:
    """Kernels for one device as attributes: backend('cpu').softmax_forward(x)."""

    def __init__(self, device="cpu"):
        self.device = str(device).split(":")[0]

    def __getattr__(self, name):
        return lookup(name, self.device)

    def __dir__(self):
        return sorted(KERNELS)
