"""SGD with momentum, dampening, weight decay and Nesterov, as torch.optim.SGD.

Per parameter, with g = p.grad (negated when maximize):
    g = g + weight_decay * p
    buf = g                                    (first step)
    buf = momentum * buf + (1 - dampening) * g (later steps)
    g = g + momentum * buf  if nesterov  else  buf       (when momentum != 0)
    p = p - lr * g
Each `a + alpha * b` rounds once, as PyTorch's add(alpha=) does with a fused
multiply-add: in float32 that is computed exactly in float64 and rounded
once (_add), so the results agree with PyTorch's bit for bit.
"""
import numpy as np

from .optimizer import Optimizer


def _add(a, b, alpha):
    """a + alpha * b with one rounding to a's dtype (alpha rounded to it first)."""
    if a.dtype == np.float32:
        return (a.astype(np.float64) + np.float64(np.float32(alpha)) * b).astype(np.float32)
    return a + a.dtype.type(alpha) * b


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                                      foreach=foreach, differentiable=differentiable, fused=fused))

    def _update(self, p, grad, group, state):
        g = -grad if group["maximize"] else grad
        if group["weight_decay"] != 0:
            g = _add(g, p.data, group["weight_decay"])
        momentum = group["momentum"]
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = g.astype(p.dtype, copy=True)
            else:
                buf = _add(buf * p.dtype.type(momentum), g, 1 - group["dampening"])
            state["momentum_buffer"] = buf
            g = _add(g, buf, momentum) if group["nesterov"] else buf
        p.data[...] = _add(p.data, g, -group["lr"])
