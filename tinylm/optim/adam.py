"""Adam and AdamW, as torch.optim.Adam / AdamW, on the fused update kernel.

Per parameter, step t = 1, 2, ... (kernels/adam.py holds the equations and
the float32 rounding that follows torch's, operation by operation):
    Adam:  g = grad + weight_decay * p            (L2 penalty in the gradient)
    AdamW: p = p * (1 - lr * weight_decay)        (decoupled weight decay)
    m = beta1 m + (1 - beta1) g,   v = beta2 v + (1 - beta2) g^2
    p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
amsgrad keeps the running maximum of v and uses it in the denominator.
State per parameter, with PyTorch's names: step (a 0-d float32 array, as
PyTorch's step tensor), exp_avg, exp_avg_sq, and max_exp_avg_sq with amsgrad.
"""
import numpy as np

from ..backend import kernels_for
from .optimizer import Optimizer


def _check(lr, betas, eps, weight_decay):
    if lr < 0.0:
        raise ValueError(f"Invalid learning rate: {lr}")
    if eps < 0.0:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    for i, b in enumerate(betas):
        if not 0.0 <= b < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {b}")
    if weight_decay < 0.0:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        _check(lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                                      capturable=capturable, differentiable=differentiable, fused=fused,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _update(self, p, grad, group, state):
        if not state:
            state["step"] = np.zeros((), np.float32)
            state["exp_avg"] = np.zeros_like(p.data)
            state["exp_avg_sq"] = np.zeros_like(p.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(p.data)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        kernels_for(p.data).adam_step(
            p.data, grad.astype(p.dtype, copy=False), state["exp_avg"], state["exp_avg_sq"],
            state.get("max_exp_avg_sq", np.empty_like(p.data, shape=(0,))), float(state["step"]), group["lr"],
            beta1, beta2, group["eps"], group["weight_decay"], group["decoupled_weight_decay"],
            group["amsgrad"], group["maximize"])


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), default 1e-2."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 *, maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
