"""The table of ops that drives tests/test_ops.py.

Each Case names an op, a hypothesis strategy that draws its inputs (NumPy
float64 arrays for tensors, other values as they are), the tinylm call, and
an independent NumPy reference. test_ops.py checks every case's forward in
float32 and float64 against the reference, and its gradient with gradcheck.
The functional ops (tl.nn.functional) are in op_table_nn.py.
"""
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from hypothesis import strategies as st

import tinylm as tl
from strategies import SEEDS, broadcastable_pair, dims_for, shapes, values


@dataclass
class Case:
    name: str
    inputs: st.SearchStrategy  # draws (args, kwargs)
    op: Callable               # tinylm: op(*tensors_and_values, **kwargs)
    ref: Callable              # NumPy:  ref(*arrays_and_values, **kwargs)
    grad: bool = True          # gradcheck it (float inputs get requires_grad)
    tags: tuple = field(default_factory=tuple)


def unary(kind="normal", **shape_kw):
    @st.composite
    def draw(d):
        rng = np.random.default_rng(d(SEEDS))
        return [values(rng, d(shapes(**shape_kw)), kind)], {}
    return draw()


def binary(kind_a="normal", kind_b="normal"):
    @st.composite
    def draw(d):
        rng = np.random.default_rng(d(SEEDS))
        sa, sb = d(broadcastable_pair())
        return [values(rng, sa, kind_a), values(rng, sb, kind_b)], {}
    return draw()


def with_scalar(kind="normal", scalar=st.floats(-2, 2).filter(lambda v: abs(v) > 0.1)):
    @st.composite
    def draw(d):
        rng = np.random.default_rng(d(SEEDS))
        return [values(rng, d(shapes()), kind), d(scalar)], {}
    return draw()


def reduction(kind="normal", nonempty=False, allow_tuple=True, min_side=None):
    @st.composite
    def draw(d):
        rng = np.random.default_rng(d(SEEDS))
        lo = min_side if min_side is not None else (1 if nonempty else 0)
        shape = d(shapes(min_side=lo))
        kw = {"dim": d(dims_for(len(shape), allow_tuple=allow_tuple)), "keepdim": d(st.booleans())}
        return [values(rng, shape, kind)], kw
    return draw()


def _axes(dim, ndim):
    if dim is None:
        return tuple(range(ndim))
    return tuple(d % ndim for d in dim) if isinstance(dim, tuple) else (dim % max(ndim, 1),)


def np_reduce(fn):
    def ref(x, dim=None, keepdim=False):
        return fn(x, axis=_axes(dim, x.ndim), keepdims=keepdim)
    return ref


def np_var(x, dim=None, keepdim=False, unbiased=True):
    axes = _axes(dim, x.ndim)
    n = int(np.prod([x.shape[a] for a in axes]))
    with np.errstate(all="ignore"):
        return np.var(x, axis=axes, keepdims=keepdim) * n / (n - unbiased) if n - unbiased > 0 else \
            np.full(np.var(x, axis=axes, keepdims=keepdim).shape, np.nan)


@st.composite
def matmul_inputs(d):
    rng = np.random.default_rng(d(SEEDS))
    m, k, n = d(st.integers(1, 4)), d(st.integers(0, 4)), d(st.integers(1, 4))
    a_nd, b_nd = d(st.integers(1, 3)), d(st.integers(1, 3))
    batch = d(broadcastable_pair(min_side=1, max_side=3))
    tail = lambda shape, n: shape[len(shape) - n:] if n > 0 else ()  # trailing dims broadcast
    a_shape = (k,) if a_nd == 1 else tail(batch[0], a_nd - 2) + (m, k)
    b_shape = (k,) if b_nd == 1 else tail(batch[1], b_nd - 2) + (k, n)
    return [values(rng, a_shape), values(rng, b_shape)], {}


@st.composite
def where_inputs(d):
    rng = np.random.default_rng(d(SEEDS))
    sa, sb = d(broadcastable_pair())
    cond = rng.random(np.broadcast_shapes(sa, sb)) > 0.5
    return [cond, values(rng, sa), values(rng, sb)], {}


@st.composite
def clamp_tensor_inputs(d):
    rng = np.random.default_rng(d(SEEDS))
    sx, sb = d(broadcastable_pair())
    lo = values(rng, sb) - 0.5
    return [values(rng, sx), lo, lo + 1.0], {}


