"""CudaArray: what a cuda tensor's `.data` holds. A NumPy-like array whose
memory is a numba-cuda device array (`.dev`), so that tinylm's ops, written
against NumPy, run unchanged on the GPU.

How: NumPy's dispatch protocols. `np.exp(x)`, `a + b` or `np.where(c, a, b)`
on a CudaArray call its `__array_ufunc__` / `__array_function__`, which run
the CUDA primitives of kernels/cuda/ (numpy_api.py holds that table), the
way CuPy and Dask arrays plug into NumPy code. Methods (`x.sum(axis)`,
`x.reshape`, `x[key]`, `x.astype`) are defined here. A NumPy function with
no CUDA entry raises NotImplementedError naming it, and `np.asarray(x)`
raises TypeError: nothing silently copies the data to the host and back.
The only copies are `from_host` and `to_host`, which count them
(kernels.cuda.transfers).

Views (slices, transposes, broadcasts, reshapes of contiguous data) share
device memory, as NumPy's and PyTorch's do.
"""
import numbers

import numpy as np

from ..device import DeviceArray, device as Device
from .shapes import c_strides, nocopy_strides, resolve_shape

CUDA = Device("cuda:0")


def _k():
    """The CUDA primitives, imported on first use (importing numba.cuda
    is skipped entirely by programs that never touch the device)."""
    from kernels.cuda import elementwise, layout, movement, reduce, transfers
    return elementwise, layout, movement, reduce, transfers


class _Flags:
    def __init__(self, dev):
        self.c_contiguous = bool(dev.is_c_contiguous())


