"""How the CUDA array primitives see memory: every operand as a flat buffer
plus per-dimension strides, so one kernel serves contiguous arrays,
transposes, slices and broadcasts alike (elementwise.py, reduce.py,
movement.py). No kernels here.

An operand of a kernel is (buf, strides):
  buf      a 1-D C-contiguous device array that starts at the operand's
           element 0 and spans every element it reaches;
  strides  a tuple of MAX_DIMS int64 strides in elements, padded in front
           with zeros, 0 along a broadcast dim.
Shapes are tuples of MAX_DIMS sizes padded in front with 1s, and `nd` says
how many trailing dims are real. Tuples travel as kernel arguments (by
value), so describing a layout costs no host-to-device copy, where small
int64 stride arrays would cost one per launch.

A kernel turns the C-order position i of an element of the (broadcast)
output shape into operand offsets, innermost dim first:
    for d in range(MAX_DIMS - 1, MAX_DIMS - 1 - nd, -1):
        q = i // shape[d]; k = i - q * shape[d]; i = q
        off_a += k * sa[d]; ...
`coalesce` drops size-1 dims and merges neighbours that every operand
walks contiguously, so a contiguous or simply broadcast operation runs with
nd = 1 or 2 (one or two integer divisions per element).

Limits: at most MAX_DIMS = 6 dims (PyTorch-style models need 4-5), and no
negative strides: numba's device arrays cannot describe them reliably
(their extent starts at element 0) and tinylm, like PyTorch, has no
negative-step views. Both raise ValueError at the wrapper."""
import functools
import operator

import numpy as np
from numba import boolean, config, float32, float64, int64, types

from ..jit import cuda_kernel

MAX_DIMS = 6
NB_TYPES = {np.dtype(np.float32): float32, np.dtype(np.float64): float64,
            np.dtype(np.int64): int64, np.dtype(np.bool_): boolean}
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
DIMS = types.UniTuple(int64, MAX_DIMS)   # the numba type of a shape or strides tuple


@functools.lru_cache(maxsize=None)
def specialised(factory, *key):
    """The CUDA kernel factory(*key), built once and compiled on first launch.
    key holds numba types and op names: constants inside the kernel, so
    numba prunes the branches of the other ops before typing them."""
    return cuda_kernel(factory(*key))


def ptx_entry(factory, *key, signature):
    """(build, signature) for tests/test_kernels_ptx.py, which compiles
    build(float32): the float32 variant of factory(T, *key)."""
    def build(T):
        return factory(T, *key)
    build.__name__ = f"{factory.__name__}{key}"
    return build, signature


# -- checks ----------------------------------------------------------------

def device(name, x, what="x"):
    """x if it is a numba device array (real or simulated), else TypeError."""
    if not hasattr(x, "copy_to_host"):
        raise TypeError(f"{name}: {what} must be a CUDA device array "
                        f"(kernels.cuda.transfers.to_device), got {type(x).__name__}")
    return x


def dtype_of(name, x, what, allowed):
    dt = np.dtype(device(name, x, what).dtype)
    if dt not in allowed:
        raise TypeError(f"{name}: {what} must be {' or '.join(str(a) for a in allowed)}, got {dt}")
    return dt


def shape_of(x):
    return tuple(int(s) for s in x.shape)  # the simulator's shape refuses negative indices


