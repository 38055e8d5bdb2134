"""The NumPy functions and ufuncs that CudaArrays implement, each on the CUDA
primitives of kernels/cuda/. CudaArray.__array_ufunc__ and
__array_function__ land here; anything missing raises NotImplementedError
naming the NumPy function, so an op without a CUDA path fails loudly
instead of copying to the host.

Type promotion is NumPy's: the result dtype is np.result_type of the
operands (Python scalars weak), then operands are cast on the device, so a
cuda op gives the dtype the same op gives on the CPU.
"""
import numpy as np

from ..device import mixed_devices
from .array import CudaArray, _full, _into, _k, is_scalar

UNARY = {"negative": "neg", "absolute": "abs", "exp": "exp", "log": "log", "tanh": "tanh",
         "sqrt": "sqrt", "sin": "sin", "cos": "cos", "positive": "copy"}
MATH = {"exp", "log", "tanh", "sqrt", "sin", "cos"}  # integer inputs compute in float64, as NumPy
BINARY = {"add": "add", "subtract": "sub", "multiply": "mul", "true_divide": "div", "divide": "div",
          "power": "pow", "maximum": "maximum", "minimum": "minimum", "equal": "eq",
          "not_equal": "ne", "less": "lt", "less_equal": "le", "greater": "gt",
          "greater_equal": "ge"}
COMPARE = {"equal", "not_equal", "less", "less_equal", "greater", "greater_equal"}
REDUCE = {"add": "sum", "maximum": "max", "minimum": "min"}


def _check_operands(values):
    for v in values:
        if isinstance(v, np.ndarray) and v.ndim > 0:
            raise mixed_devices()
        if not (isinstance(v, CudaArray) or is_scalar(v)):
            raise TypeError(f"cuda arrays cannot be combined with {type(v).__name__}")


def _dtype_of(values):
    return np.result_type(*[v.dtype if isinstance(v, CudaArray) else v for v in values])


def _operand(v, dt):
    """A device array of dtype dt, or a scalar the kernel takes as an argument."""
    if isinstance(v, CudaArray):
        return (v if v.dtype == dt else v.astype(dt)).dev
    if isinstance(v, np.ndarray):
        v = v[()]
    return dt.type(v)


def _finish(result, out):
    """result (a device array) into `out` if one was given (cast as needed)."""
    r = CudaArray(result)
    if out is None:
        return r
    target = out[0] if isinstance(out, tuple) else out
    if not isinstance(target, CudaArray):
        raise mixed_devices()
    if target.dev is result:
        return target
    return _into(r, target)


def unary(name, x, out=None):
    ew = _k()[0]
    dt = x.dtype
    if name in MATH and dt.kind != "f":
        x, dt = x.astype(np.float64), np.dtype(np.float64)
    o = out[0].dev if out is not None and out[0].dtype == dt else None
    return _finish(ew.unary(UNARY[name], x.dev, out=o), out)


def binary(name, a, b, out=None):
    ew = _k()[0]
    dt = _dtype_of([a, b])
    if name in ("true_divide", "divide", "power") and dt.kind != "f":
        if name == "power":  # int ** int: exact in float64 for the sizes ops use
            r = binary(name, _as_float(a), _as_float(b))
            return _finish(r.astype(dt).dev, out)
        dt = np.dtype(np.float64)
    if dt == np.bool_ and name in ("add", "multiply", "maximum", "minimum"):
        return logical({"add": "or", "maximum": "or", "multiply": "and", "minimum": "and"}[name],
                       a, b, out)
    res_dt = np.dtype(np.bool_) if name in COMPARE else dt
    o = out[0].dev if out is not None and out[0].dtype == res_dt else None
    return _finish(ew.binary(BINARY[name], _operand(a, dt), _operand(b, dt), out=o), out)


def _as_float(v):
    return v.astype(np.float64) if isinstance(v, CudaArray) else float(np.asarray(v))


