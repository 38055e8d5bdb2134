"""Scaled dot-product attention, forward and backward.

Shapes: q (B, H, T, E), k (B, H, S, E), v (B, H, S, Ev), out and dout
(B, H, T, Ev), att, scores and their gradients (B, H, T, S).
    scores = q @ k^T * scale                          (scale: 1/sqrt(E) if None)
             causal: query t sees keys s <= t (top-left aligned tril(ones(T, S)))
             mask: bool (True = may attend) or float (added to the scores),
                   anything that broadcasts to (B, H, T, S)
    att    = softmax(scores) over s; a row whose scores are all -inf gives 0
    out    = att @ v
Backward (att saved by the forward; masked keys have att = 0, so no gradient):
    datt = dout @ v^T                dv = att^T @ dout
    dscores = att * (datt - sum_s(datt * att))
    dq = dscores @ k * scale         dk = dscores^T @ q * scale
Must match torch.nn.functional.scaled_dot_product_attention (math backend,
no dropout), including its "safe softmax": a query that may attend to no key
gets output 0 and gradient 0, not NaN. The references below are the
specification. The CPU wrappers run the products as batched np.matmul (BLAS)
and fuse the rest into one Numba pass over the (B*H*T, S) score rows:
scale + causal/mask + safe softmax forward, softmax backward + scale after.
The CUDA twins are in kernels/cuda/attention.py.
"""
import math

import numpy as np

from .fastmath import fast_exp
from .jit import cpu_kernel
from .registry import Kernel, register
from .validate import FLOATS, as_float, lazy_cuda, same_dtype

# How the softmax kernels read `mask` (one argument, so one kernel signature).
NO_MASK, KEEP_MASK, ADD_MASK = 0, 1, 2  # none / bool: True may attend / float: added

# ---- references ------------------------------------------------------------


def default_scale(E, scale):
    """The scale the caller gave, or torch's default 1/sqrt(E)."""
    if scale is not None:
        return float(scale)
    return 1.0 / math.sqrt(E) if E else math.inf


def attention_forward_reference(q, k, v, mask=None, causal=False, scale=None):
    q64, k64, v64 = (a.astype(np.float64) for a in (q, k, v))
    T, S = q.shape[-2], k.shape[-2]
    s = q64 @ np.swapaxes(k64, -1, -2) * default_scale(q.shape[-1], scale)  # (B, H, T, S)
    if mask is not None and mask.dtype == np.bool_:
        s = np.where(mask, s, -np.inf)
    elif mask is not None:
        s = s + mask
    if causal:
        s = np.where(np.tri(T, S, dtype=bool), s, -np.inf)
    dead = (s == -np.inf).all(axis=-1, keepdims=True)  # rows that see no key
    m = np.where(dead, 0.0, s.max(axis=-1, keepdims=True, initial=-np.inf))
    e = np.exp(s - m)
    with np.errstate(invalid="ignore", divide="ignore"):
        att = np.where(dead, 0.0, e / e.sum(axis=-1, keepdims=True))
    return (att @ v64).astype(q.dtype), att.astype(q.dtype)


def attention_backward_reference(dout, q, k, v, att, scale=None):
    dout64, q64, k64, v64, att64 = (a.astype(np.float64) for a in (dout, q, k, v, att))
    scale = default_scale(q.shape[-1], scale)
    datt = dout64 @ np.swapaxes(v64, -1, -2)
    dv = np.swapaxes(att64, -1, -2) @ dout64
    dscores = att64 * (datt - (datt * att64).sum(axis=-1, keepdims=True))
    dq = dscores @ k64 * scale
    dk = np.swapaxes(dscores, -1, -2) @ q64 * scale
    return dq.astype(q.dtype), dk.astype(q.dtype), dv.astype(q.dtype)


# ---- Numba CPU kernels -------------------------------------------------------


