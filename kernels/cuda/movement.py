"""CUDA data movement over operands of any (nonnegative) strides: copies,
gathers and their scatter-add gradients, concatenation, fill and arange.
Each wrapper sits beside its NumPy reference (`*_reference`).

  contiguous(x)                    x itself if C-contiguous, else a copy
  copy_into(dst, src)              dst[...] = src, src broadcast to dst's
                                   shape; dst any view that reaches no
                                   element twice (setitem on a slice)
  take(x, idx, axis)               np.take / torch.index_select and
                                   embedding lookup: out shape
                                   x.shape[:axis] + idx.shape + x.shape[axis+1:]
  gather(x, axis, idx)             torch.gather (np.take_along_axis on the
                                   leading part of x): out shape idx.shape
  index_add_(dst, axis, idx, src)  the gradient of take: dst[.., idx[j], ..]
                                   += src[.., j, ..] (torch.index_add_ with
                                   idx of any shape)
  scatter_add_(dst, axis, idx, src)  the gradient of gather (torch.scatter_add_)
  cat(arrays, axis)                torch.cat
  fill_(x, value), full(shape, value, dtype), zeros(shape, dtype)
  arange(start, stop, step, dtype) torch.arange

Indices are int64 device arrays of any shape and strides; a negative index
counts from the end (as numpy and tinylm's indexing do). An index out of
range gives 0 (gathers) or is skipped (scatters), and is recorded in the
device-side error register (errors.py) as the keyword `check` says: True
reads the register back and raises IndexError now (one device-to-host
copy, counted by transfers.py), "defer" leaves it for
errors.raise_if_set(), False records nothing; None (the default) follows
errors.set_default_check, True unless changed.

The scatter-adds accumulate with cuda.atomic.add (float32, and float64 on
sm_60 and later): repeated indices add up, in an order that varies from
run to run, so float results may differ by rounding between runs."""
import math
import operator

import numpy as np
from numba import cuda, float32, int64

from ..jit import grid
from . import errors
from .elementwise import CAST, unary
from .errors import CODE, EXTRA, LIMIT, VALUE
from .layout import (DIMS, FLOATS, NB_TYPES, MAX_DIMS, axis_index, broadcast_strides,
                     check_no_overlap, coalesce, device, dtype_of, elem_strides, expand, operand,
                     ptx_entry, shape_of, size_of, specialised, strided_view)

INT64 = (np.dtype(np.int64),)


def _gather_factory(T):
    ZERO = T(0)

    def kernel(out, so, x, sx, idx, si, shape, nd, n, sax, A, reg, code):
        # out[pos] = x[(pos's x offset) + idx[pos's idx offset] * sax]
        for i in range(cuda.grid(1), n, cuda.gridsize(1)):
            r, oo, ox, oi = i, 0, 0, 0
            for d in range(5, 5 - nd, -1):
                q = r // shape[d]
                k = r - q * shape[d]
                r = q
                oo += k * so[d]
                ox += k * sx[d]
                oi += k * si[d]
            v = idx[oi]
            if v < 0:
                v += A
            if v < 0 or v >= A:
                out[oo] = ZERO
                if code != 0 and cuda.atomic.cas(reg, CODE, 0, code) == 0:  # the first error
                    reg[VALUE], reg[LIMIT], reg[EXTRA] = idx[oi], A, 0
            else:
                out[oo] = x[ox + v * sax]
    return kernel


def _scatter_add_factory(T):
    def kernel(dst, sd, src, ss, idx, si, shape, nd, n, sda, A, reg, code):
        # dst[(pos's dst offset) + idx[pos's idx offset] * sda] += src[pos's src offset]
        for i in range(cuda.grid(1), n, cuda.gridsize(1)):
            r, od, os, oi = i, 0, 0, 0
            for d in range(5, 5 - nd, -1):
                q = r // shape[d]
                k = r - q * shape[d]
                r = q
                od += k * sd[d]
                os += k * ss[d]
                oi += k * si[d]
            v = idx[oi]
            if v < 0:
                v += A
            if v < 0 or v >= A:
                if code != 0 and cuda.atomic.cas(reg, CODE, 0, code) == 0:
                    reg[VALUE], reg[LIMIT], reg[EXTRA] = idx[oi], A, 0
            else:
                cuda.atomic.add(dst, od + v * sda, src[os])
    return kernel