def logical(op, a, b=None, out=None):
    """and / or / xor / not on bools (any nonzero value counts as True)."""
    ew = _k()[0]
    a = _bool(a)
    if op == "not":
        return _finish(ew.binary("eq", a, False), out)
    b = _bool(b)
    if isinstance(a, bool):  # the device array first
        a, b = b, a
    if isinstance(b, bool):  # array op scalar: a copy of a, or all of one value
        keep = {"and": b, "or": not b, "xor": True}[op]
        if keep:
            return _finish(ew.binary("ne", a, b) if op == "xor" else ew.unary("copy", a), out)
        return _into(_full(tuple(a.shape), op == "or", np.bool_), out)
    if op == "xor":
        return _finish(ew.binary("ne", a, b), out)
    return _finish(ew.where(a, b, False) if op == "and" else ew.where(a, True, b), out)


def _bool(v):
    if isinstance(v, CudaArray):
        return (v if v.dtype == np.bool_ else v != 0).dev
    return bool(np.asarray(v))


def composite(name, x, out=None):
    """Unary ufuncs built from the primitives."""
    if name == "logical_not" or (name == "invert" and x.dtype == np.bool_):
        return logical("not", x, out=out)
    if name in ("isnan", "isinf", "isfinite", "isneginf", "isposinf"):
        if x.dtype.kind != "f":
            return _into(_full(x.shape, name == "isfinite", np.bool_), out)
        r = {"isnan": lambda: x != x, "isinf": lambda: abs(x) == np.inf,
             "isfinite": lambda: abs(x) < np.inf, "isneginf": lambda: x == -np.inf,
             "isposinf": lambda: x == np.inf}[name]()
        return _into(r, out)
    if name == "sign":
        one = (x > 0).astype(x.dtype) - (x < 0).astype(x.dtype)
        return _into(np.where(x != x, x, one) if x.dtype.kind == "f" else one, out)
    if name == "square":
        return binary("multiply", x, x, out)
    if name == "reciprocal":
        return binary("true_divide", 1, x, out)
    raise NotImplementedError(f"numpy.{name} has no cuda implementation in tinylm")


def apply_ufunc(ufunc, method, inputs, kwargs):
    name = ufunc.__name__
    out = kwargs.pop("out", None)
    kwargs.pop("casting", None)
    dtype = kwargs.pop("dtype", None)
    if kwargs:
        raise NotImplementedError(f"numpy.{name}: options {sorted(kwargs)} are not supported "
                                  f"on cuda arrays")
    if method == "at":
        from .indexing import add_at
        if name != "add":
            raise NotImplementedError(f"numpy.{name}.at has no cuda implementation in tinylm")
        return add_at(*inputs)
    if method == "reduce":
        if name not in REDUCE:
            raise NotImplementedError(f"numpy.{name}.reduce has no cuda implementation in tinylm")
        x = inputs[0]
        return getattr(x, REDUCE[name])(axis=kwargs.get("axis", 0), out=out)
    if method != "__call__":
        raise NotImplementedError(f"numpy.{name}.{method} has no cuda implementation in tinylm")
    _check_operands(inputs)
    if out is not None:
        _check_operands(out)
    if name == "matmul":
        from .kernel_table import matmul
        return _into(matmul(*inputs), out)
    if name == "clip":
        return clip(*inputs, out=out)
    if len(inputs) == 1:
        r = unary(name, inputs[0], out) if name in UNARY else composite(name, inputs[0], out)
    elif name in BINARY:
        r = binary(name, *inputs, out=out)
    elif name in ("logical_and", "bitwise_and", "logical_or", "bitwise_or", "logical_xor",
                  "bitwise_xor"):
        a, b = inputs
        if "bitwise" in name and _dtype_of(inputs) != np.bool_:
            raise NotImplementedError(f"numpy.{name} on integers has no cuda implementation")
        r = logical(name.split("_")[1], a, b, out)
    else:
        raise NotImplementedError(f"numpy.{name} has no cuda implementation in tinylm")
    return r if dtype is None else r.astype(dtype, copy=False)


def clip(x, lo=None, hi=None, out=None):
    r = x
    if lo is not None:
        r = np.maximum(r, lo)
    if hi is not None:
        r = np.minimum(r, hi)
    return _into(r if r is not x else x.copy(), out)


