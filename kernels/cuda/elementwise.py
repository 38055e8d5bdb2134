"""CUDA elementwise primitives with NumPy broadcasting over operands of any
(nonnegative) strides: unary math, binary arithmetic and comparisons,
where, cast, each beside its NumPy reference (`*_reference`).

  unary(op, x)          op in UNARY; y has x's shape and dtype
  binary(op, a, b)      op in BINARY; out shape = np.broadcast_shapes(a, b);
                        a comparison gives bool. Either a or b may be a
                        Python or NumPy scalar, passed to the kernel as an
                        argument: `x * 0.5` costs no host-to-device copy.
  where(cond, a, b)     cond bool; a, b one dtype (or scalars)
  cast(x, dtype)        between float32, float64, int64 and bool, as
                        torch's .to(dtype): floats truncate toward zero,
                        bool is x != 0
Every function takes `out=` (a device array of the result's shape and
dtype, any nonnegative strides, possibly an input itself: how in-place ops
and writes into views will run) and `launch=(blocks, threads)`.

Operands keep one dtype: type promotion is the caller's (tinylm's) job, by
cast. Allowed dtypes per op are in UNARY / BINARY. Layouts, broadcasting and
the 6-dim limit: see layout.py. One kernel per (family, op, dtype) comes
from a factory whose op name is a constant in the kernel: numba prunes the
other ops' branches before typing, so each variant holds only its op and
no device function (which compile_ptx could not build without a GPU).
Each thread runs grid-stride over the C-order positions of the output."""
import math

import numpy as np
from numba import boolean, cuda, float32, int64

from ..jit import grid
from .layout import (DIMS, FLOATS, NB_TYPES, broadcast_shape, broadcast_strides, check_no_overlap,
                     coalesce, device, dtype_of, elem_strides, operand, ptx_entry, shape_of,
                     size_of, specialised)

F, I, B = FLOATS, (np.dtype(np.int64),), (np.dtype(np.bool_),)
UNARY = {"neg": F + I, "abs": F + I, "relu": F + I, "copy": F + I + B,
         "exp": F, "log": F, "tanh": F, "sigmoid": F, "sqrt": F, "rsqrt": F, "sin": F, "cos": F}
ARITH = {"add": F + I, "sub": F + I, "mul": F + I, "div": F, "pow": F,
         "maximum": F + I, "minimum": F + I}
COMPARE = {op: F + I + B for op in ("eq", "ne", "lt", "le", "gt", "ge")}
BINARY = {**ARITH, **COMPARE}
CAST = F + I + B


def _unary_factory(T, op):
    ZERO, ONE = T(0), T(1)

    def kernel(out, so, x, sx, shape, nd, n):
        for i in range(cuda.grid(1), n, cuda.gridsize(1)):
            r, oo, ox = i, 0, 0
            for d in range(5, 5 - nd, -1):
                q = r // shape[d]
                k = r - q * shape[d]
                r = q
                oo += k * so[d]
                ox += k * sx[d]
            v = x[ox]
            if op == "neg":
                y = -v
            elif op == "abs":
                y = abs(v)
            elif op == "relu":
                y = ZERO if v < ZERO else v  # NaN stays NaN, as torch.relu
            elif op == "copy":
                y = v
            elif op == "exp":
                y = math.exp(v)
            elif op == "log":
                y = math.log(v)
            elif op == "tanh":
                y = math.tanh(v)
            elif op == "sigmoid":  # exp of a nonpositive number only: no overflow
                if v >= ZERO:
                    y = ONE / (ONE + math.exp(-v))
                else:
                    e = math.exp(v)
                    y = e / (ONE + e)
            elif op == "sqrt":
                y = math.sqrt(v)
            elif op == "rsqrt":
                y = ONE / math.sqrt(v)
            elif op == "sin":
                y = math.sin(v)
            else:  # cos
                y = math.cos(v)
            out[oo] = y
    return kernel