@cpu_kernel
def _masked_softmax(att, mask, kind, causal, scale):
    # att (B, H, T, S): q @ k^T on entry, the attention weights on exit.
    # mask (MB, MH, MT, S), read as `kind`: each of MB, MH, MT is 1 (broadcast,
    # read at index 0) or full, so each row of it is contiguous and vectorises.
    B, H, T, S = att.shape
    MB, MH, MT, _ = mask.shape
    neg_inf, zero, one = np.float32(-np.inf), np.float32(0), np.float32(1)
    for b in range(B):
        for h in range(H):
            for t in range(T):
                row = att[b, h, t]
                # keys at and past `live` are hidden by causality: weight 0, no work
                live = min(t + 1, S) if causal else S
                for s in range(live):
                    row[s] *= scale
                if kind != NO_MASK:
                    w = mask[min(b, MB - 1), min(h, MH - 1), min(t, MT - 1)]
                    if kind == ADD_MASK:
                        for s in range(live):
                            row[s] += w[s]
                    else:
                        for s in range(live):
                            row[s] = row[s] if w[s] else neg_inf
                m = neg_inf
                for s in range(live):
                    m = max(m, row[s])
                # A row of all -inf: shift by 0, so every exp is 0 and total is 0;
                # then inv = 0 gives the zero row (NaN scores still give NaN).
                m = zero if m == neg_inf else m
                total = zero  # widens to float64 for float64 rows
                for s in range(live):
                    e = fast_exp(row[s] - m)
                    row[s] = e
                    total += e
                inv = zero if total == zero else one / total
                for s in range(live):
                    row[s] *= inv
                for s in range(live, S):
                    row[s] = zero


@cpu_kernel
def _softmax_backward(dscores, att, scale):
    # dscores (N, S) rows: datt = dout @ v^T on entry, dscores * scale on exit.
    N, S = att.shape
    for n in range(N):
        g, p = dscores[n], att[n]
        dot = np.float32(0)
        for s in range(S):
            dot += g[s] * p[s]
        for s in range(S):
            g[s] = p[s] * (g[s] - dot) * scale


# ---- wrappers ----------------------------------------------------------------


def check_shapes(name, q, k, v):
    """q (B, H, T, E), k (B, H, S, E), v (B, H, S, Ev) of one float dtype
    (host or device arrays)."""
    for a, what in ((q, "q"), (k, "k"), (v, "v")):
        if np.dtype(a.dtype) not in FLOATS:
            raise TypeError(f"{name}: {what} must be float32 or float64, got {a.dtype}")
        if a.ndim != 4:
            raise ValueError(f"{name}: {what} must have 4 dims (B, H, ., .), got shape {a.shape}")
    if len({q.dtype, k.dtype, v.dtype}) > 1:
        raise TypeError(f"{name}: q, k and v must share one dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if q.shape[:2] != k.shape[:2] or k.shape[:2] != v.shape[:2]:
        raise ValueError(f"{name}: q {q.shape}, k {k.shape} and v {v.shape} must share (B, H)")
    if q.shape[3] != k.shape[3]:
        raise ValueError(f"{name}: q {q.shape} and k {k.shape} differ in E: "
                         f"{q.shape[3]} != {k.shape[3]}")
    if k.shape[2] != v.shape[2]:
        raise ValueError(f"{name}: k {k.shape} and v {v.shape} differ in S: "
                         f"{k.shape[2]} != {v.shape[2]}")


def check_mask(name, mask, shape, dtype):
    """NO_MASK, KEEP_MASK or ADD_MASK for `mask` (None, bool, or float of the
    scores' dtype, as PyTorch asks; host or device), checked to broadcast to
    the scores' `shape` (B, H, T, S)."""
    if mask is None:
        return NO_MASK
    if np.dtype(mask.dtype) not in (np.dtype(np.bool_), dtype):
        raise TypeError(f"{name}: mask must be bool (True = may attend) or {dtype} (added to the "
                        f"scores), got {mask.dtype}")
    try:
        ok = np.broadcast_shapes(mask.shape, shape) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{name}: mask of shape {mask.shape} does not broadcast to the scores' "
                         f"shape {tuple(shape)} (B, H, T, S)")
    return KEEP_MASK if mask.dtype == np.bool_ else ADD_MASK


def _host_qkv(name, q, k, v):
    q, k, v = (as_float(name, a, what) for a, what in ((q, "q"), (k, "k"), (v, "v")))
    check_shapes(name, q, k, v)
    return q, k, v


def attention_forward(q, k, v, mask=None, causal=False, scale=None):
    """(out (B, H, T, Ev), att (B, H, T, S)): batched BLAS products around the
    fused scale + mask + safe-softmax kernel."""
    name = "attention_forward"
    q, k, v = _host_qkv(name, q, k, v)
    B, H, T, _ = q.shape
    shape = (B, H, T, k.shape[2])
    if mask is not None and not isinstance(mask, np.ndarray):
        raise TypeError(f"{name}: mask must be a numpy.ndarray or None, got {type(mask).__name__}")
    kind = check_mask(name, mask, shape, q.dtype)
    scale = q.dtype.type(default_scale(q.shape[3], scale))
    if kind == NO_MASK:  # a placeholder of the type of a float mask, never read
        mask = np.zeros((1, 1, 1, 1), q.dtype)
    else:  # (MB, MH, MT, S): leading dims stay 1 where they broadcast
        mask = mask.reshape((1,) * (4 - mask.ndim) + mask.shape)
        mask = np.ascontiguousarray(np.broadcast_to(mask, mask.shape[:3] + shape[3:]))
    att = np.matmul(q, k.swapaxes(-1, -2))  # (B, H, T, S)
    if att.size:
        _masked_softmax(att, mask, kind, bool(causal), scale)
    return np.matmul(att, v), att