def elem_strides(name, x, what="x"):
    """x's strides in elements, checked: nonnegative, at most MAX_DIMS dims."""
    shape, itemsize = shape_of(x), np.dtype(x.dtype).itemsize
    if len(shape) > MAX_DIMS:
        raise ValueError(f"{name}: {what} has {len(shape)} dims {shape}; the CUDA primitives "
                         f"handle at most {MAX_DIMS}")
    strides = tuple(int(s) // itemsize for s in x.strides)
    if any(s < 0 for n, s in zip(shape, strides) if n > 1):
        raise ValueError(f"{name}: {what} has negative strides {tuple(x.strides)}; negative-step "
                         f"views are not supported on the cuda device (copy on the host first)")
    return tuple(0 if n == 1 else s for n, s in zip(shape, strides))


def check_no_overlap(name, x, what="out"):
    """An output must not reach one element twice (a broadcast view would
    make threads race on it)."""
    shape, strides = shape_of(x), elem_strides(name, x, what)
    if not all(shape):  # empty: nothing is written (NumPy reports 0 strides for it)
        return x
    dims = sorted((s, n) for n, s in zip(shape, strides) if n > 1)
    reach = 1
    for s, n in dims:
        if s < reach:
            raise ValueError(f"{name}: {what} is a view that reaches some elements twice "
                             f"(shape {shape}, strides {tuple(x.strides)}); write into a copy")
        reach = s * n
    return x


def axis_index(name, axis, ndim):
    axis = operator.index(axis)
    if not -max(ndim, 1) <= axis < max(ndim, 1):
        raise ValueError(f"{name}: axis {axis} is out of range for {ndim} dims")
    return axis % max(ndim, 1)


def broadcast_shape(name, *shapes):
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(f"{name}: shapes {' and '.join(str(s) for s in shapes)} "
                         f"do not broadcast") from None


# -- views over device memory ----------------------------------------------

def _span(shape, strides):
    """Elements from element 0 to the last one reached, inclusive."""
    return 1 + sum((n - 1) * s for n, s in zip(shape, strides)) if all(shape) else 0


def _raw_view(x, offset, shape, strides):
    """A device array over x's memory: element 0 at x's element `offset`,
    the given shape and element strides (all checked by the caller)."""
    itemsize = np.dtype(x.dtype).itemsize
    bstrides = tuple(s * itemsize for s in strides)
    if config.ENABLE_CUDASIM:
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray
        base = x._ary.reshape(-1) if x._ary.ndim == 0 else x._ary
        start = np.lib.stride_tricks.as_strided(base, (1,), (itemsize,))  # element 0 of x
        flat = np.lib.stride_tricks.as_strided(start, (offset + _span(shape, strides),), (itemsize,))
        return FakeCUDAArray(np.lib.stride_tricks.as_strided(flat[offset:], shape, bstrides))
    from numba.cuda.cudadrv.devicearray import DeviceNDArray
    if not _span(shape, strides):
        return DeviceNDArray(shape, bstrides, x.dtype)  # an empty array needs no memory
    start = offset * itemsize
    data = x.gpu_data.view(start, start + _span(shape, strides) * itemsize)
    return DeviceNDArray(shape, bstrides, x.dtype, gpu_data=data)


def strided_view(x, shape, strides, offset=0, name="strided_view"):
    """A view of device array x with the given shape, element strides and
    element offset (torch.as_strided), sharing x's memory: how permute,
    expand, unsqueeze and slices become device views without a copy. The
    view must stay inside the elements x reaches."""
    device(name, x)
    shape, strides = tuple(map(int, shape)), tuple(map(int, strides))
    if len(shape) != len(strides) or min(shape + strides + (offset,), default=0) < 0:
        raise ValueError(f"{name}: need one nonnegative stride per dim and a nonnegative "
                         f"offset, got shape {shape}, strides {strides}, offset {offset}")
    reach = _span(shape_of(x), elem_strides(name, x))
    if _span(shape, strides) and offset + _span(shape, strides) > reach:
        raise ValueError(f"{name}: shape {shape}, strides {strides}, offset {offset} reach past "
                         f"the {reach} elements of x")
    return _raw_view(x, offset, shape, strides)


def permute(x, dims, name="permute"):
    """x's dims reordered (torch.permute), a view."""
    shape, strides = shape_of(x), elem_strides(name, device(name, x))
    dims = tuple(axis_index(name, d, len(shape)) for d in dims)
    if sorted(dims) != list(range(len(shape))):
        raise ValueError(f"{name}: dims {dims} are not a permutation of {len(shape)} dims")
    return _raw_view(x, 0, tuple(shape[d] for d in dims), tuple(strides[d] for d in dims))


def expand(x, shape, name="expand"):
    """x broadcast to `shape` (torch.expand / np.broadcast_to), a view with
    stride 0 along broadcast dims; read-only in spirit."""
    shape = tuple(map(int, shape))
    if broadcast_shape(name, shape_of(device(name, x)), shape) != shape:
        raise ValueError(f"{name}: cannot expand shape {shape_of(x)} to {shape}")
    return _raw_view(x, 0, shape, broadcast_strides(name, x, shape))


def broadcast_strides(name, x, shape, what="x"):
    """x's element strides against the broadcast shape `shape` (0 where x is
    broadcast)."""
    own = elem_strides(name, x, what)  # already 0 along x's size-1 dims
    return (0,) * (len(shape) - len(own)) + own


def operand(x, strides, shape):
    """The flat buffer of x from its element 0 over everything it reaches."""
    return _raw_view(x, 0, (_span(shape, strides),), (1,)) if all(shape) else x


# -- kernel arguments --------------------------------------------------------

def coalesce(shape, *strides):
    """(shape, [strides per operand], nd), padded to MAX_DIMS: size-1 dims
    dropped, and a dim merged into the inner one next to it when every
    operand steps over it as one run (stride == inner stride * inner size)."""
    dims = [(n, [s[d] for s in strides]) for d, n in enumerate(shape) if n != 1]
    merged = []
    for n, ss in reversed(dims):  # innermost first
        if merged and all(s == t * merged[-1][0] for s, t in zip(ss, merged[-1][1])):
            merged[-1] = (n * merged[-1][0], merged[-1][1])
        else:
            merged.append((n, ss))
    merged.reverse()
    nd = len(merged)
    pad = MAX_DIMS - nd
    out_shape = (1,) * pad + tuple(n for n, _ in merged)
    out_strides = [(0,) * pad + tuple(ss[k] for _, ss in merged) for k in range(len(strides))]
    return out_shape, out_strides, nd


def size_of(shape):
    n = 1
    for s in shape:
        n *= s
    return n
