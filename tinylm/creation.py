"""Functions that make tensors: tl.tensor, zeros, ones, full, arange, randn, ...

Signatures follow PyTorch: sizes as f(2, 3) or f((2, 3)); keyword dtype,
device and requires_grad. Floats default to float32 (tl.get_default_dtype()).
"""
import numpy as np

from . import dtypes
from . import random as _random
from ._tensor import Tensor
from .device import check_device


def _size(size):
    if not size:
        raise TypeError("missing the size argument: give sizes as f(2, 3), f((2, 3)) or f(()) for 0-d")
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"size must be a tuple of ints, got {size}")
        if s < 0:
            raise RuntimeError(f"negative dimension {s} in size {tuple(size)}")
    return tuple(int(s) for s in size)


def _make(array, dtype, device, requires_grad):
    check_device(device)
    if dtype is not None:
        array = array.astype(dtypes.to_dtype(dtype), copy=False)
    return Tensor(array, requires_grad=requires_grad)


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of `data` (nested lists, scalars, arrays, tensors)."""
    if isinstance(data, Tensor):
        data = data.data
    elif isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in data):
        data = [d.data if isinstance(d, Tensor) else d for d in data]
    try:
        array = np.array(data, dtype=dtypes.to_dtype(dtype) or dtypes.infer_dtype(data))
    except ValueError as e:
        raise ValueError(f"tensor(): cannot build a tensor from this data: {e}") from None
    if array.dtype == object:
        raise TypeError("tensor(): data must be numbers or nested lists of equal length")
    return _make(array, None, device, requires_grad)


def from_numpy(array):
    """A tensor sharing memory with a NumPy array, keeping its dtype."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


as_tensor = tensor


def _floats(dtype):
    return dtypes.to_dtype(dtype) or dtypes.get_default_dtype()


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return _make(np.zeros(_size(size), _floats(dtype)), None, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _make(np.ones(_size(size), _floats(dtype)), None, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    return _make(np.empty(_size(size), _floats(dtype)), None, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    dtype = dtypes.to_dtype(dtype) or dtypes.infer_dtype(fill_value)
    return _make(np.full(_size((size,)), fill_value, dtype), None, device, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    return _make(np.eye(n, m, dtype=_floats(dtype)), None, device, requires_grad)


def _like(t, dtype):
    return dtypes.to_dtype(dtype) or t.dtype


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    return _make(np.zeros(t.shape, _like(t, dtype)), None, device, requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False):
    return _make(np.ones(t.shape, _like(t, dtype)), None, device, requires_grad)


def empty_like(t, dtype=None, device=None, requires_grad=False):
    return _make(np.empty(t.shape, _like(t, dtype)), None, device, requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    return _make(np.full(t.shape, fill_value, _like(t, dtype)), None, device, requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """arange(end) or arange(start, end, step); ints give int64, floats float32."""
    if end is None:
        start, end = 0, start
    start, end, step = (v.item() if isinstance(v, Tensor) else v for v in (start, end, step))
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError(f"arange: upper bound {end} and lower bound {start} are inconsistent "
                           f"with the sign of step {step}")
    if dtype is None:
        is_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = dtypes.int64 if is_int else dtypes.get_default_dtype()
    if not dtypes.is_floating(dtypes.to_dtype(dtype)):  # integer dtypes count in integers
        start, end, step = int(start), int(end), int(step)
    # PyTorch: ceil((end - start) / step) values start + i * step, then cast
    n = int(np.ceil((end - start) / step))
    values = start + np.arange(max(n, 0)) * step  # int64, or float64 for float bounds
    return _make(values.astype(dtypes.to_dtype(dtype)), None, device, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    return _make(np.linspace(start, end, steps, dtype=_floats(dtype)), None, device, requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False):
    """Standard normal samples from the global generator (tl.manual_seed)."""
    array = _random.generator().standard_normal(_size(size), dtype=np.float64)
    return _make(array.astype(_float_only(_floats(dtype), "randn")), None, device, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False):
    """Uniform samples in [0, 1) from the global generator."""
    array = _random.generator().random(_size(size), dtype=np.float64)
    return _make(array.astype(_float_only(_floats(dtype), "rand")), None, device, requires_grad)


def randn_like(t, dtype=None):
    return randn(t.shape, dtype=_like(t, dtype))


def rand_like(t, dtype=None):
    return rand(t.shape, dtype=_like(t, dtype))


def _float_only(dtype, name):
    if not dtypes.is_floating(dtype):
        raise TypeError(f"{name}: random floats need a floating point dtype, got {dtype}")
    return dtype


def randint(low=0, high=None, size=None, dtype=None, device=None):
    """randint(high, size) or randint(low, high, size): ints in [low, high)."""
    if size is None and high is not None and not isinstance(high, (int, np.integer)):
        low, high, size = 0, low, high  # randint(high, size)
    if high is None:
        raise TypeError("randint: missing the high argument")
    if size is None:
        raise TypeError("randint: missing the size argument")
    if high <= low:
        raise RuntimeError(f"randint: expected low < high, got low={low}, high={high}")
    array = _random.generator().integers(low, high, size=_size((size,)), dtype=np.int64)
    return _make(array, dtype or dtypes.int64, device, False)


def randperm(n, dtype=None, device=None):
    return _make(_random.generator().permutation(n).astype(np.int64), dtype, device, False)