def attention_backward(dout, q, k, v, att, scale=None):
    """(dq, dk, dv) from the output gradient and the saved weights att."""
    name = "attention_backward"
    q, k, v = _host_qkv(name, q, k, v)
    dout = as_float(name, dout, "dout", ndim=4)
    att = as_float(name, att, "att", ndim=4)
    same_dtype(name, dout=dout, q=q, att=att)
    B, H, T, _ = q.shape
    if dout.shape != (B, H, T, v.shape[3]) or att.shape != (B, H, T, k.shape[2]):
        raise ValueError(f"{name}: dout {dout.shape} must be (B, H, T, Ev) = {(B, H, T, v.shape[3])} "
                         f"and att {att.shape} (B, H, T, S) = {(B, H, T, k.shape[2])}")
    scale = q.dtype.type(default_scale(q.shape[3], scale))
    dscores = np.matmul(dout, v.swapaxes(-1, -2))  # datt, (B, H, T, S)
    if dscores.size:
        S = dscores.shape[3]
        _softmax_backward(dscores.reshape(-1, S), att.reshape(-1, S), scale)
    dv = np.matmul(att.swapaxes(-1, -2), dout)
    return np.matmul(dscores, k), np.matmul(dscores.swapaxes(-1, -2), q), dv


# ---- registry ------------------------------------------------------------------


def _example_forward(rng, dtype, B, H, T, S, E, Ev, variant):
    """variant 0: no mask, default scale; 1: causal; 2: bool mask (B, 1, T, S);
    3: float mask (T, S) with -inf; 4: causal and a key-padding bool mask (B, 1, 1, S).
    Variants 2-4 include rows that may attend to no key."""
    shapes = (B, H, T, E), (B, H, S, E), (B, H, S, Ev)
    q, k, v = (rng.standard_normal(s).astype(dtype) for s in shapes)
    mask, causal, scale = None, variant in (1, 4), (None if variant == 0 else 1 / math.sqrt(E or 1))
    if variant == 2:
        mask = rng.random((B, 1, T, S)) < 0.7
        mask[:, :, :1] = False
    elif variant == 3:
        mask = (rng.standard_normal((T, S)) * 2).astype(dtype)
        mask[rng.random((T, S)) < 0.3] = -np.inf
        mask[T // 2:T // 2 + 1] = -np.inf
    elif variant == 4:
        mask = rng.random((B, 1, 1, S)) < 0.7
        mask[..., :1] = False
    return q, k, v, mask, causal, scale


def _example_backward(rng, dtype, B, H, T, S, E, Ev, variant):
    q, k, v, mask, causal, scale = _example_forward(rng, np.float64, B, H, T, S, E, Ev, variant)
    att = attention_forward_reference(q, k, v, mask, causal, scale)[1]
    dout = rng.standard_normal((B, H, T, Ev))
    return tuple(a.astype(dtype) for a in (dout, q, k, v, att)) + (scale,)


SIZES = {"B": (1, 2), "H": (1, 3), "T": (0, 19), "S": (0, 19), "E": (1, 9), "Ev": (1, 9),
         "variant": (0, 4)}
SIM_SIZES = {"B": (1, 2), "H": (1, 2), "T": (1, 4), "S": (1, 5), "E": (1, 3), "Ev": (1, 3),
             "variant": (0, 4)}
BENCH = {"B": 8, "H": 4, "T": 128, "S": 128, "E": 32, "Ev": 32, "variant": 1}

for _name, _ref, _cpu, _ex in (
        ("attention_forward", attention_forward_reference, attention_forward, _example_forward),
        ("attention_backward", attention_backward_reference, attention_backward, _example_backward)):
    register(Kernel(_name, _ref, _cpu, lazy_cuda("attention", _name), _ex, SIZES, SIM_SIZES, BENCH,
                    rtol=1e-4, atol=1e-5))