@st.composite
def masked_fill_inputs(d):
    rng = np.random.default_rng(d(SEEDS))
    shape = d(shapes())
    mshape = tuple(1 if d(st.booleans()) else n for n in shape)
    return [values(rng, shape), rng.random(mshape) > 0.5, d(st.floats(-3, 3))], {}


@st.composite
def one_tensor_and(d, extra, kind="normal", **shape_kw):
    """A tensor plus keyword arguments drawn by extra(d, shape)."""
    rng = np.random.default_rng(d(SEEDS))
    shape = d(shapes(**shape_kw))
    return [values(rng, shape, kind)], extra(d, shape)


def _dim_of(d, shape, extra=0):
    n = len(shape) + extra
    return d(st.integers(-n, n - 1))


def _perm(d, shape):
    return {"dims": tuple(d(st.permutations(range(len(shape)))))}


def _reshape_target(d, shape):
    n = int(np.prod(shape))
    options = [(n,), (1, n), (n, 1), (-1,), (1, -1)] + ([(2, n // 2), (-1, 2)] if n % 2 == 0 and n else [])
    return {"shape": d(st.sampled_from(options))}


def _expand_target(d, shape):
    lead = d(st.lists(st.integers(1, 3), max_size=2))
    return {"sizes": tuple(lead) + tuple(d(st.integers(1, 3)) if s == 1 else d(st.sampled_from([s, -1]))
                                        for s in shape)}


def _np_expand(x, sizes):
    lead = len(sizes) - x.ndim
    return np.broadcast_to(x, tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes)))


@st.composite
def cat_inputs(d, stack=False):
    rng = np.random.default_rng(d(SEEDS))
    base = d(shapes(min_dims=0 if stack else 1))
    dim = _dim_of(d, base, extra=1 if stack else 0)
    arrays = []
    for _ in range(d(st.integers(1, 3))):
        shape = list(base)
        if not stack:
            shape[dim] = d(st.integers(0, 3))
        arrays.append(values(rng, tuple(shape)))
    return [arrays], {"dim": dim}


@st.composite
def split_inputs(d):
    rng = np.random.default_rng(d(SEEDS))
    shape = d(shapes(min_dims=1))
    dim = _dim_of(d, shape)
    n = shape[dim]
    if d(st.booleans()) or n == 0:
        size = d(st.integers(1, 4))
    else:
        cuts = sorted(d(st.lists(st.integers(0, n), max_size=3)))
        size = [b - a for a, b in zip([0] + cuts, cuts + [n])]
    return [values(rng, shape)], {"split": size, "dim": dim}


def _np_split(x, split, dim):
    n = x.shape[dim]
    sizes = [min(split, n - s) for s in range(0, n, split)] if isinstance(split, int) else split
    if isinstance(split, int) and n == 0:
        sizes = [0]
    return np.split(x, np.cumsum(sizes)[:-1], axis=dim)


@st.composite
def index_inputs(d):
    """x and an index mixing ints, slices, None, Ellipsis, int arrays (with repeats), bool masks."""
    rng = np.random.default_rng(d(SEEDS))
    shape = d(shapes(min_dims=1, min_side=1))
    x = values(rng, shape)
    key, dim, advanced = [], 0, False
    while dim < len(shape):
        n = shape[dim]
        kind = d(st.sampled_from(["int", "slice", "none", "array", "mask", "stop"]))
        if kind == "stop":
            break
        if kind == "int":
            key.append(d(st.integers(-n, n - 1)))
        elif kind == "slice":
            key.append(slice(d(st.none() | st.integers(-n, n)), d(st.none() | st.integers(-n, n)),
                             d(st.none() | st.integers(1, 3))))
        elif kind == "none":
            key.append(None)
            continue
        elif kind == "array" and not advanced:
            key.append(rng.integers(-n, n, size=d(st.integers(0, 4))))  # repeats likely
            advanced = True
        elif kind == "mask" and not advanced:
            key.append(rng.random(n) > 0.5)
            advanced = True
        else:
            key.append(slice(None))
        dim += 1
    if d(st.booleans()) and dim < len(shape):
        key.append(Ellipsis)
    return [x], {"key": tuple(key)}


def _tensor_key(key):
    return tuple(tl.tensor(k) if isinstance(k, np.ndarray) else k for k in key)


def _tri(d, shape):
    return {"diagonal": d(st.integers(-2, 2))}


def _flatten_dims(d, shape):
    n = max(len(shape), 1)
    a, b = sorted([d(st.integers(0, n - 1)), d(st.integers(0, n - 1))])
    return {"start": a, "end": b}


def _np_flatten(x, start, end):
    if x.ndim == 0:
        return x.reshape(1)
    return x.reshape(x.shape[:start] + (-1 if x.size else 0,) + x.shape[end + 1:]) if start != end else x


CASES = [
    # ---- elementwise math
    Case("exp", unary(), tl.exp, np.exp),
    Case("log", unary("positive"), tl.log, np.log),
    Case("sqrt", unary("positive"), tl.sqrt, np.sqrt),
    Case("abs", unary("nonzero"), tl.abs, np.abs),
    Case("tanh", unary(), tl.tanh, np.tanh),
    Case("sigmoid", unary(), tl.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    Case("relu", unary("nonzero"), tl.relu, lambda x: np.maximum(x, 0)),
    Case("sin", unary(), tl.sin, np.sin),
    Case("cos", unary(), tl.cos, np.cos),
    Case("neg", unary(), lambda x: -x, np.negative),
    Case("clamp", unary(), lambda x: tl.clamp(x, -0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7)),
    Case("clamp_min", unary(), lambda x: x.clamp(min=0.3), lambda x: np.maximum(x, 0.3)),
    Case("clamp_tensor", clamp_tensor_inputs(), lambda x, lo, hi: x.clamp(lo, hi),
         lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi)),
    Case("add", binary(), lambda a, b: a + b, np.add),
    Case("sub", binary(), lambda a, b: a - b, np.subtract),
    Case("mul", binary(), lambda a, b: a * b, np.multiply),
    Case("div", binary("normal", "nonzero"), lambda a, b: a / b, np.divide),
    Case("pow", binary("positive", "normal"), lambda a, b: a ** b, np.power),
    Case("maximum", binary(), tl.maximum, np.maximum),
    Case("minimum", binary(), tl.minimum, np.minimum),
    Case("radd_scalar", with_scalar(), lambda x, s: s + x, lambda x, s: s + x),
    Case("rsub_scalar", with_scalar(), lambda x, s: s - x, lambda x, s: s - x),
    Case("rdiv_scalar", with_scalar("nonzero"), lambda x, s: s / x, lambda x, s: s / x),
    Case("pow_scalar", with_scalar("positive"), lambda x, s: x ** s, lambda x, s: x ** s),
    Case("rpow_scalar", with_scalar(scalar=st.floats(0.2, 3)), lambda x, s: s ** x, lambda x, s: s ** x),
    Case("where", where_inputs(), tl.where, np.where),
    Case("masked_fill", masked_fill_inputs(), lambda x, m, v: x.masked_fill(tl.tensor(m), v),
         lambda x, m, v: np.where(m, v, x)),
    Case("matmul", matmul_inputs(), lambda a, b: a @ b, np.matmul),
    # ---- reductions
    Case("sum", reduction(), lambda x, **k: x.sum(**k), np_reduce(np.sum)),
    Case("mean", reduction(nonempty=True), lambda x, **k: x.mean(**k), np_reduce(np.mean)),
    Case("var", reduction(min_side=2), lambda x, **k: x.var(**k), np_var),
    Case("var_biased", reduction(nonempty=True), lambda x, **k: x.var(unbiased=False, **k),
         lambda x, **k: np_var(x, unbiased=False, **k)),
    Case("std", reduction(min_side=2), lambda x, **k: x.std(**k), lambda x, **k: np.sqrt(np_var(x, **k))),
    Case("amax", reduction(nonempty=True), lambda x, **k: x.amax(**k), np_reduce(np.max)),
    Case("amin", reduction(nonempty=True), lambda x, **k: x.amin(**k), np_reduce(np.min)),
    Case("logsumexp", reduction(nonempty=True),
         lambda x, **k: x.logsumexp(**k), lambda x, dim, keepdim: np.log(np_reduce(np.sum)(np.exp(x), dim, keepdim))),
    Case("max_all", unary(min_side=1), lambda x: x.max(), np.max),
    Case("min_all", unary(min_side=1), lambda x: x.min(), np.min),
    Case("max_dim", reduction(nonempty=True, allow_tuple=False).filter(lambda a: a[1]["dim"] is not None),
         lambda x, dim, keepdim: x.max(dim, keepdim).values, np_reduce(np.max)),
    Case("min_dim", reduction(nonempty=True, allow_tuple=False).filter(lambda a: a[1]["dim"] is not None),
         lambda x, dim, keepdim: x.min(dim, keepdim=keepdim)[0], np_reduce(np.min)),
    Case("argmax", reduction(nonempty=True, allow_tuple=False), lambda x, **k: x.argmax(**k),
         lambda x, dim, keepdim: np.argmax(x, axis=dim, keepdims=keepdim) if dim is not None
         else np.full((1,) * x.ndim if keepdim else (), np.argmax(x)), grad=False),
    Case("argmin", reduction(nonempty=True, allow_tuple=False), lambda x, **k: x.argmin(**k),
         lambda x, dim, keepdim: np.argmin(x, axis=dim, keepdims=keepdim) if dim is not None
         else np.full((1,) * x.ndim if keepdim else (), np.argmin(x)), grad=False),
    # ---- movement
    Case("reshape", one_tensor_and(_reshape_target), lambda x, shape: x.reshape(shape),
         lambda x, shape: x.reshape(shape)),
    Case("view", one_tensor_and(_reshape_target), lambda x, shape: x.view(*shape),
         lambda x, shape: x.reshape(shape)),
    Case("transpose", one_tensor_and(lambda d, s: {"a": _dim_of(d, s), "b": _dim_of(d, s)}, min_dims=1),
         lambda x, a, b: x.transpose(a, b), lambda x, a, b: np.swapaxes(x, a, b)),
    Case("permute", one_tensor_and(_perm), lambda x, dims: x.permute(*dims), lambda x, dims: np.transpose(x, dims)),
    Case("T", unary(max_dims=2), lambda x: x.T, lambda x: x.T),
    Case("movedim", one_tensor_and(lambda d, s: {"a": _dim_of(d, s), "b": _dim_of(d, s)}, min_dims=1),
         lambda x, a, b: x.movedim(a, b), lambda x, a, b: np.moveaxis(x, a, b)),
    Case("unsqueeze", one_tensor_and(lambda d, s: {"dim": _dim_of(d, s, extra=1)}),
         lambda x, dim: x.unsqueeze(dim), lambda x, dim: np.expand_dims(x, dim)),
    Case("squeeze_all", unary(), lambda x: x.squeeze(), np.squeeze),
    Case("squeeze_dim", one_tensor_and(lambda d, s: {"dim": _dim_of(d, s)}, min_dims=1),
         lambda x, dim: x.squeeze(dim), lambda x, dim: np.squeeze(x, dim) if x.shape[dim] == 1 else x),
    Case("flatten", one_tensor_and(_flatten_dims), lambda x, start, end: x.flatten(start, end), _np_flatten),
    Case("expand", one_tensor_and(_expand_target, max_side=3), lambda x, sizes: x.expand(*sizes), _np_expand),
    Case("repeat", one_tensor_and(lambda d, s: {"reps": tuple(d(st.lists(st.integers(1, 3), min_size=len(s),
                                                                                max_size=len(s) + 1)))}),
         lambda x, reps: x.repeat(*reps) if reps else x.repeat(()), lambda x, reps: np.tile(x, reps) if reps else x),
    Case("cat", cat_inputs(), lambda xs, dim: tl.cat(xs, dim), lambda xs, dim: np.concatenate(xs, dim)),
    Case("stack", cat_inputs(stack=True), lambda xs, dim: tl.stack(xs, dim), lambda xs, dim: np.stack(xs, dim)),
    Case("split", split_inputs(), lambda x, split, dim: x.split(split, dim), _np_split),
    Case("chunk", one_tensor_and(lambda d, s: {"n": d(st.integers(1, 4)), "dim": _dim_of(d, s)}, min_dims=1),
         lambda x, n, dim: x.chunk(n, dim),
         lambda x, n, dim: _np_split(x, max(1, -(-x.shape[dim] // n)), dim)),
    Case("tril", one_tensor_and(_tri, min_dims=2), lambda x, diagonal: tl.tril(x, diagonal),
         lambda x, diagonal: np.tril(x, diagonal)),
    Case("triu", one_tensor_and(_tri, min_dims=2), lambda x, diagonal: x.triu(diagonal),
         lambda x, diagonal: np.triu(x, diagonal)),
    Case("contiguous", unary(min_dims=2), lambda x: x.T.contiguous(), lambda x: np.ascontiguousarray(x.T)),
    Case("clone", unary(), lambda x: x.clone() * 1, lambda x: x.copy()),
    Case("getitem", index_inputs(), lambda x, key: x[_tensor_key(key)], lambda x, key: x[key]),
]