# ---- NumPy functions ---------------------------------------------------------------------

def _where(cond, a=None, b=None):
    if a is None or b is None:
        raise NotImplementedError("numpy.where(cond) (nonzero) has no cuda implementation in tinylm")
    _check_operands([cond, a, b])
    dt = _dtype_of([a, b])
    c = cond.dev if isinstance(cond, CudaArray) and cond.dtype == np.bool_ else _bool(cond)
    if is_scalar(cond):  # the chosen operand, on the device even if it is a host scalar
        pick = a if c else b
        pick = pick.astype(dt, copy=False) if isinstance(pick, CudaArray) else _full((), pick, dt)
        return np.broadcast_to(pick, np.broadcast_shapes(np.shape(a), np.shape(b))).copy()
    if not isinstance(a, CudaArray) and not isinstance(b, CudaArray):
        a = _full((), a, dt)  # where(mask, 1, 0): the kernel takes one device operand at least
    return CudaArray(_k()[0].where(c, _operand(a, dt), _operand(b, dt)))


def _shape(shape):
    """A shape argument (an int or a sequence) as a tuple of ints."""
    return (int(shape),) if np.ndim(shape) == 0 else tuple(int(n) for n in shape)


def _like(fill):
    def make(a, dtype=None, order="K", subok=True, shape=None):
        return _full(_shape(a.shape if shape is None else shape), fill, dtype or a.dtype)
    return make


def _full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None):
    if isinstance(fill_value, CudaArray):  # a 0-d device value (argmax's): no copy to the host
        shape = a.shape if shape is None else shape
        return _full_new(shape, fill_value, dtype or a.dtype)
    return _like(fill_value)(a, dtype, shape=shape)


def _concatenate(arrays, axis=0, out=None, **kw):
    arrays = list(arrays)
    _check_operands(arrays)
    dt = _dtype_of(arrays)
    if axis is None:
        arrays, axis = [a.reshape(-1) for a in arrays], 0
    r = CudaArray(_k()[2].cat([a.astype(dt, copy=False).dev for a in arrays], axis))
    return _into(r, out)


def _stack(arrays, axis=0, out=None, **kw):
    arrays = list(arrays)
    return _concatenate([a.expand_dims(axis) for a in arrays], axis if axis >= 0 else
                        axis + arrays[0].ndim + 1, out)


