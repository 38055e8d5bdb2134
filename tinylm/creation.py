"""Functions that make tensors: tl.tensor, zeros, ones, full, arange, randn, ...

Signatures follow PyTorch: sizes as f(2, 3) or f((2, 3)); keyword dtype,
device and requires_grad. Floats default to float32 (tl.get_default_dtype()).
"""
import numpy as np

from . import dtypes
from . import random as _random
from ._tensor import Tensor
from .device import check_device
from .ops.transfer import move


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
    """A tensor of a host array, copied to `device` (counted) if that is cuda."""
    device = check_device(device)
    if dtype is not None:
        array = array.astype(dtypes.to_dtype(dtype), copy=False)
    if device.type == "cuda":
        array = move(array, device)
    return Tensor(array, requires_grad=requires_grad)


def _filled(shape, value, dtype, device, requires_grad):
    """A tensor of one value, filled where it lives (no copy on cuda)."""
    device = check_device(device)
    if device.type == "cuda":
        from .cuda.array import _full
        return Tensor(_full(shape, value, dtype), requires_grad=requires_grad)
    return Tensor(np.full(shape, value, dtype), requires_grad=requires_grad)



def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of `data` (nested lists, scalars, arrays, tensors)."""
    if isinstance(data, Tensor) and not isinstance(data.data, np.ndarray):  # a cuda tensor
        out = data.detach().to(device or data.device, dtype=dtype, copy=True)
        return out.requires_grad_(requires_grad)
    if isinstance(data, Tensor):
        data = data.data
    elif isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in data):
        # elements on cuda are copied to the host here, as torch.tensor([t0, t1]) reads them
        data = [(d.data if isinstance(d.data, np.ndarray) else d.data.to_host()) if isinstance(d, Tensor)
                else d for d in data]
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
    return _filled(_size(size), 0, _floats(dtype), device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _filled(_size(size), 1, _floats(dtype), device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    return _filled(_size(size), 0, _floats(dtype), device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    dtype = dtypes.to_dtype(dtype) or dtypes.infer_dtype(fill_value)
    return _filled(_size((size,)), fill_value, dtype, device, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    return _make(np.eye(n, m, dtype=_floats(dtype)), None, device, requires_grad)


def _like(t, dtype):
    return dtypes.to_dtype(dtype) or t.dtype


# *_like: on t's device unless told otherwise, as in PyTorch
def zeros_like(t, dtype=None, device=None, requires_grad=False):
    return _filled(t.shape, 0, _like(t, dtype), device or t.device, requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False):
    return _filled(t.shape, 1, _like(t, dtype), device or t.device, requires_grad)


def empty_like(t, dtype=None, device=None, requires_grad=False):
    return _filled(t.shape, 0, _like(t, dtype), device or t.device, requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    return _filled(t.shape, fill_value, _like(t, dtype), device or t.device, requires_grad)


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
    if check_device(device).type == "cuda":  # counted on the device, no copy
        from .cuda.array import CudaArray
        from kernels.cuda.movement import arange as device_arange
        dt = dtypes.to_dtype(dtype)
        if dt == np.int64 or dtypes.is_floating(dt):
            values = CudaArray(device_arange(start, start + n * step, step, dtype=dt))
            return Tensor(values[:max(n, 0)], requires_grad=requires_grad)
    values = start + np.arange(max(n, 0)) * step  # int64, or float64 for float bounds
    return _make(values.astype(dtypes.to_dtype(dtype)), None, device, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    return _make(np.linspace(start, end, steps, dtype=_floats(dtype)), None, device, requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False):
    """Standard normal samples from the global generator (tl.manual_seed);
    on cuda from the cuda generator, drawn on the device."""
    dtype, device = _float_only(_floats(dtype), "randn"), check_device(device)
    if device.type == "cuda":
        return Tensor(_random.normal(_size(size), dtype, device), requires_grad=requires_grad)
    array = _random.generator().standard_normal(_size(size), dtype=np.float64)
    return _make(array.astype(dtype), None, device, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False):
    """Uniform samples in [0, 1) from the global generator (cuda: the cuda one)."""
    dtype, device = _float_only(_floats(dtype), "rand"), check_device(device)
    if device.type == "cuda":
        return Tensor(_random.uniform(_size(size), dtype, device), requires_grad=requires_grad)
    array = _random.generator().random(_size(size), dtype=np.float64)
    return _make(array.astype(dtype), None, device, requires_grad)


def randn_like(t, dtype=None, device=None):
    return randn(t.shape, dtype=_like(t, dtype), device=device or t.device)


def rand_like(t, dtype=None, device=None):
    return rand(t.shape, dtype=_like(t, dtype), device=device or t.device)


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
    device = check_device(device)
    if device.type == "cuda":
        array = _random.integers(low, high, _size((size,)), device)
        return Tensor(array if dtype is None else array.astype(dtypes.to_dtype(dtype)))
    array = _random.generator().integers(low, high, size=_size((size,)), dtype=np.int64)
    return _make(array, dtype or dtypes.int64, device, False)


def randperm(n, dtype=None, device=None):
    return _make(_random.generator().permutation(n).astype(np.int64), dtype, device, False)
