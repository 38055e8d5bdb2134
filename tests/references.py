"""Plain NumPy references for the fused functional ops, written independently
of tinylm (loops where a loop says it more plainly). All compute in float64."""
import math

import numpy as np


def softmax(x, dim):
    z = np.exp(x - x.max(axis=dim, keepdims=True))
    return z / z.sum(axis=dim, keepdims=True)


def log_softmax(x, dim):
    m = x.max(axis=dim, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=dim, keepdims=True))


def gelu(x, approximate="none"):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return np.vectorize(lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))))(x) if x.size else x


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def linear(x, w, b=None):
    y = x @ w.T
    return y if b is None else y + b


def layer_norm(x, normalized_shape, w=None, b=None, eps=1e-5):
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mu) / np.sqrt(var + eps)
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y


def embedding(idx, w):
    return w[idx]


def cross_entropy(x, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0, from_logits=True):
    """Row by row, as the PyTorch docs define it (class dim 1, or 0 when unbatched)."""
    if x.ndim == 1:
        x, target = x[None], np.asarray(target)[None]
        unbatched = True
    else:
        unbatched = False
    C = x.shape[1]
    rows = np.moveaxis(x, 1, -1).reshape(-1, C)
    tgt = np.asarray(target).reshape(-1)
    w = np.ones(C) if weight is None else weight
    losses, denom = [], 0.0
    for r, t in zip(rows, tgt):
        if t == ignore_index:
            losses.append(0.0)
            continue
        logp = log_softmax(r, 0) if from_logits else r
        nll = -w[t] * logp[t]
        smooth = -(w * logp).sum()
        losses.append((1 - label_smoothing) * nll + label_smoothing / C * smooth)
        denom += w[t]
    losses = np.array(losses)
    if reduction == "none":
        out_shape = () if unbatched else (x.shape[0],) + x.shape[2:]
        return losses.reshape(out_shape)
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / denom if denom else np.nan


def nll_loss(x, target, weight=None, ignore_index=-100, reduction="mean"):
    return cross_entropy(x, target, weight, ignore_index, reduction, 0.0, from_logits=False)


def soft_cross_entropy(x, p, weight=None, reduction="mean", label_smoothing=0.0):
    dim = 0 if x.ndim == 1 else 1
    C = x.shape[dim]
    p = p * (1 - label_smoothing) + label_smoothing / C
    w = 1.0 if weight is None else weight.reshape((C,) + (1,) * (x.ndim - dim - 1))
    loss = -(log_softmax(x, dim) * p * w).sum(axis=dim)
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]


def mse_loss(x, y, reduction="mean"):
    sq = (x - y) ** 2
    return {"none": sq, "sum": sq.sum(), "mean": sq.mean()}[reduction]


def attention(q, k, v, mask=None, is_causal=False, scale=None):
    """mask: bool (True = attend) or float (added); fully masked rows give 0."""
    L, S = q.shape[-2], k.shape[-2]
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    allowed = np.ones(s.shape, dtype=bool)
    if is_causal:
        allowed &= np.tril(np.ones((L, S), dtype=bool))
    if mask is not None and mask.dtype == bool:
        allowed &= mask
    elif mask is not None:
        s = s + mask
        allowed &= ~np.isneginf(s)
    s = np.where(allowed, s, -np.inf)
    m = np.max(s, axis=-1, keepdims=True)
    m = np.where(np.isneginf(m), 0, m)
    e = np.where(allowed, np.exp(s - m), 0)
    tot = e.sum(-1, keepdims=True)
    p = np.divide(e, tot, out=np.zeros_like(e), where=tot > 0)
    return p @ v


def lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh):
    """torch.nn.LSTMCell, gate order i, f, g, o."""
    gates = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
    i, f, g, o = np.split(gates, 4, axis=-1)
    c_new = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c_new), c_new


def gru_cell(x, h, w_ih, w_hh, b_ih, b_hh):
    """torch.nn.GRUCell, gate order r, z, n; r gates only the hidden part of n."""
    ir, iz, in_ = np.split(x @ w_ih.T + b_ih, 3, axis=-1)
    hr, hz, hn = np.split(h @ w_hh.T + b_hh, 3, axis=-1)
    r, z = sigmoid(ir + hr), sigmoid(iz + hz)
    n = np.tanh(in_ + r * hn)
    return (1 - z) * n + z * h