def _binary_factory(T, op, a_scalar, b_scalar):
    def kernel(out, so, a, sa, b, sb, shape, nd, n):
        for i in range(cuda.grid(1), n, cuda.gridsize(1)):
            r, oo, oa, ob = i, 0, 0, 0
            for d in range(5, 5 - nd, -1):
                q = r // shape[d]
                k = r - q * shape[d]
                r = q
                oo += k * so[d]
                oa += k * sa[d]
                ob += k * sb[d]
            x = a if a_scalar else a[oa]
            y = b if b_scalar else b[ob]
            if op == "add":
                v = x + y
            elif op == "sub":
                v = x - y
            elif op == "mul":
                v = x * y
            elif op == "div":
                v = x / y
            elif op == "pow":
                v = x ** y
            elif op == "maximum":  # NaN wins, as torch.maximum
                v = x if x > y or x != x else y
            elif op == "minimum":
                v = x if x < y or x != x else y
            elif op == "eq":
                v = x == y
            elif op == "ne":
                v = x != y
            elif op == "lt":
                v = x < y
            elif op == "le":
                v = x <= y
            elif op == "gt":
                v = x > y
            else:  # ge
                v = x >= y
            out[oo] = v
    return kernel


def _where_factory(T, a_scalar, b_scalar):
    def kernel(out, so, c, sc, a, sa, b, sb, shape, nd, n):
        for i in range(cuda.grid(1), n, cuda.gridsize(1)):
            r, oo, oc, oa, ob = i, 0, 0, 0, 0
            for d in range(5, 5 - nd, -1):
                q = r // shape[d]
                k = r - q * shape[d]
                r = q
                oo += k * so[d]
                oc += k * sc[d]
                oa += k * sa[d]
                ob += k * sb[d]
            if c[oc]:
                out[oo] = a if a_scalar else a[oa]
            else:
                out[oo] = b if b_scalar else b[ob]
    return kernel


def _cast_factory(T, U):
    ZERO, TO_BOOL = T(0), U == boolean

    def kernel(out, so, x, sx, shape, nd, n):
        for i in range(cuda.grid(1), n, cuda.gridsize(1)):
            r, oo, ox = i, 0, 0
            for d in range(5, 5 - nd, -1):
                q = r // shape[d]
                k = r - q * shape[d]
                r = q
                oo += k * so[d]
                ox += k * sx[d]
            if TO_BOOL:
                out[oo] = x[ox] != ZERO
            else:
                out[oo] = U(x[ox])
    return kernel


# -- NumPy references -----------------------------------------------------------

def unary_reference(op, x):
    """Floats computed in float64 and rounded once to x's dtype."""
    f = {"neg": np.negative, "abs": np.abs, "relu": lambda v: np.maximum(v, 0), "copy": np.copy,
         "exp": np.exp, "log": np.log, "tanh": np.tanh, "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
         "sqrt": np.sqrt, "rsqrt": lambda v: 1 / np.sqrt(v), "sin": np.sin, "cos": np.cos}[op]
    x = np.asarray(x)
    with np.errstate(all="ignore"):
        return np.asarray(f(x.astype(np.float64) if x.dtype.kind == "f" else x)).astype(x.dtype)


def binary_reference(op, a, b):
    """a and b share a dtype (or one is a scalar); floats as in unary_reference."""
    f = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide,
         "pow": np.power, "maximum": np.maximum, "minimum": np.minimum, "eq": np.equal,
         "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater,
         "ge": np.greater_equal}[op]
    dt = np.result_type(a if isinstance(a, np.ndarray) else b)
    wide = (lambda v: np.asarray(v, np.float64)) if dt.kind == "f" else np.asarray
    with np.errstate(all="ignore"):
        out = f(wide(a), wide(b))
    return out if op in COMPARE else out.astype(dt)


def where_reference(cond, a, b):
    return np.where(cond, a, b)


def cast_reference(x, dtype):
    return np.asarray(x).astype(dtype)


# -- wrappers ----------------------------------------------------------------

def _is_scalar(v):
    return isinstance(v, (bool, int, float, np.generic)) and np.ndim(v) == 0


def _scalar(name, v, dt, what):
    """v as a kernel argument of dtype dt; a float for an int64 array must be integral."""
    if dt.kind in "iub" and isinstance(v, (float, np.floating)) and v != int(v):
        raise TypeError(f"{name}: {what} = {v} does not fit the {dt} array; cast the array first")
    return dt.type(v)