def _fill_factory(T):
    def kernel(out, so, shape, nd, n, value):
        for i in range(cuda.grid(1), n, cuda.gridsize(1)):
            r, oo = i, 0
            for d in range(5, 5 - nd, -1):
                q = r // shape[d]
                oo += (r - q * shape[d]) * so[d]
                r = q
            out[oo] = value
    return kernel


def _arange_factory(T):
    def kernel(out, start, step, n):
        for i in range(cuda.grid(1), n, cuda.gridsize(1)):
            out[i] = start + T(i) * step
    return kernel


# -- copies --------------------------------------------------------------------

def contiguous(x, launch=None):
    if device("contiguous", x).is_c_contiguous():
        return x
    return unary("copy", x, launch=launch)


def contiguous_reference(x):
    return np.asarray(x, order="C")  # 0-d stays 0-d


def copy_into(dst, src, launch=None):
    """Writes src (broadcast to dst's shape) into dst, which may be any view."""
    name = "copy_into"
    if np.dtype(device(name, dst, "dst").dtype) != np.dtype(device(name, src, "src").dtype):
        raise TypeError(f"{name}: dst is {dst.dtype} and src {src.dtype}; cast src first")
    return unary("copy", expand(src, shape_of(dst), name=name), out=dst, launch=launch)


def copy_into_reference(dst, src):
    dst = dst.copy()
    dst[...] = src
    return dst


def cat(arrays, axis=0, launch=None):
    name = "cat"
    arrays = list(arrays)
    if not arrays:
        raise ValueError(f"{name}: needs at least one array")
    dt = dtype_of(name, arrays[0], "arrays[0]", CAST)
    first = shape_of(arrays[0])
    axis = axis_index(name, axis, len(first))
    if not first:
        raise ValueError(f"{name}: cannot concatenate 0-d arrays")
    for k, a in enumerate(arrays):
        s = shape_of(device(name, a, f"arrays[{k}]"))
        if np.dtype(a.dtype) != dt:
            raise TypeError(f"{name}: arrays[{k}] is {a.dtype}, arrays[0] is {dt}; cast first")
        if len(s) != len(first) or s[:axis] + s[axis + 1:] != first[:axis] + first[axis + 1:]:
            raise ValueError(f"{name}: arrays[{k}] has shape {s}, arrays[0] {first}: they must "
                             f"match except along axis {axis}")
    shape = first[:axis] + (sum(shape_of(a)[axis] for a in arrays),) + first[axis + 1:]
    out = cuda.device_array(shape, dt)
    strides = tuple(size_of(shape[d + 1:]) for d in range(len(shape)))  # C order, 1-dims too
    at = 0
    for a in arrays:
        s = shape_of(a)
        if size_of(s):
            part = strided_view(out, s, strides, at * strides[axis], name=name)
            unary("copy", a, out=part, launch=launch)
        at += s[axis]
    return out


def cat_reference(arrays, axis=0):
    return np.concatenate(arrays, axis)


# -- gathers and scatter-adds ----------------------------------------------------

def _index_space(name, x, idx, axis, take_like):
    """(shape, x strides, idx strides, axis stride, A) of the positions a
    gather visits. take: x's dims around axis with idx's dims in its place;
    gather: idx's dims, the axis stride of x zeroed."""
    xs, ist = elem_strides(name, x), elem_strides(name, idx, "idx")
    xshape, ishape = shape_of(x), shape_of(idx)
    if take_like:
        shape = xshape[:axis] + ishape + xshape[axis + 1:]
        if len(shape) > MAX_DIMS:
            raise ValueError(f"{name}: the result would have {len(shape)} dims {shape}; the "
                             f"CUDA primitives handle at most {MAX_DIMS}")
        sx = xs[:axis] + (0,) * len(ishape) + xs[axis + 1:]
        si = (0,) * axis + ist + (0,) * (len(xshape) - axis - 1)
    else:
        if len(ishape) != len(xshape) or any(i > n for d, (i, n) in enumerate(zip(ishape, xshape))
                                             if d != axis):
            raise ValueError(f"{name}: idx has shape {ishape}; it needs x's {len(xshape)} dims "
                             f"and no dim longer than x's {xshape} except along axis {axis}")
        shape, si = ishape, ist
        sx = xs[:axis] + (0,) + xs[axis + 1:]
    return shape, sx, si, xs[axis] if xshape[axis] > 1 else 0, xshape[axis]


