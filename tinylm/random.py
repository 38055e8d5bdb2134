"""The one random generator that every random op draws from.

tl.manual_seed(s) reseeds it, so initialisation, dropout and batch sampling
all repeat from the same seed. Like PyTorch, a fresh process starts from a
fixed default seed. get_rng_state/set_rng_state save and restore it exactly
(the state is a plain dict of ints, safe to store in a checkpoint).
"""
import numpy as np

DEFAULT_SEED = 67280421310721  # PyTorch's default seed

_seed = DEFAULT_SEED
_generator = np.random.Generator(np.random.PCG64(DEFAULT_SEED))


def manual_seed(seed):
    """Reseed the global generator; returns the seed, as PyTorch returns its generator."""
    global _generator, _seed
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}")
    _seed = int(seed)
    _generator = np.random.Generator(np.random.PCG64(_seed & (2**128 - 1)))
    from .cuda.random import cuda_generator  # reseeds cuda too, as torch.manual_seed does
    cuda_generator().manual_seed(_seed)
    return _seed


seed = manual_seed


def initial_seed():
    return _seed


def generator():
    """The NumPy Generator behind every tinylm random op."""
    return _generator


def get_rng_state():
    return _generator.bit_generator.state


def set_rng_state(state):
    if not isinstance(state, dict) or state.get("bit_generator") != "PCG64":
        raise ValueError("set_rng_state: expected a state dict from tl.get_rng_state()")
    _generator.bit_generator.state = state


# ---- draws on a device: the CPU's generator above, or the cuda one ------------------
# (On the CPU every float draw is made in float64 and rounded, so a seed gives
# the same numbers whatever the dtype.)

def uniform(shape, dtype, device, low=0.0, high=1.0):
    if device.type == "cuda":
        from .cuda.random import cuda_generator
        return cuda_generator().uniform(shape, dtype, low, high)
    return _generator.uniform(low, high, shape).astype(dtype)


def normal(shape, dtype, device, mean=0.0, std=1.0):
    if device.type == "cuda":
        from .cuda.random import cuda_generator
        return cuda_generator().normal(shape, dtype, mean, std)
    return _generator.normal(mean, std, shape).astype(dtype)


def integers(low, high, shape, device):
    if device.type == "cuda":
        from .cuda.random import cuda_generator
        return cuda_generator().integers(low, high, shape)
    return _generator.integers(low, high, size=shape, dtype=np.int64)


def keep_mask(shape, p, device):
    """Dropout's mask: True with probability 1 - p."""
    if device.type == "cuda":
        from .cuda.random import cuda_generator
        return cuda_generator().keep_mask(shape, p)
    return _generator.random(shape) >= p
