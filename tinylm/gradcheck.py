"""gradcheck: compare autograd's gradients with central finite differences.

For every differentiable input x_j and every element of every floating
output y, the backward pass gives dy/dx; finite differences give
(y(x + eps) - y(x - eps)) / (2 eps). Both run in float64 on copies of the
inputs, so the check is about the maths, not float32 rounding.
"""
import numpy as np

from ._tensor import Tensor
from .autograd import no_grad


def _outputs(fn, xs):
    out = fn(*xs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in outs if isinstance(o, Tensor) and o.is_floating_point()]


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """True if fn's backward matches finite differences at `inputs`, else
    raise (or return False) naming the worst element.

    `inputs` is a tensor or a tuple of tensors and other values; the float
    tensors with requires_grad=True are checked, as float64 copies."""
    inputs = inputs if isinstance(inputs, (tuple, list)) else (inputs,)
    xs = [x.detach().double().requires_grad_() if isinstance(x, Tensor) and x.requires_grad else x
          for x in inputs]
    wrt = [i for i, x in enumerate(xs) if isinstance(x, Tensor) and x.requires_grad]
    if not wrt:
        raise ValueError("gradcheck: no input tensor has requires_grad=True")

    outs = _outputs(fn, xs)
    n_out = sum(o.numel() for o in outs)
    analytic = {i: np.zeros((xs[i].numel(), n_out)) for i in wrt}
    col = 0
    for o in outs:
        for j in range(o.numel()):
            if o.requires_grad:
                for i in wrt:
                    xs[i].grad = None
                seed = np.zeros(o.shape, dtype=o.dtype)
                seed.flat[j] = 1
                o.backward(seed, retain_graph=True)
                for i in wrt:
                    if xs[i].grad is not None:
                        analytic[i][:, col] = xs[i].grad.data.reshape(-1)
            col += 1

    numeric = {i: np.zeros_like(analytic[i]) for i in wrt}
    with no_grad():
        for i in wrt:
            x = xs[i].data
            for e in range(x.size):
                orig = x.flat[e]
                x.flat[e] = orig + eps
                plus = [o.data.astype(np.float64).reshape(-1) for o in _outputs(fn, xs)]
                x.flat[e] = orig - eps
                minus = [o.data.astype(np.float64).reshape(-1) for o in _outputs(fn, xs)]
                x.flat[e] = orig
                if plus:
                    numeric[i][e] = (np.concatenate(plus) - np.concatenate(minus)) / (2 * eps)

    for i in wrt:
        a, n = analytic[i], numeric[i]
        excess = np.abs(a - n) - (atol + rtol * np.abs(n))
        bad = np.isnan(a) != np.isnan(n)
        if (excess > 0).any() or bad.any():
            e, c = np.unravel_index(np.argmax(np.where(bad, np.inf, np.nan_to_num(excess, nan=-1))), a.shape)
            where = _output_position(outs, c)
            msg = (f"gradcheck: d output{where} / d input {i}{_index(xs[i].shape, e)} is "
                   f"{a[e, c]:.6g} by backward but {n[e, c]:.6g} by finite differences "
                   f"(atol={atol}, rtol={rtol})")
            if raise_exception:
                raise AssertionError(msg)
            return False
    return True


def _index(shape, flat):
    return str(tuple(int(k) for k in np.unravel_index(flat, shape))) if shape else "[]"


def _output_position(outs, col):
    for k, o in enumerate(outs):
        if col < o.numel():
            return f" {k}{_index(o.shape, col)}"
        col -= o.numel()
    return ""
