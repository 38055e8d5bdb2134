"""tinylm: a readable deep learning engine for language models on NumPy and Numba.

    import tinylm as tl
    x = tl.randn(3, requires_grad=True)
    (x * x).sum().backward()   # x.grad == 2 * x
"""
from . import dtypes, random
from ._tensor import Tensor
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .creation import (arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like,
                       linspace, ones, ones_like, rand, rand_like, randint, randn, randn_like,
                       randperm, tensor, zeros, zeros_like)
from .device import device
from .dtypes import (bool, double, float, float16, float32, float64, get_default_dtype, half,
                     int, int8, int16, int32, int64, long, set_default_dtype, short, uint8)
from .gradcheck import gradcheck
from .serialization import CheckpointError, load, save
from .ops import (abs, add, all, any, logical_and, logical_not, logical_or, movedim,
                  repeat_interleave, amax, amin, argmax, argmin, cat, chunk, clamp, clip, clone, cos, div,
                  exp, flatten, log, logsumexp, masked_fill, matmul, max, maximum, mean, min,
                  minimum, mul, neg, permute, pow, relu, reshape, sigmoid, sin, split, sqrt,
                  squeeze, stack, std, sub, sum, tanh, transpose, tril, triu, unsqueeze, var,
                  where)
from .random import get_rng_state, initial_seed, manual_seed, seed, set_rng_state
from . import cuda, data, models, nn, optim, train  # noqa: E402  (they use the ops above)

__version__ = "0.1.0"