def _split(x, indices_or_sections, axis=0):
    n = x.shape[axis]
    if np.ndim(indices_or_sections) == 0:
        k = int(indices_or_sections)
        if n % k:
            raise ValueError("array split does not result in an equal division")
        bounds = [n // k * i for i in range(1, k)]
    else:
        bounds = [int(b) for b in indices_or_sections]
    edges = [0] + bounds + [n]
    key = [slice(None)] * x.ndim
    parts = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        key[axis] = slice(lo, hi)
        parts.append(x[tuple(key)])
    return parts


def _moveaxis(x, source, destination):
    src = [s % x.ndim for s in np.atleast_1d(source)]
    dst = [d % x.ndim for d in np.atleast_1d(destination)]
    order = [d for d in range(x.ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return x.transpose(order)


def _take_along_axis(x, idx, axis):
    _check_operands([x, idx])
    return CudaArray(_k()[2].gather(x.dev, axis, idx.dev))


def _put_along_axis(arr, idx, values, axis):
    """arr[..., idx, ...] = values along axis, for one index per lane (as
    max(dim)'s backward uses it): a where against an index comparison."""
    axis = axis % arr.ndim
    if idx.shape[axis] != 1:
        raise NotImplementedError("numpy.put_along_axis with more than one index per lane has no "
                                  "cuda implementation in tinylm")
    pos = _arange(arr.shape[axis]).reshape(
        [arr.shape[axis] if d == axis else 1 for d in range(arr.ndim)])
    hit = pos == idx
    np.copyto(arr, np.where(hit, values, arr))


def _copyto(dst, src, **kw):
    _check_operands([dst, src])
    src = src.astype(dst.dtype, copy=False) if isinstance(src, CudaArray) else src
    if isinstance(src, CudaArray):
        _k()[2].copy_into(dst.dev, src.dev)
    else:
        dst.fill(src)


def _reduction(method):
    def fn(x, axis=None, *args, **kwargs):
        return getattr(x, method)(axis, *args, **kwargs)
    return fn


def _result_type(*args):
    return np.result_type(*[a.dtype if isinstance(a, CudaArray) else a for a in args])


FUNCTIONS = {
    np.where: _where, np.zeros_like: _like(0), np.ones_like: _like(1), np.empty_like: _like(0),
    np.full_like: _full_like, np.concatenate: _concatenate, np.stack: _stack, np.split: _split,
    np.moveaxis: _moveaxis, np.take_along_axis: _take_along_axis, np.put_along_axis: _put_along_axis,
    np.copyto: _copyto, np.clip: lambda x, a_min=None, a_max=None, out=None, **kw: clip(x, a_min, a_max, out),
    np.broadcast_to: lambda x, shape, subok=False: x.broadcast_to(shape),
    np.expand_dims: lambda x, axis: x.expand_dims(axis),
    np.squeeze: lambda x, axis=None: x.squeeze(axis),
    np.reshape: lambda x, shape=None, order="C", *, newshape=None, copy=None: x.reshape(
        shape if shape is not None else newshape, copy=copy),
    np.transpose: lambda x, axes=None: x.transpose(*(() if axes is None else (axes,))),
    np.swapaxes: lambda x, a, b: x.swapaxes(a, b), np.ravel: lambda x, order="C": x.ravel(),
    np.ascontiguousarray: lambda x, dtype=None, **kw: x.contiguous() if dtype is None
    else x.contiguous().astype(dtype, copy=False),
    np.sum: _reduction("sum"), np.mean: _reduction("mean"), np.max: _reduction("max"),
    np.amax: _reduction("max"), np.min: _reduction("min"), np.amin: _reduction("min"),
    np.argmax: _reduction("argmax"), np.argmin: _reduction("argmin"), np.var: _reduction("var"),
    np.std: _reduction("std"), np.all: _reduction("all"), np.any: _reduction("any"),
    np.result_type: _result_type, np.shape: lambda x: x.shape, np.ndim: lambda x: x.ndim,
    np.size: lambda x, axis=None: x.size if axis is None else x.shape[axis],
    np.can_cast: lambda f, t, casting="safe": np.can_cast(
        f.dtype if isinstance(f, CudaArray) else f, t, casting),
    np.copy: lambda x, order="K", subok=False: x.copy(),
}


# Creation with like=x (np.zeros(shape, dtype, like=x)): NumPy hands these
# over by the function's name (some arrive as internal wrappers).
def _creation(fill):
    def make(shape, dtype=float, order="C", **kw):
        return _full(_shape(shape), fill, np.dtype(dtype))
    return make


def _full_new(shape, fill_value, dtype=None, order="C", **kw):
    if isinstance(fill_value, CudaArray):
        return np.broadcast_to(fill_value.astype(dtype or fill_value.dtype, copy=False),
                               _shape(shape)).copy()
    dtype = np.dtype(dtype) if dtype is not None else np.result_type(fill_value)
    return _creation(fill_value)(shape, dtype)


def _arange(start, stop=None, step=1, dtype=None, **kw):
    return CudaArray(_k()[2].arange(start, stop, step, dtype=dtype))


def _tri(N, M=None, k=0, dtype=float, **kw):
    M = N if M is None else M
    rows = _arange(N).reshape(N, 1)
    cols = _arange(M).reshape(1, M)
    return (cols - rows <= k).astype(dtype, copy=False)


BY_NAME = {"zeros": _creation(0), "ones": _creation(1), "empty": _creation(0), "full": _full_new,
           "arange": _arange, "tri": _tri}


def apply_function(func, args, kwargs):
    impl = FUNCTIONS.get(func) or BY_NAME.get(getattr(func, "__name__", ""))
    if impl is None:
        raise NotImplementedError(f"numpy.{func.__name__} has no cuda implementation in tinylm")
    return impl(*args, **kwargs)
