"""Losses: mse_loss, nll_loss, cross_entropy, with PyTorch's semantics.

Class-index targets: input (N, C) or (N, C, d1, ...) or (C,), target (N,) or
(N, d1, ...) or () of integers. Rows whose target is ignore_index add
nothing. With class weights w and label smoothing eps, each kept row i costs
    (1 - eps) * w[t_i] * -logp[i, t_i]  +  eps / C * sum_c w[c] * -logp[i, c]
and reduction='mean' divides the total by sum_i w[t_i] over kept rows
(the row count when w is None), so all rows ignored gives NaN, as in PyTorch.

cross_entropy fuses log_softmax with that loss in one kernel pass
(kernels/cross_entropy.py), which also writes dlogits = q - softmax * sum(q),
q being the gradient with respect to logp; nll_loss takes logp directly.
"""
import warnings

import numpy as np

from ..._tensor import Tensor
from ...autograd import Function
from ...backend import asarray, kernels_for
from .activation import log_softmax

_REDUCTIONS = ("mean", "sum", "none")


def _check_targets(name, input, target, ignore_index):
    if not isinstance(target, Tensor):
        target = Tensor(np.asarray(target))
    if input.ndim == 0:
        raise RuntimeError(f"{name}: input must have a class dim, got a 0-d tensor")
    C = input.shape[1] if input.ndim > 1 else input.shape[0]
    want = (input.shape[0],) + input.shape[2:] if input.ndim > 1 else ()
    if target.shape != want:
        raise RuntimeError(f"{name}: expected target of shape {want} for input of shape "
                           f"{input.shape}, got {target.shape}")
    if target.dtype == np.bool_ or not np.issubdtype(target.dtype, np.integer):
        raise TypeError(f"{name}: class-index targets must be an integer tensor (int64), "
                        f"got {target.dtype}")
    t = target.data.reshape(-1)
    if not isinstance(t, np.ndarray):  # cuda: the kernels check, raising at the next sync
        return t, C
    bad = (t != ignore_index) & ((t < 0) | (t >= C))
    if bad.any():
        raise IndexError(f"{name}: target {t[bad][0]} is out of bounds for {C} classes "
                         f"(and is not ignore_index={ignore_index})")
    return t, C


class NLLLoss(Function):
    """nll_loss over rows of log-probabilities (M, C) with targets (M,)."""

    def forward(self, logp, w, t, ignore_index, reduction, smoothing, out_shape):
        M, C = logp.shape
        x = logp
        kept = t != ignore_index
        tc = np.where(kept, t, 0)  # a safe index for ignored rows
        wt = np.where(kept, 1 if w is None else w[tc], 0).astype(x.dtype)  # w[t_i], 0 if ignored
        # np.where, not a product with 0: an ignored row may hold -inf log-probs
        loss = np.where(kept, -(1 - smoothing) * wt * logp[np.arange(M, like=tc), tc], 0)
        if smoothing:
            per_class = logp if w is None else logp * w
            loss = loss - np.where(kept, (smoothing / C) * per_class.sum(axis=1), 0)
        if reduction == "none":
            scale, out = 1, loss.reshape(out_shape)
        else:
            scale = wt.sum() if reduction == "mean" else 1
            out = asarray(loss.sum() / scale)
        self.save_for_backward(logp, wt, tc, kept, w)
        self.smoothing, self.scale, self.reduction = smoothing, scale, reduction
        return out.astype(x.dtype)

    def backward(self, g):
        logp, wt, tc, kept, w = self.saved
        M, C = logp.shape
        s = g.reshape(-1) if self.reduction == "none" else np.broadcast_to(g / self.scale, (M,))
        s = np.where(kept, s, 0).astype(logp.dtype)  # ignored rows (even all of them) get 0
        q = np.zeros_like(logp)  # d loss / d logp
        q[np.arange(M, like=tc), tc] = -(1 - self.smoothing) * wt * s
        if self.smoothing:
            q -= (self.smoothing / C) * (kept * s)[:, None] * (1 if w is None else w)
        return q, None, None


