"""Dtypes and PyTorch's type-promotion rules, on top of NumPy dtypes.

A tinylm dtype *is* a NumPy dtype, so `t.dtype == np.float32` and
`t.dtype == tl.float32` both hold. Promotion follows PyTorch, not NumPy:
Python scalars are "weak" (a float32 tensor times 2.5 stays float32), an
integer tensor meeting a Python float becomes the default float dtype
(float32), and true division of integers gives the default float dtype.
"""
import builtins

import numpy as np

from .device import DeviceArray

# The names PyTorch users type; this module shadows float/int/bool on purpose
# (tl.float, tl.long, tl.bool), so the builtins are reached through `builtins`.
float32 = float = np.dtype(np.float32)
float64 = double = np.dtype(np.float64)
float16 = half = np.dtype(np.float16)
int64 = long = np.dtype(np.int64)
int32 = int = np.dtype(np.int32)
int16 = short = np.dtype(np.int16)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
bool = np.dtype(np.bool_)

_default_float = float32


def get_default_dtype():
    return _default_float


def set_default_dtype(dtype):
    global _default_float
    dtype = np.dtype(dtype)
    if dtype not in (float32, float64):
        raise TypeError(f"set_default_dtype: only float32 and float64 are supported, got {dtype}")
    _default_float = dtype


def is_floating(dtype):
    return np.issubdtype(dtype, np.floating)


def to_dtype(dtype):
    """Accept tl/NumPy dtypes, Python types (float is float64 and int int64,
    as in PyTorch) and names ('float32', 'int64')."""
    if dtype is None:
        return None
    if dtype is builtins.float:
        return float64
    if dtype is builtins.int:
        return int64
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"unknown dtype {dtype!r}") from None


def infer_dtype(data):
    """The dtype tl.tensor(data) gives: NumPy arrays and scalars keep theirs,
    Python floats take the default float, Python ints int64, bools bool."""
    if isinstance(data, (np.ndarray, np.generic, DeviceArray)):
        return data.dtype
    kind = np.asarray(data).dtype.kind
    if kind == "f":
        return _default_float
    if kind in "iu":
        return int64
    if kind == "b":
        return bool
    raise TypeError(f"tensor(): cannot make a tensor from data of type {type(data).__name__}")


def _category(dtype):
    # PyTorch promotes by category first: bool < integer < floating
    if dtype == bool:
        return 0
    return 2 if is_floating(dtype) else 1


def _scalar_category(x):
    if isinstance(x, np.generic):
        return _category(x.dtype)
    if isinstance(x, builtins.bool):
        return 0
    return 1 if isinstance(x, builtins.int) else 2


def _tier(x):
    # PyTorch ranks operands: dimensioned tensors > 0-d tensors > Python scalars
    if isinstance(x, (np.ndarray, DeviceArray)):
        return 2 if x.ndim else 1
    return 0


def _dtype_of(x, category):
    if isinstance(x, (np.ndarray, DeviceArray)):
        return x.dtype
    if isinstance(x, np.generic):
        return x.dtype
    return {0: bool, 1: int64, 2: _default_float}[category]


def result_type(a, b):
    """Dtype of a binary op; each side is a NumPy array or a Python scalar.

    Categories first (bool < integer < floating): the higher category wins,
    and within a category the higher-ranked operand (dimensioned tensor, then
    0-d tensor, then scalar) decides; equal ranks promote by size. So
    float32 + int64 is float32, float32 * 2.5 is float32, int64 * 2.5 is
    float32 (the default float), float32 + float64 is float64, and a float32
    matrix plus a float64 0-d tensor stays float32."""
    ca = _category(a.dtype) if hasattr(a, "dtype") else _scalar_category(a)
    cb = _category(b.dtype) if hasattr(b, "dtype") else _scalar_category(b)
    ta, tb = _tier(a), _tier(b)
    if ca != cb:
        return _dtype_of(a, ca) if ca > cb else _dtype_of(b, cb)
    if ta == tb:
        return np.promote_types(_dtype_of(a, ca), _dtype_of(b, cb))
    return _dtype_of(a if ta > tb else b, ca)