def _whole(x):
    """The flat buffer over every element x reaches."""
    shape = shape_of(x)
    return operand(x, broadcast_strides("", x, shape), shape)


def _launch_indexed(name, factory, a, sa, b, sb, idx, si, shape, s_axis, A, check, launch):
    """One gather (a = out, b = x) or scatter-add (a = dst, b = src) launch
    over the positions `shape`; a bad index is recorded (or raised) as `check` says."""
    mode = errors.resolve(check)
    n = size_of(shape)
    if n == 0:
        return
    cshape, (csa, csb, csi), nd = coalesce(shape, sa, sb, si)
    blocks, threads = grid(n, launch)
    specialised(factory, NB_TYPES[np.dtype(a.dtype)])[blocks, threads](
        _whole(a), csa, _whole(b), csb, _whole(idx), csi, cshape, nd, n, s_axis, A,
        errors.register(), errors.code_for(name, mode))
    errors.check_now(mode)


def take(x, idx, axis=0, *, check=None, launch=None):
    name = "take"
    dt = dtype_of(name, x, "x", CAST)
    dtype_of(name, idx, "idx", INT64)
    if not shape_of(x):
        raise ValueError(f"{name}: x must have at least 1 dim")
    axis = axis_index(name, axis, len(shape_of(x)))
    shape, sx, si, sax, A = _index_space(name, x, idx, axis, True)
    out = cuda.device_array(shape, dt)
    so = broadcast_strides(name, out, shape)
    _launch_indexed(name, _gather_factory, out, so, x, sx, idx, si, shape, sax, A, check, launch)
    return out


def take_reference(x, idx, axis=0):
    return np.take(x, idx, axis)


def gather(x, axis, idx, *, check=None, launch=None):
    name = "gather"
    dt = dtype_of(name, x, "x", CAST)
    dtype_of(name, idx, "idx", INT64)
    if not shape_of(x):
        raise ValueError(f"{name}: x must have at least 1 dim")
    axis = axis_index(name, axis, len(shape_of(x)))
    shape, sx, si, sax, A = _index_space(name, x, idx, axis, False)
    out = cuda.device_array(shape, dt)
    so = broadcast_strides(name, out, shape)
    _launch_indexed(name, _gather_factory, out, so, x, sx, idx, si, shape, sax, A, check, launch)
    return out


def gather_reference(x, axis, idx):
    crop = tuple(slice(None) if d == axis else slice(0, n) for d, n in enumerate(idx.shape))
    return np.take_along_axis(x[crop], idx, axis)


def _scatter(name, dst, axis, idx, src, take_like, check, launch):
    dt = dtype_of(name, dst, "dst", FLOATS)
    dtype_of(name, idx, "idx", INT64)
    if np.dtype(dtype_of(name, src, "src", FLOATS)) != dt:
        raise TypeError(f"{name}: src is {src.dtype} and dst {dt}; cast src first")
    if not shape_of(dst):
        raise ValueError(f"{name}: dst must have at least 1 dim")
    check_no_overlap(name, dst, "dst")
    axis = axis_index(name, axis, len(shape_of(dst)))
    shape, sd, si, sda, A = _index_space(name, dst, idx, axis, take_like)
    if shape_of(src) != shape:
        raise ValueError(f"{name}: src has shape {shape_of(src)}, expected {shape}")
    ss = elem_strides(name, src, "src")
    _launch_indexed(name, _scatter_add_factory, dst, sd, src, ss, idx, si, shape, sda, A,
                    check, launch)
    return dst


def index_add_(dst, axis, idx, src, *, check=None, launch=None):
    """dst[.., idx[j], ..] += src[.., j, ..] in place; returns dst."""
    return _scatter("index_add_", dst, axis, idx, src, True, check, launch)


def index_add_reference(dst, axis, idx, src):
    dst = dst.copy()
    np.add.at(dst, (slice(None),) * axis + (idx,), src)
    return dst


def scatter_add_(dst, axis, idx, src, *, check=None, launch=None):
    """dst[i0, .., idx[i], .., ik] += src[i] in place (torch.scatter_add_); returns dst."""
    return _scatter("scatter_add_", dst, axis, idx, src, False, check, launch)


