"""Reverse-mode autograd: grad mode, the Function base class, the backward pass.

Every differentiable op is a `Function` subclass with `forward` (NumPy arrays
in, one array out) and `backward` (the output's gradient in, one gradient per
tensor input out) side by side. `Function.apply` runs forward and, when some
input requires grad, records the node: its inputs, and a generation number one
above the newest input. `backward` then visits nodes newest-generation first
from a heap, so a node runs only after every node that consumed its output has
passed its gradient down; no recursion, so a 10,000-op chain is fine.

Gradients reaching one node from several consumers are summed in place once
backward owns the sum (it allocated it), never in an array a Function handed
down: Add's backward hands the same array to both of its inputs. Indexing
hands down a SliceGrad (g at key, zero elsewhere), which is added into the
input's gradient at key rather than built as a whole zero array; the q, k, v
slices of a fused projection, which tile it, are simply concatenated.
"""
import contextlib
import heapq
import itertools
import weakref

import numpy as np

from .backend import asarray
from .device import DeviceArray, device_of, mixed_devices

_grad_enabled = True


def is_grad_enabled():
    return _grad_enabled


class set_grad_enabled(contextlib.ContextDecorator):
    """Context manager / decorator that sets grad mode, restoring it after."""

    def __init__(self, mode):
        self.mode = bool(mode)

    def __enter__(self):
        global _grad_enabled
        self.prev, _grad_enabled = _grad_enabled, self.mode

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self.prev
        return False


class no_grad(set_grad_enabled):
    """`with tl.no_grad():` or `@tl.no_grad()`: ops record no graph."""

    def __init__(self):
        super().__init__(False)


class enable_grad(set_grad_enabled):
    def __init__(self):
        super().__init__(True)


def sum_to(grad, shape):
    """Undo NumPy broadcasting: sum `grad` down to `shape`.

    The one place where gradients of broadcast operands are reduced."""
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


_FREED = object()  # marks saved values released after backward
_Tensor = None


def _tensor_class():
    """tinylm's Tensor, imported on first use: its module imports this one.
    (Kept in a global: an import statement in apply cost ~1 us a call.)"""
    global _Tensor
    if _Tensor is None:
        from ._tensor import Tensor
        _Tensor = Tensor
    return _Tensor


class Function:
    """One op. Subclasses define forward(*args, **options) -> array, where
    tensor arguments arrive as NumPy arrays, and backward(grad) -> one
    gradient per positional argument (None for non-tensors or where
    self.needs_input_grad says it isn't needed).

    forward may return (output, extra, ...): only `output` is differentiable;
    the extras (e.g. the indices of max) come back as tensors without grad."""

    def save_for_backward(self, *values):
        self.saved = values

    def __call__(self, *args, **kwargs):
        raise TypeError(f"call {type(self).__name__}.apply(...), not an instance")

    @classmethod
    def apply(cls, *args, **options):
        Tensor = _tensor_class()
        fn = cls()
        fn.saved = ()
        arrays = [a.data if isinstance(a, Tensor) else a for a in args]
        if len(arrays) > 1:
            _check_devices(cls, arrays)
        with np.errstate(all="ignore"):  # log(0) = -inf etc. as in PyTorch, silently
            out = fn.forward(*arrays, **options)
        extras = ()
        if isinstance(out, tuple):
            out, *extras = out
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        if _grad_enabled and any(needs):
            # one slot per positional argument: backward returns a gradient per slot
            fn.inputs = tuple(a if isinstance(a, Tensor) else None for a in args)
            fn.needs_input_grad = needs
            fn.generation = 1 + max((a.grad_fn.generation for a in fn.inputs
                                     if a is not None and a.grad_fn), default=0)
            result = Tensor(out, requires_grad=True, _grad_fn=fn)
            fn.output = weakref.ref(result)
        else:
            result = Tensor(out)
        if extras:
            return (result,) + tuple(Tensor(e) for e in extras)
        return result

    def forward(self, *args, **options):
        raise NotImplementedError(f"{type(self).__name__} must define forward")

    def backward(self, grad):
        raise NotImplementedError(f"{type(self).__name__} has no backward")

    @property
    def name(self):
        return type(self).__name__ + "Backward"

    def __repr__(self):
        return f"<{self.name}>"


def _check_devices(cls, arrays):
    """Raise, as PyTorch does, when an op's array inputs live on different
    devices (0-d host arrays excepted: they act as scalars, as CPU scalar
    tensors do in PyTorch). Without this a CPU kernel would be handed device
    memory, or the reverse, and fail far from the user's mistake."""
    host = device = False
    for x in arrays:
        if isinstance(x, np.ndarray):
            host = host or x.ndim > 0
        elif isinstance(x, DeviceArray):
            device = True
    if host and device:
        raise mixed_devices(cls.__name__.lower())


def _run_hooks(tensor, grad):
    for hook in list(tensor._hooks.values()):
        new = hook(_wrap(grad))
        if new is not None:
            grad = asarray(new.data if hasattr(new, "data") else new).astype(grad.dtype, copy=False)
    return grad


def _wrap(array):
    return _tensor_class()(array)


class SliceGrad:
    """The gradient of x[key] for x of `shape`: g at key, zero elsewhere.
    Indexing's backward returns one; backward() adds it where it is needed."""

    def __init__(self, shape, key, g, advanced):
        self.shape, self.key, self.g, self.advanced = shape, key, g, advanced

    def add_to(self, out):
        if self.advanced:  # x[[0, 0]] picks an element twice: add both
            np.add.at(out, self.key, self.g)
        else:
            out[self.key] += self.g
        return out

    def array(self, dtype):
        return self.add_to(np.zeros_like(self.g, dtype=dtype, shape=self.shape))


