"""Reverse-mode autograd: grad mode, the Function base class, the backward pass.

Every differentiable op is a `Function` subclass with `forward` (NumPy arrays
in, one array out) and `backward` (the output's gradient in, one gradient per
tensor input out) side by side. `Function.apply` runs forward and, when some
input requires grad, records the node: its inputs, and a generation number one
above the newest input. `backward` then visits nodes newest-generation first
from a heap, so a node runs only after every node that consumed its output has
passed its gradient down; no recursion, so a 10,000-op chain is fine.
"""
import contextlib
import heapq
import itertools
import weakref

import numpy as np

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
        from ._tensor import Tensor  # the Tensor module imports this one

        fn = cls()
        fn.saved = ()
        arrays = [a.data if isinstance(a, Tensor) else a for a in args]
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


def _run_hooks(tensor, grad):
    for hook in list(tensor._hooks.values()):
        new = hook(_wrap(grad))
        if new is not None:
            grad = np.asarray(new.data if hasattr(new, "data") else new, dtype=grad.dtype)
    return grad


def _wrap(array):
    from ._tensor import Tensor
    return Tensor(array)


def _accumulate_grad(tensor, grad):
    """tensor.grad += grad, owning its own copy the first time."""
    from ._tensor import Tensor
    if tensor.grad is None:
        tensor.grad = Tensor(np.array(grad, dtype=tensor.dtype, copy=True))
    else:
        tensor.grad.data += grad


def backward(root, grad, retain_graph=False):
    """Propagate `grad` (an array shaped like root) from `root` to the leaves."""
    if root.grad_fn is None:
        if root._hooks:
            grad = _run_hooks(root, grad)
        _accumulate_grad(root, grad)
        return
    tie = itertools.count()  # breaks generation ties in the heap
    grads = {root.grad_fn: grad}
    heap = [(-root.grad_fn.generation, next(tie), root.grad_fn)]
    while heap:
        _, _, fn = heapq.heappop(heap)
        g = grads.pop(fn)
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
            ig = np.asarray(ig)
            if ig.shape != inp.shape:
                raise RuntimeError(f"{fn.name} returned a gradient of shape {ig.shape} "
                                   f"for an input of shape {inp.shape}")
            ig = ig.astype(inp.dtype, copy=False)
            parent = inp.grad_fn
            if parent is None:
                if inp._hooks:
                    ig = _run_hooks(inp, ig)
                _accumulate_grad(inp, ig)
            elif parent in grads:
                grads[parent] = grads[parent] + ig
            else:
                grads[parent] = ig
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