def _out(name, out, shape, dt):
    """The output array: a new contiguous one, or `out` checked."""
    if out is None:
        return cuda.device_array(shape, dt)
    if shape_of(device(name, out, "out")) != shape or np.dtype(out.dtype) != dt:
        raise ValueError(f"{name}: out has shape {shape_of(out)} and dtype {out.dtype}, "
                         f"expected {shape} and {dt}")
    return check_no_overlap(name, out)


def _map(name, kernel, out, arrays, shape, scalars, launch):
    """Launch a strided map: kernel(out, so, [buf, strides | scalar, 0s]..., shape, nd, n)."""
    n = size_of(shape)
    if n == 0:
        return out
    strides = [broadcast_strides(name, out, shape, "out")]
    strides += [(0,) * len(shape) if a is None else broadcast_strides(name, a, shape)
                for a in arrays]
    cshape, cstrides, nd = coalesce(shape, *strides)
    args = [operand(out, strides[0], shape), cstrides[0]]
    for a, s_full, s, v in zip(arrays, strides[1:], cstrides[1:], scalars):
        args += [v, s] if a is None else [operand(a, s_full, shape), s]
    blocks, threads = grid(n, launch)
    kernel[blocks, threads](*args, cshape, nd, n)
    return out


def unary(op, x, out=None, launch=None):
    name = f"unary({op!r})"
    if op not in UNARY:
        raise ValueError(f"unary: unknown op {op!r}; known: {sorted(UNARY)}")
    dt = dtype_of(name, x, "x", UNARY[op])
    elem_strides(name, x)
    shape = shape_of(x)
    out = _out(name, out, shape, dt)
    return _map(name, specialised(_unary_factory, NB_TYPES[dt], op), out, [x], shape, [None], launch)


def _operands(name, values, allowed):
    """(dtype, arrays or None, scalars or None, shapes) of a mix of device
    arrays and scalars that share one dtype."""
    arrays = [None if _is_scalar(v) else device(name, v, w) for w, v in values]
    given = [(w, np.dtype(a.dtype)) for (w, _), a in zip(values, arrays) if a is not None]
    if not given:
        raise TypeError(f"{name}: needs at least one device array, got only scalars")
    if len({dt for _, dt in given}) > 1:
        raise TypeError(f"{name}: operands must share one dtype (cast first), got "
                        + ", ".join(f"{w} {dt}" for w, dt in given))
    dt = given[0][1]
    if dt not in allowed:
        raise TypeError(f"{name}: dtype {dt} is not supported; use "
                        f"{' or '.join(str(a) for a in allowed)}")
    scalars = [None if a is not None else _scalar(name, v, dt, w) for (w, v), a in zip(values, arrays)]
    shapes = [shape_of(a) for a in arrays if a is not None]
    for (w, _), a in zip(values, arrays):
        if a is not None:
            elem_strides(name, a, w)
    return dt, arrays, scalars, shapes


def binary(op, a, b, out=None, launch=None):
    name = f"binary({op!r})"
    if op not in BINARY:
        raise ValueError(f"binary: unknown op {op!r}; known: {sorted(BINARY)}")
    dt, arrays, scalars, shapes = _operands(name, [("a", a), ("b", b)], BINARY[op])
    shape = broadcast_shape(name, *shapes)
    out = _out(name, out, shape, np.dtype(np.bool_) if op in COMPARE else dt)
    kernel = specialised(_binary_factory, NB_TYPES[dt], op, arrays[0] is None, arrays[1] is None)
    return _map(name, kernel, out, arrays, shape, scalars, launch)


def where(cond, a, b, out=None, launch=None):
    name = "where"
    dtype_of(name, cond, "cond", (np.dtype(np.bool_),))
    elem_strides(name, cond, "cond")
    dt, arrays, scalars, shapes = _operands(name, [("a", a), ("b", b)], CAST)
    shape = broadcast_shape(name, shape_of(cond), *shapes)
    out = _out(name, out, shape, dt)
    kernel = specialised(_where_factory, NB_TYPES[dt], arrays[0] is None, arrays[1] is None)
    return _map(name, kernel, out, [cond] + arrays, shape, [None] + scalars, launch)


