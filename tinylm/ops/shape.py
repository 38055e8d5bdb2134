"""Movement ops: reshape/view, transpose/permute, squeeze/unsqueeze, expand,
cat/stack/split/chunk, tril/triu.

Each backward moves the gradient back to where the input's elements were:
reshape reshapes it back, permute applies the inverse permutation, expand
sums over the broadcast dims, cat splits it.
"""
import math

import numpy as np

from .. import dtypes
from .._tensor import Tensor, _dim
from ..autograd import Function, sum_to


def _sizes(args):
    """Accept both f(2, 3) and f((2, 3)), as PyTorch does."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    return tuple(int(a) for a in args)


def _infer_shape(shape, numel, name):
    if shape.count(-1) > 1:
        raise RuntimeError(f"{name}: only one dimension can be inferred (-1), got {list(shape)}")
    known = math.prod(s for s in shape if s != -1)  # (np.prod costs ~5 us a call)
    if -1 in shape:
        if known == 0 or numel % known:
            raise RuntimeError(f"{name}: shape {list(shape)} is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise RuntimeError(f"{name}: shape {list(shape)} is invalid for input of size {numel}")
    return shape


class Reshape(Function):
    def forward(self, x, shape, copy_ok=True):
        self.in_shape = x.shape
        if copy_ok:
            return x.reshape(shape)
        try:
            return np.reshape(x, shape, copy=False)
        except ValueError:
            raise RuntimeError(
                f"view size is not compatible with input tensor's size and stride (shape "
                f"{x.shape} -> {list(shape)} needs a copy); use .reshape(...) instead") from None

    def backward(self, g):
        return g.reshape(self.in_shape)


def reshape(x, *shape):
    shape = _infer_shape(_sizes(shape), x.numel(), "reshape")
    return x if shape == x.shape else Reshape.apply(x, shape=shape)


def view(x, *shape):
    shape = _sizes(shape)
    if len(shape) == 1 and not isinstance(shape[0], int):
        raise TypeError("view(dtype) is not supported; use .to(dtype)")
    shape = _infer_shape(shape, x.numel(), "view")
    return Reshape.apply(x, shape=shape, copy_ok=False)


class Permute(Function):
    def forward(self, x, axes):
        self.axes = axes
        return np.transpose(x, axes)

    def backward(self, g):
        return np.transpose(g, np.argsort(self.axes))


def permute(x, *dims):
    axes = _sizes(dims)
    if len(axes) != x.ndim:
        raise RuntimeError(f"permute: number of dims {len(axes)} doesn't match the tensor's {x.ndim}")
    axes = tuple(_dim(a, x.ndim) for a in axes)
    if len(set(axes)) != len(axes):
        raise RuntimeError(f"permute: repeated dim in {dims}")
    return Permute.apply(x, axes=axes)


def transpose(x, dim0, dim1):
    axes = list(range(x.ndim))
    if x.ndim == 0:
        _dim(dim0, 0), _dim(dim1, 0)
        return x
    d0, d1 = _dim(dim0, x.ndim), _dim(dim1, x.ndim)
    axes[d0], axes[d1] = axes[d1], axes[d0]
    return Permute.apply(x, axes=tuple(axes))


def movedim(x, source, destination):
    """Move one dim to a new position, keeping the others in order."""
    src, dst = _dim(source, x.ndim), _dim(destination, x.ndim)
    axes = [a for a in range(x.ndim) if a != src]
    axes.insert(dst, src)
    return Permute.apply(x, axes=tuple(axes))


def t(x):
    """Transpose of a tensor with at most 2 dims (x.T reverses all dims)."""
    if x.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but got {x.ndim}; "
                           "use transpose(dim0, dim1) or permute")
    return x if x.ndim < 2 else transpose(x, 0, 1)


def T(x):
    return permute(x, tuple(range(x.ndim))[::-1])


def unsqueeze(x, dim):
    d = _dim(dim, x.ndim + 1)
    return Reshape.apply(x, shape=x.shape[:d] + (1,) + x.shape[d:])


def squeeze(x, dim=None):
    """Drop size-1 dims (all, or those in `dim`); naming a dim that isn't 1 is a no-op."""
    if dim is None:
        axes = {i for i, n in enumerate(x.shape) if n == 1}
    else:
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)
        axes = {_dim(d, x.ndim) for d in dims if x.shape[_dim(d, x.ndim)] == 1} if x.ndim else set()
    shape = tuple(n for i, n in enumerate(x.shape) if i not in axes)
    return x if shape == x.shape else Reshape.apply(x, shape=shape)


def flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return reshape(x, 1)
    s, e = _dim(start_dim, x.ndim), _dim(end_dim, x.ndim)
    if s > e:
        raise RuntimeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    return reshape(x, x.shape[:s] + (-1 if x.numel() else 0,) + x.shape[e + 1:]) if s != e else x


class Expand(Function):
    def forward(self, x, shape):
        self.in_shape = x.shape
        return np.broadcast_to(x, shape)

    def backward(self, g):
        return sum_to(g, self.in_shape)


def expand(x, *sizes):
    sizes = _sizes(sizes)
    if len(sizes) < x.ndim:
        raise RuntimeError(f"expand: the number of sizes ({len(sizes)}) must be >= the "
                           f"number of dims ({x.ndim})")
    lead = len(sizes) - x.ndim
    shape = []
    for i, s in enumerate(sizes):
        old = x.shape[i - lead] if i >= lead else None
        if s == -1:
            if old is None:
                raise RuntimeError(f"expand: -1 is not allowed for a new leading dim ({sizes})")
            s = old
        elif old is not None and old != 1 and old != s:
            raise RuntimeError(f"expand: the expanded size of the tensor ({s}) must match the "
                               f"existing size ({old}) at non-singleton dimension {i}; "
                               f"target sizes {list(sizes)}, tensor shape {x.shape}")
        shape.append(s)
    return Expand.apply(x, shape=tuple(shape))