class CrossEntropy(Function):
    """Fused log_softmax + NLL over rows (M, C): the kernel returns the loss
    and, in the same pass, d loss / d logits for an upstream gradient of 1;
    backward only scales it (llm.c's fused classifier)."""

    def forward(self, x, w, t, ignore_index, reduction, smoothing, out_shape):
        loss, dlogits = kernels_for(x).cross_entropy_forward(x, t, w, ignore_index, smoothing, reduction)
        self.reduction = reduction
        self.save_for_backward(dlogits)
        return loss.reshape(out_shape) if reduction == "none" else loss

    def backward(self, g):
        dlogits = self.saved[0]
        scale = g.reshape(-1, 1) if self.reduction == "none" else g
        # (on the host, skip the product for the usual upstream 1; on cuda, reading
        # g to find out would cost a copy and a sync)
        if isinstance(scale, np.ndarray) and np.all(scale == 1):
            return dlogits, None, None
        return dlogits * scale, None, None


def _class_loss(name, input, target, weight, ignore_index, reduction, smoothing, from_logits):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if not input.is_floating_point():
        raise TypeError(f"{name}: input must be a floating point tensor, got {input.dtype}")
    t, C = _check_targets(name, input, target, ignore_index)
    if weight is not None and weight.shape != (C,):
        raise RuntimeError(f"{name}: weight must have shape ({C},), got {weight.shape}")
    if weight is not None and weight.requires_grad:
        raise RuntimeError(f"{name} is not differentiable with respect to weight: "
                           "pass weight.detach()")
    x = input.reshape(1, C) if input.ndim == 1 else input.movedim(1, -1).reshape(-1, C)  # (M, C)
    out_shape = (input.shape[0],) + input.shape[2:] if input.ndim > 1 else ()
    w = None if weight is None else weight.detach().data.astype(input.dtype)
    if from_logits:
        return CrossEntropy.apply(x, w, t, ignore_index=ignore_index, reduction=reduction,
                                  smoothing=smoothing, out_shape=out_shape)
    return NLLLoss.apply(x, w, t, ignore_index=ignore_index, reduction=reduction,
                         smoothing=smoothing, out_shape=out_shape)


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities `input` at class `target`."""
    return _class_loss("nll_loss", input, target, weight, ignore_index, reduction, 0.0, False)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """log_softmax over dim 1 (dim 0 for unbatched input), then the NLL loss.

    `target` holds class indices, or class probabilities shaped like `input`."""
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    tgt = target if isinstance(target, Tensor) else Tensor(np.asarray(target))
    if tgt.is_floating_point():
        return _soft_cross_entropy(input, tgt, weight, reduction, label_smoothing)
    return _class_loss("cross_entropy", input, tgt, weight, ignore_index, reduction,
                       label_smoothing, True)


def _soft_cross_entropy(input, target, weight, reduction, smoothing):
    """Cross-entropy against class probabilities: -sum_c w_c p_c log q_c per row."""
    if target.shape != input.shape:
        raise RuntimeError(f"cross_entropy: probability targets must have the input's shape "
                           f"{input.shape}, got {target.shape}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    class_dim = 0 if input.ndim == 1 else 1
    C = input.shape[class_dim]
    if smoothing:
        target = target * (1 - smoothing) + smoothing / C
    logp = log_softmax(input, class_dim)
    per = logp * target
    if weight is not None:
        per = per * weight.reshape((C,) + (1,) * (input.ndim - class_dim - 1))
    loss = -per.sum(class_dim)
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


def mse_loss(input, target, reduction="mean"):
    """Mean squared error; broadcasting input against target warns, as in PyTorch."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"mse_loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if isinstance(target, Tensor) and target.shape != input.shape:
        warnings.warn(f"mse_loss: target size {target.shape} differs from input size "
                      f"{input.shape}; they will be broadcast, which is likely wrong", stacklevel=2)
    sq = (input - target) ** 2
    if reduction == "none":
        return sq
    return sq.sum() if reduction == "sum" else sq.mean()