class CudaArray(DeviceArray):
    __array_priority__ = 2000  # host arrays defer to us (and we refuse them)

    def __init__(self, dev):
        self.dev = dev

    # ---- attributes --------------------------------------------------------
    @property
    def shape(self):
        return tuple(int(s) for s in self.dev.shape)

    @property
    def dtype(self):
        return np.dtype(self.dev.dtype)

    @property
    def ndim(self):
        return len(self.dev.shape)

    @property
    def size(self):
        return int(self.dev.size)

    @property
    def itemsize(self):
        return self.dtype.itemsize

    @property
    def nbytes(self):
        return self.size * self.itemsize

    @property
    def strides(self):
        return tuple(int(s) for s in self.dev.strides)

    @property
    def flags(self):
        return _Flags(self.dev)

    @property
    def device(self):
        return CUDA

    @property
    def T(self):
        return self.transpose()

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d array")
        return self.shape[0]

    # ---- host copies (counted) -------------------------------------------------
    @staticmethod
    def from_host(array):
        return CudaArray(_k()[4].to_device(np.asarray(array)))

    def to_host(self):
        """A NumPy copy; first raises any error a kernel recorded on the
        device since the last check (an out-of-range index or target), as
        PyTorch reports device-side asserts at the next synchronisation."""
        from kernels.cuda import errors
        host = _k()[4].to_host(self.dev)
        errors.raise_if_set()
        return host

    def __array__(self, dtype=None, copy=None):
        raise TypeError("this array lives on the cuda device: NumPy cannot read it implicitly; "
                        "copy it with tensor.cpu() (or .numpy() after .cpu()) first")

    def item(self):
        if self.size != 1:
            raise ValueError(f"can only convert an array of size 1 to a Python scalar, "
                             f"got shape {self.shape}")
        return self.to_host().reshape(()).item()

    def tolist(self):
        return self.to_host().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.size != 1:
            raise ValueError("the truth value of an array with more than one element is ambiguous")
        return bool(self.item())

    def __repr__(self):
        return f"CudaArray(shape={self.shape}, dtype={self.dtype})"

    # ---- copies and casts ---------------------------------------------------------
    def copy(self, order="C"):
        return CudaArray(_k()[0].unary("copy", self.dev))

    def astype(self, dtype, copy=True, order="K", casting="unsafe"):
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self.copy() if copy else self
        return CudaArray(_k()[0].cast(self.dev, dtype))

    def contiguous(self):
        return self if self.dev.is_c_contiguous() else self.copy()

    def fill(self, value):
        _k()[2].fill_(self.dev, value)

    # ---- views -------------------------------------------------------------------------
    def _elem_strides(self):
        return _k()[1].elem_strides("view", self.dev)

    def _view(self, shape, strides, offset=0):
        return CudaArray(_k()[1].strided_view(self.dev, shape, strides, offset))

    def reshape(self, *shape, order="C", copy=None):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        shape = resolve_shape(shape, self.size)
        if self.dev.is_c_contiguous() or not self.size:
            return self._view(shape, c_strides(shape))
        strides = nocopy_strides(self.shape, self._elem_strides(), shape)
        if strides is not None:  # a view, as NumPy finds one
            return self._view(shape, strides)
        if copy is False:
            raise ValueError(f"cannot reshape the array of shape {self.shape} into {shape} "
                             f"without copying it")
        return self.copy()._view(shape, c_strides(shape))

    def ravel(self):
        return self.reshape(-1)

    def flatten(self):
        return self.copy().reshape(-1)

    def transpose(self, *axes):
        if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
            axes = axes[0]
        axes = tuple(int(a) for a in axes)
        if not axes:
            axes = tuple(range(self.ndim))[::-1]
        return CudaArray(_k()[1].permute(self.dev, axes))

    def swapaxes(self, a, b):
        axes = list(range(self.ndim))
        a, b = a % self.ndim, b % self.ndim
        axes[a], axes[b] = axes[b], axes[a]
        return self.transpose(axes)

    def squeeze(self, axis=None):
        if axis is None:
            axes = tuple(d for d, n in enumerate(self.shape) if n == 1)
        else:
            axes = tuple(a % self.ndim for a in (axis if isinstance(axis, tuple) else (axis,)))
            for a in axes:
                if self.shape[a] != 1:
                    raise ValueError(f"cannot select an axis to squeeze out which has size not "
                                     f"equal to one (axis {a} of shape {self.shape})")
        st = self._elem_strides()
        keep = [d for d in range(self.ndim) if d not in axes]
        return self._view([self.shape[d] for d in keep], [st[d] for d in keep])

    def expand_dims(self, axes):
        axes = axes if isinstance(axes, tuple) else (axes,)
        ndim = self.ndim + len(axes)
        axes = sorted(a % ndim for a in axes)
        shape, strides = list(self.shape), list(self._elem_strides())
        for a in axes:
            shape.insert(a, 1)
            strides.insert(a, 0)
        return self._view(shape, strides)

    def broadcast_to(self, shape):
        return CudaArray(_k()[1].expand(self.dev, tuple(shape)))

    # ---- reductions ----------------------------------------------------------------------
    def _reduce(self, op, axis, keepdims, **kw):
        x = self
        if op in ("sum", "max", "min") and x.dtype == np.bool_:
            x = x.astype(np.int64)
        if axis is not None and not isinstance(axis, tuple):
            axis = (axis,)
        if axis == () or (x.ndim == 0 and op != "var"):
            out = x.copy()  # NumPy: reducing over no axis is the identity
            return out if op not in ("argmax", "argmin") else out.astype(np.int64) * 0
        if op in ("argmax", "argmin") and axis is not None:
            axis = axis[0]  # the kernel takes one int axis for these (NumPy does too)
        return CudaArray(_k()[3].reduce(op, x.dev, axis, keepdims, **kw))

    def sum(self, axis=None, dtype=None, keepdims=False, out=None):
        r = self._reduce("sum", axis, keepdims)
        return _into(r if dtype is None else r.astype(dtype, copy=False), out)

    def mean(self, axis=None, dtype=None, keepdims=False, out=None):
        x = self if self.dtype.kind == "f" else self.astype(np.float64)
        return _into(x._reduce("mean", axis, keepdims), out)

    def max(self, axis=None, keepdims=False, out=None):
        return _into(self._reduce("max", axis, keepdims), out)

    def min(self, axis=None, keepdims=False, out=None):
        return _into(self._reduce("min", axis, keepdims), out)

    def argmax(self, axis=None, keepdims=False):
        return self._arg("argmax", axis, keepdims)

    def argmin(self, axis=None, keepdims=False):
        return self._arg("argmin", axis, keepdims)

    def _arg(self, op, axis, keepdims):
        x = self.astype(np.int64) if self.dtype == np.bool_ else self
        if axis is None:  # NumPy: the flat position
            r = x.reshape(-1)._reduce(op, 0, False)
            return r.reshape((1,) * self.ndim) if keepdims else r
        return x._reduce(op, axis % max(self.ndim, 1), keepdims)

    def var(self, axis=None, dtype=None, ddof=0, keepdims=False):
        x = self if self.dtype.kind == "f" else self.astype(np.float64)
        return x._reduce("var", axis, keepdims, correction=ddof)

    def std(self, axis=None, dtype=None, ddof=0, keepdims=False):
        return np.sqrt(self.var(axis, dtype, ddof, keepdims))

    def all(self, axis=None, keepdims=False):
        if self.size == 0 and axis is None:
            return _full((1,) * self.ndim if keepdims else (), True, np.bool_)
        return (self != 0)._reduce("min", axis, keepdims) > 0

    def any(self, axis=None, keepdims=False):
        if self.size == 0 and axis is None:
            return _full((1,) * self.ndim if keepdims else (), False, np.bool_)
        return (self != 0)._reduce("max", axis, keepdims) > 0

    # ---- operators: NumPy's ufuncs, so that types promote as on the host ---------------
    def __add__(self, o): return np.add(self, o)  # noqa: E704
    def __radd__(self, o): return np.add(o, self)  # noqa: E704
    def __sub__(self, o): return np.subtract(self, o)  # noqa: E704
    def __rsub__(self, o): return np.subtract(o, self)  # noqa: E704
    def __mul__(self, o): return np.multiply(self, o)  # noqa: E704
    def __rmul__(self, o): return np.multiply(o, self)  # noqa: E704
    def __truediv__(self, o): return np.true_divide(self, o)  # noqa: E704
    def __rtruediv__(self, o): return np.true_divide(o, self)  # noqa: E704
    def __pow__(self, o): return np.power(self, o)  # noqa: E704
    def __rpow__(self, o): return np.power(o, self)  # noqa: E704
    def __matmul__(self, o): return np.matmul(self, o)  # noqa: E704
    def __rmatmul__(self, o): return np.matmul(o, self)  # noqa: E704
    def __neg__(self): return np.negative(self)  # noqa: E704
    def __abs__(self): return np.absolute(self)  # noqa: E704
    def __invert__(self): return np.invert(self)  # noqa: E704
    def __and__(self, o): return np.bitwise_and(self, o)  # noqa: E704
    def __rand__(self, o): return np.bitwise_and(o, self)  # noqa: E704
    def __or__(self, o): return np.bitwise_or(self, o)  # noqa: E704
    def __ror__(self, o): return np.bitwise_or(o, self)  # noqa: E704
    def __xor__(self, o): return np.bitwise_xor(self, o)  # noqa: E704
    def __eq__(self, o): return np.equal(self, o)  # noqa: E704
    def __ne__(self, o): return np.not_equal(self, o)  # noqa: E704
    def __lt__(self, o): return np.less(self, o)  # noqa: E704
    def __le__(self, o): return np.less_equal(self, o)  # noqa: E704
    def __gt__(self, o): return np.greater(self, o)  # noqa: E704
    def __ge__(self, o): return np.greater_equal(self, o)  # noqa: E704
    def __iadd__(self, o): return np.add(self, o, out=self)  # noqa: E704
    def __isub__(self, o): return np.subtract(self, o, out=self)  # noqa: E704
    def __imul__(self, o): return np.multiply(self, o, out=self)  # noqa: E704
    def __itruediv__(self, o): return np.true_divide(self, o, out=self)  # noqa: E704
    def __iand__(self, o): return np.bitwise_and(self, o, out=self)  # noqa: E704
    def __ior__(self, o): return np.bitwise_or(self, o, out=self)  # noqa: E704
    __hash__ = object.__hash__

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        from .numpy_api import apply_ufunc
        return apply_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        from .numpy_api import apply_function
        return apply_function(func, args, kwargs)

    # ---- indexing ----------------------------------------------------------------------------
    def __getitem__(self, key):
        from .indexing import getitem
        return getitem(self, key)

    def __setitem__(self, key, value):
        from .indexing import setitem
        setitem(self, key, value)


# ---- helpers ------------------------------------------------------------------------------------
def _full(shape, value, dtype):
    return CudaArray(_k()[2].full(tuple(shape), value, np.dtype(dtype)))


def _into(result, out):
    if out is None:
        return result
    out = out[0] if isinstance(out, tuple) else out
    _k()[2].copy_into(out.dev, result.astype(out.dtype, copy=False).dev)
    return out


def is_scalar(v):
    return isinstance(v, (numbers.Number, np.generic)) or (isinstance(v, np.ndarray) and v.ndim == 0)