def expand_as(x, other):
    return expand(x, other.shape)


def reshape_as(x, other):
    return reshape(x, other.shape)


def view_as(x, other):
    return view(x, other.shape)


class Cat(Function):
    def forward(self, *xs, axis):
        self.axis = axis
        self.bounds = np.cumsum([x.shape[axis] for x in xs])[:-1]
        return np.concatenate(xs, axis=axis)

    def backward(self, g):
        return tuple(np.split(g, self.bounds, axis=self.axis))


def cat(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("cat: expected a non-empty list of tensors")
    if not all(isinstance(t, Tensor) for t in tensors):
        raise TypeError("cat: expected a sequence of Tensors")
    # PyTorch skips legacy empty 1-D tensors of shape (0,)
    kept = [t for t in tensors if not (t.ndim == 1 and t.shape[0] == 0)] or tensors[:1]
    ref = kept[0]
    if ref.ndim == 0:
        raise RuntimeError("cat: zero-dimensional tensor cannot be concatenated")
    axis = _dim(dim, ref.ndim)
    for i, t in enumerate(kept):
        if t.ndim != ref.ndim or any(a != b for j, (a, b) in enumerate(zip(t.shape, ref.shape)) if j != axis):
            raise RuntimeError(f"cat: sizes of tensors must match except in dimension {axis}: "
                               f"tensor 0 has shape {ref.shape}, tensor {i} has shape {t.shape}")
    dtype = kept[0].dtype
    for t in kept[1:]:  # PyTorch's category-first promotion (int64 + float32 -> float32)
        dtype = dtypes.result_type(np.empty(1, dtype), t.data)
    return Cat.apply(*[t if t.dtype == dtype else t.to(dtype) for t in kept], axis=axis)


def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack: expected a non-empty list of tensors")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"{tensors[0].shape} at entry 0 and {t.shape} at entry {i}")
    d = _dim(dim, tensors[0].ndim + 1)
    return cat([unsqueeze(t, d) for t in tensors], d)


def split(x, split_size_or_sections, dim=0):
    axis = _dim(dim, x.ndim)
    n = x.shape[axis]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size <= 0 and n:
            raise RuntimeError(f"split: split_size must be positive, got {size}")
        sizes = [min(size, n - s) for s in range(0, n, size)] if n else [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise RuntimeError(f"split: sizes {sizes} must add up to {n}, the size of "
                               f"dimension {axis}")
    out, start = [], 0
    for s in sizes:
        index = (slice(None),) * axis + (slice(start, start + s),)
        out.append(x[index])
        start += s
    return tuple(out)


def chunk(x, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError(f"chunk: expected chunks > 0, got {chunks}")
    n = x.shape[_dim(dim, x.ndim)]
    return split(x, max(1, -(-n // chunks)), dim)


class Tri(Function):
    def forward(self, x, diagonal, lower):
        rows, cols = x.shape[-2:]
        keep = np.tri(rows, cols, diagonal, dtype=bool, like=x)
        if not lower:
            keep = ~np.tri(rows, cols, diagonal - 1, dtype=bool, like=x)
        self.save_for_backward(keep)
        return np.where(keep, x, np.zeros((), x.dtype))

    def backward(self, g):
        return np.where(self.saved[0], g, np.zeros((), g.dtype))


def tril(x, diagonal=0):
    if x.ndim < 2:
        raise RuntimeError(f"tril: input tensor must have at least 2 dimensions, got shape {x.shape}")
    return Tri.apply(x, diagonal=diagonal, lower=True)


def triu(x, diagonal=0):
    if x.ndim < 2:
        raise RuntimeError(f"triu: input tensor must have at least 2 dimensions, got shape {x.shape}")
    return Tri.apply(x, diagonal=diagonal, lower=False)


def repeat(x, *sizes):
    """Tile x: repeat(2, 1) doubles dim 0, as torch.Tensor.repeat."""
    sizes = _sizes(sizes)
    if len(sizes) < x.ndim:
        raise RuntimeError(f"repeat: number of repeat dims ({len(sizes)}) can't be smaller than "
                           f"the tensor's dims ({x.ndim})")
    x = reshape(x, (1,) * (len(sizes) - x.ndim) + x.shape)
    # tile one dim at a time: (A, n, B) as (A, 1, n * B), broadcast against r,
    # merged to (A, r * n, B); 3-D views at most, whatever the rank (the cuda
    # primitives take up to 6 dims, a one-shot (r, n) interleave needs 2 per dim)
    for d, r in enumerate(sizes):
        if r != 1:
            outer, inner = math.prod(x.shape[:d]), math.prod(x.shape[d:])
            y = expand(reshape(x, (outer, 1, inner)), (outer, r, inner))
            x = reshape(y, x.shape[:d] + (r * x.shape[d],) + x.shape[d + 1:])
    return x



def repeat_interleave(x, repeats, dim):
    """Repeat each slice along `dim` `repeats` times in place: [a, b] -> [a, a, b, b]."""
    d = _dim(dim, x.ndim)
    y = unsqueeze(x, d + 1)
    y = expand(y, y.shape[:d + 1] + (repeats,) + y.shape[d + 2:])
    return reshape(y, x.shape[:d] + (x.shape[d] * repeats,) + x.shape[d + 1:])
