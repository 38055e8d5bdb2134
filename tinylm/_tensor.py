"""The Tensor: a NumPy array, a gradient, and the op that made it.

This file holds what a tensor *is* (attributes, conversion, the autograd entry
points). What a tensor can *do* (math, reductions, indexing, operators) lives
in tinylm/ops/, whose __init__ attaches those functions as methods in one
table, so `t.exp()` is `tinylm.ops.exp(t)`.
"""
import numpy as np

from . import autograd
from . import dtypes
from .device import DeviceArray, check_device, device_of
from .device import device as Device


class Tensor:
    # Makes `np_array + tensor` call Tensor.__radd__ instead of NumPy's loop.
    __array_priority__ = 1000
    __hash__ = object.__hash__  # tensors are dict keys by identity, as in PyTorch

    def __init__(self, data, requires_grad=False, _grad_fn=None):
        if not isinstance(data, (np.ndarray, DeviceArray)):
            data = np.asarray(data)
        # the NumPy array, or on cuda a CudaArray (unlike PyTorch, where .data is a Tensor)
        self.data = data
        self.grad = None
        self.grad_fn = _grad_fn
        self._requires_grad = _grad_fn is not None  # an op's output in a graph
        self._hooks = {}
        self._retains_grad = False
        if requires_grad and _grad_fn is None:
            self.requires_grad = True  # checks the dtype

    # ---- attributes ------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self):
        return device_of(self.data)

    @property
    def is_cuda(self):
        return self.device.type == "cuda"

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        if self.grad_fn is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf tensors; "
                               "use .detach() to get a leaf from this one")
        if flag and not dtypes.is_floating(self.dtype):
            raise RuntimeError(f"only tensors of floating point dtype can require gradients, "
                               f"got {self.dtype}")
        self._requires_grad = bool(flag)

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[_dim(dim, self.ndim)]

    def dim(self):
        return self.ndim

    def numel(self):
        return int(self.data.size)

    def is_floating_point(self):
        return dtypes.is_floating(self.dtype)

    def element_size(self):
        return self.data.itemsize

    # ---- conversion --------------------------------------------------------
    def numpy(self):
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on a tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        if not isinstance(self.data, np.ndarray):
            raise TypeError(f"can't convert {self.device} device type tensor to numpy. Use "
                            "Tensor.cpu() to copy the tensor to host memory first.")
        return self.data

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        if dtype is not None and arr.dtype != dtype:
            return arr.astype(dtype)
        return arr.copy() if copy else arr

    def item(self):
        if self.data.size != 1:
            raise RuntimeError(f"a Tensor with {self.data.size} elements cannot be converted to a Python scalar")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.data.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if not np.issubdtype(self.dtype, np.integer) or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with {self.data.size} elements is ambiguous")
        return bool(self.item())

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def to(self, *args, dtype=None, device=None, copy=False, non_blocking=False):
        """t.to(dtype), t.to('cuda'), t.to(other_tensor), t.to('cuda', tl.float64).
        Moving between devices copies (counted: tinylm.cuda.transfers) and is
        differentiable, as in PyTorch: the gradient flows back to the source."""
        for a in args:
            if isinstance(a, Tensor):
                dtype, device = a.dtype, a.device
            elif isinstance(a, (str, Device)):
                device = a
            else:
                dtype = a
        out = self
        device = None if device is None else check_device(device)
        if device is not None and device != self.device:
            from .ops.transfer import ToDevice
            out, copy = ToDevice.apply(self, device=device), False
        dtype = dtypes.to_dtype(dtype)
        if dtype is None or dtype == out.dtype:
            return out.clone() if copy else out
        from .ops.pointwise import Cast
        if dtypes.is_floating(dtype) and out.requires_grad:
            return Cast.apply(out, dtype=dtype)
        return Tensor(out.data.astype(dtype))

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def half(self):
        return self.to(dtypes.float16)

    def long(self):
        return self.to(dtypes.int64)

    def int(self):
        return self.to(dtypes.int32)

    def bool(self):
        return self.to(dtypes.bool)

    def type_as(self, other):
        return self.to(other.dtype)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None, non_blocking=False):
        """A copy on the GPU (itself if already there); device: None, an index, 'cuda:0'."""
        return self.to(cuda_device(device))

    # ---- autograd ----------------------------------------------------------
    def detach(self):
        """A new leaf sharing this tensor's data, cut from the graph."""
        return Tensor(self.data)

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    def retain_grad(self):
        """Keep .grad on this non-leaf after backward (leaves always keep it)."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on a tensor that has requires_grad=False")
        if self.grad_fn is not None:
            self._retains_grad = True

    def register_hook(self, hook):
        """hook(grad) runs when this tensor's gradient is computed; returning
        a tensor replaces the gradient. Returns a handle with .remove()."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        handle = autograd.RemovableHandle(self._hooks)
        self._hooks[handle.id] = hook
        return handle

    def backward(self, gradient=None, retain_graph=False):
        if not self.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs; "
                                   f"this tensor has shape {self.shape}: pass backward(gradient=...)")
            grad = np.ones_like(self.data)
        else:
            grad = gradient.data if isinstance(gradient, Tensor) else np.asarray(gradient)
            if device_of(grad) != self.device:
                raise RuntimeError(f"backward: the gradient is on {device_of(grad)} but the tensor "
                                   f"on {self.device}")
            if grad.shape != self.shape:
                raise RuntimeError(f"backward: gradient has shape {grad.shape} but the tensor "
                                   f"has shape {self.shape}")
            grad = grad.astype(self.dtype, copy=False)
        autograd.backward(self, grad, retain_graph=retain_graph)

    # ---- printing ----------------------------------------------------------
    def __repr__(self):
        host = self.data if isinstance(self.data, np.ndarray) else self.data.to_host()
        body = np.array2string(host, precision=4, separator=", ", prefix="tensor(", floatmode="fixed",
                               threshold=1000, edgeitems=3)
        extras = [] if isinstance(self.data, np.ndarray) else [f"device='{self.device}'"]
        if self.dtype not in (dtypes.get_default_dtype(), dtypes.int64, dtypes.bool):
            extras.append(f"dtype=tinylm.{self.dtype}")
        if self.data.size == 0:
            extras.append(f"size={self.shape}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn={self.grad_fn!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"


def cuda_device(index=None):
    """The device that t.cuda(index) / module.cuda(index) mean: index None,
    an int (as torch's t.cuda(0)), or a device or string such as 'cuda:0'."""
    if index is None:
        return Device("cuda")
    if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
        return Device(f"cuda:{int(index)}")
    d = Device(index)
    if d.type != "cuda":
        raise RuntimeError(f"cuda(): expected a cuda device, got {str(d)!r}")
    return d


def _dim(d, ndim):
    """Normalise a possibly negative dim, naming the valid range when it is out."""
    n = max(ndim, 1)
    if not -n <= d < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})")
    return d % n
