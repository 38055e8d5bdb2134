"""Cross-entropy loss over class logits and its gradient, in one fused pass.

Shapes: logits (N, C) float, targets (N,) integer class indices, optional
class weights w (C,). Per row i whose target t_i is not ignore_index, with
label smoothing eps and logp = log_softmax(logits):
    loss_i = (1 - eps) * w[t_i] * -logp[i, t_i]  +  eps / C * sum_c w[c] * -logp[i, c]
(w = 1 when weight is None); an ignored row has loss_i = 0. Reductions:
    'none' -> (N,) losses,  'sum' -> sum_i loss_i,
    'mean' -> sum_i loss_i / sum_{kept i} w[t_i]   (NaN when every row is ignored)
Returned with the loss is dlogits (N, C), the gradient for an upstream
gradient of 1 (of the scalar for 'mean'/'sum', of each loss_i for 'none'):
    q_i = d loss_i / d logp_i = -(1 - eps) w[t_i] onehot(t_i) - (eps / C) w   (0 if ignored)
    d loss_i / d logits_i = q_i - softmax_i * sum_c q_ic,   divided by the denominator for 'mean'
which, since sum_c q_ic = -((1 - eps) w[t_i] + (eps / C) W) with W = sum_c w[c], is
    dlogits[i, c] = softmax[i, c] * ((1 - eps) w[t_i] + (eps / C) W)
                    - (eps / C) w[c] - (1 - eps) w[t_i] [c == t_i]
All rows ignored gives all-zero dlogits. Must match
torch.nn.functional.cross_entropy(logits, targets, weight, ignore_index=...,
reduction=..., label_smoothing=...) and its gradient. The CPU kernel makes
three passes over a row (max, exp, gradient) without a softmax array, like
llm.c's fused classifier; the CUDA twin is in kernels/cuda/cross_entropy.py.
"""
import math
import operator

import numpy as np

from .fastmath import fast_exp
from .jit import cpu_kernel
from .registry import Kernel, register
from .validate import as_float, lazy_cuda

REDUCTIONS = ("none", "sum", "mean")
NAME = "cross_entropy_forward"