class _Slices(list):
    """The SliceGrads reaching one input, kept until its gradient is
    complete. If they are x[..., a:b] slices that tile x along one axis (a
    split: the fused q, k, v projection), the gradient is their
    concatenation, one pass; else they are added into a zero array."""

    def __init__(self, first, dtype):
        super().__init__([first])
        self.dtype = dtype

    def array(self):
        axis = self.tiling_axis()
        if axis is not None:
            parts = sorted(self, key=lambda sg: sg.key[axis].start)
            return np.concatenate([sg.g for sg in parts], axis=axis).astype(self.dtype, copy=False)
        out = np.zeros_like(self[0].g, dtype=self.dtype, shape=self[0].shape)
        for sg in self:
            sg.add_to(out)
        return out

    def tiling_axis(self):
        """The axis along which the keys (:, ..., :, a:b) cover x once, or None."""
        axis = len(self[0].key) - 1
        if axis < 0:
            return None
        spans = []
        for sg in self:
            key = sg.key
            if (sg.advanced or len(key) != axis + 1 or not all(isinstance(k, slice) for k in key)
                    or any(k != slice(None) for k in key[:axis]) or key[axis].step not in (None, 1)):
                return None
            spans.append((key[axis].start or 0, key[axis].stop))
        end = 0
        for start, stop in sorted(spans, key=lambda span: span[0]):
            if start != end or stop is None:
                return None
            end = stop
        return axis if end == self[0].shape[axis] else None


def _accumulate_grad(tensor, grad):
    """tensor.grad += grad, owning its own copy the first time."""
    if tensor.grad is None:
        tensor.grad = _tensor_class()(asarray(grad).astype(tensor.dtype, copy=True))
    else:
        tensor.grad.data += grad


def _sum_into(grads, owned, fn, ig):
    """grads[fn] += ig: in place when backward allocated grads[fn] (its id is
    in `owned`), else into a new array that it then owns."""
    acc = grads[fn]
    if isinstance(acc, _Slices):
        if isinstance(ig, SliceGrad):
            acc.append(ig)
            return
        acc = grads[fn] = acc.array()
        owned.add(id(acc))
    if id(acc) in owned:
        if isinstance(ig, SliceGrad):
            ig.add_to(acc)
        else:
            np.add(acc, ig, out=acc)
        return
    # (asarray: the sum of two 0-d arrays is a NumPy scalar)
    acc = ig.add_to(acc.copy()) if isinstance(ig, SliceGrad) else asarray(acc + ig)
    grads[fn] = acc
    owned.add(id(acc))


def backward(root, grad, retain_graph=False):
    """Propagate `grad` (an array shaped like root) from `root` to the leaves."""
    if root.grad_fn is None:
        if root._hooks:
            grad = _run_hooks(root, grad)
        _accumulate_grad(root, grad)
        return
    tie = itertools.count()  # breaks generation ties in the heap
    grads = {root.grad_fn: grad}
    owned = set()  # ids of the arrays in grads that backward allocated itself
    heap = [(-root.grad_fn.generation, next(tie), root.grad_fn)]
    while heap:
        _, _, fn = heapq.heappop(heap)
        g = grads.pop(fn)
        if isinstance(g, _Slices):
            g = g.array()
        owned.discard(id(g))  # fn.backward may hand g itself down to several inputs
        if fn.saved is _FREED:
            raise RuntimeError(
                f"Trying to backward through the graph a second time ({fn.name}'s saved "
                "values were freed by the first backward). Pass retain_graph=True to the "
                "first backward() if you need to backward twice.")
        out = fn.output()
        if out is not None and (out._hooks or out._retains_grad):
            if out._hooks:
                g = _run_hooks(out, g)
            if out._retains_grad:
                _accumulate_grad(out, g)
        with np.errstate(all="ignore"):
            in_grads = fn.backward(g)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        for inp, needed, ig in zip(fn.inputs, fn.needs_input_grad, in_grads):
            if not needed or ig is None:
                continue
            sliced = isinstance(ig, SliceGrad)
            if not sliced:
                ig = asarray(ig)
                if isinstance(ig, np.ndarray) != isinstance(inp.data, np.ndarray):
                    raise RuntimeError(f"{fn.name} returned a gradient on {device_of(ig)} for "
                                       f"an input on {inp.device}")
            if tuple(ig.shape) != inp.shape:
                raise RuntimeError(f"{fn.name} returned a gradient of shape {tuple(ig.shape)} "
                                   f"for an input of shape {inp.shape}")
            if not sliced:
                ig = ig.astype(inp.dtype, copy=False)
            parent = inp.grad_fn
            if parent is None:
                if sliced:
                    ig = ig.array(inp.dtype)
                if inp._hooks:
                    ig = _run_hooks(inp, ig)
                _accumulate_grad(inp, ig)
            elif parent in grads:
                _sum_into(grads, owned, parent, ig)
            else:
                grads[parent] = _Slices(ig, inp.dtype) if sliced else ig
                heapq.heappush(heap, (-parent.generation, next(tie), parent))
        if not retain_graph and fn.saved:
            fn.saved = _FREED


class RemovableHandle:
    """Returned by register_hook; .remove() unregisters the hook."""
    _ids = itertools.count()

    def __init__(self, hooks):
        self.hooks = hooks
        self.id = next(self._ids)

    def remove(self):
        self.hooks.pop(self.id, None)
