"""The cuda random generator: random tensors and dropout masks drawn on the
device, with no copy (kernels/cuda/random.py: a counter-based generator).

Its state is two host integers, (seed, offset): a draw of n numbers reads
counters offset .. offset + n - 1 and advances the offset, so tl.manual_seed
(which reseeds this generator too, as torch.manual_seed seeds CUDA) makes
every cuda draw repeat. The numbers differ from the CPU generator's (PCG64),
as PyTorch's CUDA and CPU streams differ: initialise a model on the CPU and
move it to get the same weights on both devices.
"""
import threading

import numpy as np

from .array import CudaArray

DEFAULT_SEED = 67280421310721  # PyTorch's default seed, as on the CPU


class CudaGenerator:
    def __init__(self, seed=DEFAULT_SEED):
        self._lock = threading.Lock()
        self.manual_seed(seed)

    def manual_seed(self, seed):
        self.seed, self.offset = int(seed) & (2**64 - 1), 0
        return self

    def get_state(self):
        return {"seed": self.seed, "offset": self.offset}

    def set_state(self, state):
        if not isinstance(state, dict) or set(state) != {"seed", "offset"}:
            raise ValueError("set_rng_state: expected a state from tl.cuda.get_rng_state()")
        self.seed, self.offset = int(state["seed"]), int(state["offset"])

    def _draw(self, fill, kind, shape, dtype, *params):
        from kernels.cuda import random
        out = _empty(tuple(shape), np.dtype(dtype))
        with self._lock:
            offset = self.offset
            self.offset += random.consumed(out.size, kind)
        fill(out, self.seed, offset, *params)
        return CudaArray(out)

    def uniform(self, shape, dtype, low=0.0, high=1.0):
        from kernels.cuda import random
        return self._draw(random.uniform_, "uniform", shape, dtype, low, high)

    def normal(self, shape, dtype, mean=0.0, std=1.0):
        from kernels.cuda import random
        return self._draw(random.normal_, "normal", shape, dtype, mean, std)

    def integers(self, low, high, shape):
        from kernels.cuda import random
        return self._draw(random.randint_, "randint", shape, np.int64, low, high)

    def keep_mask(self, shape, p):
        """Dropout's mask: True (keep) with probability 1 - p."""
        from kernels.cuda import random
        return self._draw(random.bernoulli_mask, "bernoulli", shape, np.bool_, p)


def _empty(shape, dtype):
    from numba import cuda
    return cuda.device_array(shape, dtype)


_generator = CudaGenerator()


def cuda_generator():
    return _generator


def get_rng_state():
    return _generator.get_state()


def set_rng_state(state):
    _generator.set_state(state)