def cast(x, dtype, out=None, launch=None):
    """x converted to dtype (a new array even when the dtype is x's already)."""
    name = "cast"
    dt, to = dtype_of(name, x, "x", CAST), np.dtype(dtype)
    if to not in CAST:
        raise TypeError(f"{name}: cannot cast to {to}; use {' or '.join(str(a) for a in CAST)}")
    elem_strides(name, x)
    shape = shape_of(x)
    out = _out(name, out, shape, to)
    kernel = specialised(_cast_factory, NB_TYPES[dt], NB_TYPES[to])
    return _map(name, kernel, out, [x], shape, [None], launch)


# -- sm_90 PTX check: every op, float32 (tests/test_kernels_ptx.py) -----------
# sin and cos are left to tests/test_cuda_primitives.py: libdevice's sinf and
# cosf reduce huge arguments (Payne-Hanek) with three float64 instructions,
# which the float64 check of test_kernels_ptx.py would flag.
LIBDEVICE_F64 = ("sin", "cos")
_V, _B = float32[::1], boolean[::1]
_MAP1 = (DIMS, _V, DIMS, DIMS, int64, int64)   # after out: so, x, sx, shape, nd, n
PTX = ([ptx_entry(_unary_factory, op, signature=(_V,) + _MAP1) for op in UNARY
        if op not in LIBDEVICE_F64]
       + [ptx_entry(_binary_factory, op, False, False,
                    signature=(_B if op in COMPARE else _V, DIMS, _V, DIMS, _V, DIMS, DIMS, int64, int64))
          for op in BINARY]
       + [ptx_entry(_binary_factory, "mul", False, True,
                    signature=(_V, DIMS, _V, DIMS, float32, DIMS, DIMS, int64, int64)),
          ptx_entry(_where_factory, False, True,
                    signature=(_V, DIMS, _B, DIMS, _V, DIMS, float32, DIMS, DIMS, int64, int64)),
          ptx_entry(_cast_factory, int64, signature=(int64[::1],) + _MAP1),
          ptx_entry(_cast_factory, boolean, signature=(_B,) + _MAP1)])


def variants():
    """(label, python kernel, signature) of non-float32 variants for the sm_90
    check in tests/test_cuda_primitives.py: one op of each kind whose code
    types differently on int64 or bool, and float64 math. Compiling all of
    them would take a minute; PTX above covers every op in float32."""
    i64, f64, b = (np.dtype(t) for t in (np.int64, np.float64, np.bool_))

    def arr(dt):
        return NB_TYPES[dt][::1]

    def un(op, dt):
        return (f"unary {op} {dt}", _unary_factory(NB_TYPES[dt], op),
                (arr(dt), DIMS, arr(dt), DIMS, DIMS, int64, int64))

    def bi(op, dt):
        o = _B if op in COMPARE else arr(dt)
        return (f"binary {op} {dt}", _binary_factory(NB_TYPES[dt], op, False, False),
                (o, DIMS, arr(dt), DIMS, arr(dt), DIMS, DIMS, int64, int64))

    def wh(dt):
        return (f"where {dt}", _where_factory(NB_TYPES[dt], True, False),
                (arr(dt), DIMS, _B, DIMS, NB_TYPES[dt], DIMS, arr(dt), DIMS, DIMS, int64, int64))

    def ca(dt, to):
        return (f"cast {dt}->{to}", _cast_factory(NB_TYPES[dt], NB_TYPES[to]),
                (arr(to), DIMS, arr(dt), DIMS, DIMS, int64, int64))

    f32 = np.dtype(np.float32)
    return ([un(op, i64) for op in ("neg", "abs", "relu")]
            + [bi(op, i64) for op in ("add", "maximum", "eq")]
            + [un("copy", b), bi("eq", b), wh(b)]
            + [ca(b, f32), ca(b, i64), ca(i64, f32), ca(i64, b)]
            + [un("exp", f64), bi("pow", f64)])