def check_options(name, ignore_index, label_smoothing, reduction):
    """The plain arguments, checked (shared with the CUDA wrapper)."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing}")
    return operator.index(ignore_index), float(label_smoothing)


def bad_target_error(name, target, C, ignore_index):
    return IndexError(f"{name}: target {target} is out of bounds for {C} classes "
                      f"(and is not ignore_index={ignore_index})")


def _check(name, logits, targets, weight, ignore_index, label_smoothing, reduction):
    """(logits (N, C), targets (N,) int64, weight (C,) or None, ignore_index, eps) checked."""
    x = as_float(name, logits, "logits", ndim=2)
    N, C = x.shape
    if not isinstance(targets, np.ndarray) or targets.dtype.kind not in "iu":
        raise TypeError(f"{name}: targets must be an integer numpy.ndarray, got "
                        f"{getattr(targets, 'dtype', type(targets).__name__)}")
    if targets.shape != (N,):
        raise ValueError(f"{name}: targets must have shape ({N},) for logits {x.shape}, "
                         f"got {targets.shape}")
    if weight is not None:
        weight = as_float(name, weight, "weight")
        if weight.shape != (C,) or weight.dtype != x.dtype:
            raise ValueError(f"{name}: weight must have shape ({C},) and dtype {x.dtype} like "
                             f"logits {x.shape}, got {weight.shape} {weight.dtype}")
    ignore_index, eps = check_options(name, ignore_index, label_smoothing, reduction)
    return x, np.ascontiguousarray(targets, dtype=np.int64), weight, ignore_index, eps


# ---- reference ---------------------------------------------------------------


def cross_entropy_forward_reference(logits, targets, weight=None, ignore_index=-100,
                                    label_smoothing=0.0, reduction="mean"):
    x, t, w, ignore_index, eps = _check(NAME, logits, targets, weight, ignore_index,
                                        label_smoothing, reduction)
    N, C = x.shape
    kept = t != ignore_index
    bad = kept & ((t < 0) | (t >= C))
    if bad.any():
        raise bad_target_error(NAME, t[bad][0], C, ignore_index)
    x64 = x.astype(np.float64)
    w = np.ones(C) if w is None else w.astype(np.float64)
    tc = np.where(kept, t, 0)                      # a safe index for ignored rows
    z = x64 - x64.max(axis=1, keepdims=True) if C else x64
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))             # (N, C)
    wt = np.where(kept, w[tc] if C else 0.0, 0.0)  # w[t_i], 0 for ignored rows
    rows = np.arange(N)
    # np.where, not a product with 0: an ignored row may hold -inf log-probs
    loss = np.where(kept, -(1 - eps) * wt * (logp[rows, tc] if C else 0.0), 0.0)  # (N,)
    q = np.zeros_like(logp)                        # d loss_i / d logp_i
    q[rows[kept], tc[kept]] = -(1 - eps) * wt[kept]
    if eps:
        loss -= np.where(kept, eps / C * (logp * w).sum(axis=1), 0.0)
        q -= np.where(kept[:, None], eps / C * w, 0.0)
    dlogits = np.where(kept[:, None], q - np.exp(logp) * q.sum(axis=1, keepdims=True), 0.0)
    if reduction == "none":
        return loss.astype(x.dtype), dlogits.astype(x.dtype)
    total = loss.sum()
    if reduction == "mean":
        denom = wt.sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            total = total / denom                  # NaN when every row is ignored
        if kept.any():
            dlogits = dlogits / denom
    return np.asarray(total, dtype=x.dtype), dlogits.astype(x.dtype)


# ---- Numba CPU kernel ------------------------------------------------------------


@cpu_kernel
def _cross_entropy_forward(losses, dlogits, logits, targets, weight, ignore_index, eps, mean):
    """Fills losses (N,) and dlogits (N, C); returns (bad_row, total) where
    bad_row is the first row with an out-of-range target (-1 if none; then
    nothing is written) and total is sum_i loss_i, divided by the
    denominator when `mean`."""
    N, C = logits.shape
    one = logits.dtype.type(1)
    # Targets first: reject a bad one before writing anything, and sum the
    # denominator in float64 because 'mean' needs it before the first row.
    denom = 0.0
    for n in range(N):
        t = targets[n]
        if t != ignore_index:
            if t < 0 or t >= C:
                return n, 0.0
            denom += weight[t]
    scale = logits.dtype.type(1 / denom) if mean else one
    W = np.float32(0)  # sum_c w[c]; unifies to float64 for float64 rows
    for c in range(C):
        W += weight[c]
    keep = one - eps         # weight of the target's one-hot term
    smooth = eps / logits.dtype.type(C)  # weight of the uniform term (float32 / int64 is float64)
    sw = scale * smooth      # d[c] gets - sw * w[c]
    total = 0.0              # float64: N row losses add up without drift
    for n in range(N):
        t = targets[n]
        x, d = logits[n], dlogits[n]
        if t == ignore_index:
            losses[n] = 0
            for c in range(C):
                d[c] = 0
            continue
        m = x[0]
        for c in range(1, C):
            m = max(m, x[c])
        s = np.float32(0)
        for c in range(C):
            e = fast_exp(x[c] - m)
            d[c] = e         # exp kept in place of the gradient: no softmax array
            s += e
        lse = m + math.log(s)  # log sum_c exp(x[c]); -logp[c] = lse - x[c] >= 0
        wt = weight[t]
        a = scale * (keep * wt + smooth * W) / s  # softmax[c] * (-sum_c q_c), scaled
        u = np.float32(0)    # sum_c w[c] * -logp[c], the smoothing term
        if eps > 0:
            # A sum of terms >= 0, so no cancellation at large C. Skipped when
            # eps == 0, as in PyTorch: a -inf logit would give 0 * inf = NaN.
            for c in range(C):
                u += weight[c] * (lse - x[c])
                d[c] = d[c] * a - sw * weight[c]
        else:
            for c in range(C):
                d[c] *= a
        d[t] -= scale * keep * wt
        loss = keep * wt * (lse - x[t]) + smooth * u
        losses[n] = loss
        total += loss
    return -1, total * scale if mean else total  # all rows ignored: 0 * inf = NaN, as PyTorch


def cross_entropy_forward(logits, targets, weight=None, ignore_index=-100,
                          label_smoothing=0.0, reduction="mean"):
    """(loss, dlogits) by the fused Numba kernel; loss is 0-d for 'mean'/'sum'."""
    x, t, w, ignore_index, eps = _check(NAME, logits, targets, weight, ignore_index,
                                        label_smoothing, reduction)
    N, C = x.shape
    w = np.ones(C, x.dtype) if w is None else w
    losses, dlogits = np.empty(N, x.dtype), np.empty_like(x)
    bad, total = _cross_entropy_forward(losses, dlogits, x, t, w, ignore_index,
                                        x.dtype.type(eps), reduction == "mean")
    if bad >= 0:
        raise bad_target_error(NAME, t[bad], C, ignore_index)
    return (losses if reduction == "none" else np.asarray(total, dtype=x.dtype)), dlogits


# ---- registry ------------------------------------------------------------------


def _example(rng, dtype, N, C):
    """Random logits and targets, with weights, ignored rows, smoothing and
    reduction drawn too so that every combination gets exercised."""
    logits = (rng.standard_normal((N, C)) * 3).astype(dtype)
    ignore_index = int(rng.choice([-100, rng.integers(C)]))
    targets = rng.integers(0, C, N)
    targets[rng.random(N) < 0.2] = ignore_index
    weight = rng.uniform(0.5, 2.0, C).astype(dtype) if rng.random() < 0.5 else None
    eps = float(rng.choice([0.0, 0.1, rng.random()]))
    reduction = str(rng.choice(REDUCTIONS))  # all rows ignored + mean: NaN, compared as NaN
    return logits, targets, weight, ignore_index, eps, reduction


# float32 tolerances: the CPU kernel's worst error was half of rtol=1e-5, atol=1e-6;
# rtol is doubled for the GPU's expf/logf, an ulp or two less exact than fast_exp.
register(Kernel(NAME, cross_entropy_forward_reference, cross_entropy_forward,
                lazy_cuda("cross_entropy", NAME), _example,
                {"N": (0, 40), "C": (1, 130)}, {"N": (1, 5), "C": (1, 9)}, {"N": 2048, "C": 96},
                rtol=2e-5, atol=1e-6))