def scatter_add_reference(dst, axis, idx, src):
    dst = dst.copy()
    grid_ = list(np.indices(idx.shape, sparse=True))
    grid_[axis] = idx
    np.add.at(dst, tuple(grid_), src)
    return dst


# -- fill and arange ---------------------------------------------------------------

def fill_(x, value, launch=None):
    """Every element of x (any view) set to value, in place; returns x."""
    name = "fill_"
    dt = dtype_of(name, x, "x", CAST)
    shape, strides = shape_of(x), elem_strides(name, x)
    n = size_of(shape)
    if n:
        cshape, (cs,), nd = coalesce(shape, strides)
        blocks, threads = grid(n, launch)
        specialised(_fill_factory, NB_TYPES[dt])[blocks, threads](
            operand(x, strides, shape), cs, cshape, nd, n, dt.type(value))
    return x


def full(shape, value, dtype, launch=None):
    shape = (operator.index(shape),) if np.ndim(shape) == 0 else tuple(map(operator.index, shape))
    if min(shape, default=0) < 0:
        raise ValueError(f"full: negative size in shape {shape}")
    return fill_(cuda.device_array(shape, np.dtype(dtype)), value, launch=launch)


def zeros(shape, dtype, launch=None):
    return full(shape, 0, dtype, launch=launch)


def full_reference(shape, value, dtype):
    return np.full(shape, value, dtype)


def arange(start, stop=None, step=1, dtype=None, launch=None):
    """torch.arange: int64 when start, stop and step are all ints, else float32."""
    name = "arange"
    if stop is None:
        start, stop = 0, start
    ints = all(isinstance(v, (int, np.integer)) for v in (start, stop, step))
    dt = np.dtype(dtype) if dtype is not None else np.dtype(np.int64 if ints else np.float32)
    if dt not in FLOATS + INT64:
        raise TypeError(f"{name}: dtype must be float32, float64 or int64, got {dt}")
    if step == 0:
        raise ValueError(f"{name}: step must be nonzero")
    if not all(math.isfinite(v) for v in (start, stop, step)):
        raise ValueError(f"{name}: start, stop and step must be finite")
    n = max(0, math.ceil((stop - start) / step)) if not ints else \
        max(0, -((start - stop) // step))
    out = cuda.device_array(n, dt)
    if n:
        blocks, threads = grid(n, launch)
        specialised(_arange_factory, NB_TYPES[dt])[blocks, threads](out, dt.type(start),
                                                                    dt.type(step), n)
    return out


def arange_reference(start, stop=None, step=1, dtype=None):
    if stop is None:
        start, stop = 0, start
    ints = all(isinstance(v, (int, np.integer)) for v in (start, stop, step))
    return np.arange(start, stop, step, dtype=dtype or (np.int64 if ints else np.float32))


_V, _I = float32[::1], int64[::1]
_IDX = (DIMS, _V, DIMS, _I, DIMS, DIMS, int64, int64, int64, int64, _I, int64)  # after a
PTX = [ptx_entry(_gather_factory, signature=(_V,) + _IDX),
       ptx_entry(_scatter_add_factory, signature=(_V,) + _IDX),
       ptx_entry(_fill_factory, signature=(_V, DIMS, DIMS, int64, int64, float32)),
       ptx_entry(_arange_factory, signature=(_V, float32, float32, int64))]


def variants():
    """(label, python kernel, signature) for tests/test_cuda_primitives.py:
    float64 atomics, int64 arange, bool gather and fill (the other variants
    type as these or the float32 ones do)."""
    f64, i64, b = NB_TYPES[np.dtype(np.float64)], int64, NB_TYPES[np.dtype(np.bool_)]

    def idx(T):
        return (T[::1], DIMS, T[::1], DIMS, _I, DIMS, DIMS, int64, int64, int64, int64, _I, int64)
    return [("scatter_add float64", _scatter_add_factory(f64), idx(f64)),
            ("gather bool", _gather_factory(b), idx(b)),
            ("fill bool", _fill_factory(b), (b[::1], DIMS, DIMS, int64, int64, b)),
            ("arange int64", _arange_factory(i64), (i64[::1], i64, i64, int64))]
