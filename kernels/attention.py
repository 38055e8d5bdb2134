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
    (its causal flag only says that att is 0 above the diagonal, so a kernel
    may skip those keys)
Must match torch.nn.functional.scaled_dot_product_attention (math backend,
no dropout), including its "safe softmax": a query that may attend to no key
gets output 0 and gradient 0, not NaN. The references below are the
specification. The CPU wrappers run the products as batched np.matmul (BLAS)
on the caller's arrays as they are (no copies), causal ones in blocks that
skip the hidden keys, and fuse the rest into one Numba pass over the score
rows: scale + causal/mask + safe softmax forward, softmax backward + scale
after; two threads share the batch.
The CUDA twins are in kernels/cuda/attention.py.
"""
import math

import numpy as np

from .fastmath import fast_exp
from .jit import cpu_kernel, in_halves
from .registry import Kernel, register
from .validate import FLOATS, as_float, lazy_cuda, same_dtype

# How the softmax kernels read `mask` (one argument, so one kernel signature).
NO_MASK, KEEP_MASK, ADD_MASK = 0, 1, 2  # none / bool: True may attend / float: added
THREADED_WORK = 1 << 20  # multiply-adds from which the batch is split over two threads
CHUNK = 32               # query rows (keys for dk, dv) per product, for long sequences (_block)

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


def attention_backward_reference(dout, q, k, v, att, scale=None, causal=False):
    # causal only tells a kernel that att is 0 above the diagonal, which the
    # products below handle as they are
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
    # With causal, scores past key t of row t are not read (never computed).
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
def _softmax_backward(dscores, att, scale, n_keys):
    # dscores (B, H, T, S): datt = dout @ v^T on entry, dscores * scale on exit,
    # in the first n_keys[t] keys of row t (the rest is never computed nor read).
    B, H, T, S = att.shape
    for b in range(B):
        for h in range(H):
            for t in range(T):
                n = n_keys[t]
                g, p = dscores[b, h, t, :n], att[b, h, t, :n]
                dot = np.float32(0)
                for s in range(n):
                    dot += g[s] * p[s]
                for s in range(n):
                    g[s] = p[s] * (g[s] - dot) * scale


# ---- wrappers ----------------------------------------------------------------
# The products run as batched np.matmul (BLAS) straight on the caller's
# arrays, whatever their strides (in a GPT, q, k, v are head views of one
# fused projection and out goes back to (B, T, C) rows: nothing is copied).
# Query rows (and keys, for dk and dv) go in blocks (_block): with causal, a
# block multiplies only the keys it can see (5/8 of the work at T = 128).
# The blocks also keep each product small (32 x 128 x 32 at T = 128): should
# OpenBLAS have its own threads (TINYLM_OWN_THREADS=0), it runs those on the
# calling thread, while from M*N*K = 2^19 it splits a product over its
# threads, which ran these shapes 2-5x slower here. The batch is split
# between two threads (np.matmul and the Numba kernels release the GIL),
# each with its own heads and outputs.


def _block(T):
    """Rows per block: CHUNK once T >= 4 CHUNK. At T = 128, GPT-d256's
    training step ran 4% faster with blocks of 32 than of 128; at T = 64,
    GPT-d128's ran 3% faster with one block than with two of 32."""
    return CHUNK if T >= 4 * CHUNK else max(T, 1)


def _row_blocks(T, S, causal):
    """(t0, t1, s1): query rows t0..t1-1 and the keys 0..s1-1 they can see."""
    n = _block(T)
    return [(t0, min(t0 + n, T), min(t0 + n, S) if causal else S) for t0 in range(0, T, n)]


def _key_blocks(T, S, causal):
    """(s0, s1, t0): keys s0..s1-1 and the first query t0 that can see them."""
    n = _block(T)
    return [(s0, min(s0 + n, S), min(s0, T) if causal else 0) for s0 in range(0, S, n)]


def _forward_part(out, att, q, k, v, mask, kind, causal, scale):
    T, S = att.shape[2:]
    blocks = _row_blocks(T, S, causal)
    for t0, t1, s1 in blocks:
        np.matmul(q[:, :, t0:t1], _t(k[:, :, :s1]), out=att[:, :, t0:t1, :s1])
    _masked_softmax(att, mask, kind, causal, scale)
    for t0, t1, s1 in blocks:
        np.matmul(att[:, :, t0:t1, :s1], v[:, :, :s1], out=out[:, :, t0:t1])


def _backward_part(dq, dk, dv, dout, q, k, v, att, scale, causal):
    T, S = att.shape[2:]
    dscores = np.empty(att.shape, att.dtype)
    blocks = _row_blocks(T, S, causal)
    for t0, t1, s1 in blocks:  # datt
        np.matmul(dout[:, :, t0:t1], _t(v[:, :, :s1]), out=dscores[:, :, t0:t1, :s1])
    n_keys = np.empty(T, np.int64)
    for t0, t1, s1 in blocks:
        n_keys[t0:t1] = s1
    _softmax_backward(dscores, att, scale, n_keys)
    for t0, t1, s1 in blocks:
        np.matmul(dscores[:, :, t0:t1, :s1], k[:, :, :s1], out=dq[:, :, t0:t1])
    for s0, s1, t0 in _key_blocks(T, S, causal):
        np.matmul(_t(dscores[:, :, t0:, s0:s1]), q[:, :, t0:], out=dk[:, :, s0:s1])
        np.matmul(_t(att[:, :, t0:, s0:s1]), dout[:, :, t0:], out=dv[:, :, s0:s1])


def _in_two(part, arrays, rest, work):
    """part(*arrays, *rest) with the 4-D arrays cut in two along B (or H when
    B is 1), one half per thread, once `work` (multiply-adds) pays for it.
    Arrays with a 1 on that axis (a broadcast mask) go whole to both."""
    B, H = arrays[0].shape[:2]
    axis = 0 if B > 1 else 1
    n = arrays[0].shape[axis]
    if work < THREADED_WORK or n < 2:
        return part(*arrays, *rest)

    def half(i, j):
        cut = [a if a.shape[axis] == 1 else (a[i:j] if axis == 0 else a[:, i:j]) for a in arrays]
        part(*cut, *rest)
    in_halves(half, n)


def _t(a):
    return a.swapaxes(-1, -2)


def _host(name, a, what):
    """a checked as a 4-D float ndarray and left in its own strides."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name}: {what} must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype not in FLOATS:
        raise TypeError(f"{name}: {what} must be float32 or float64, got {a.dtype}")
    if a.ndim != 4:
        raise ValueError(f"{name}: {what} must have 4 dims, got shape {a.shape}")
    return a


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
    q, k, v = (_host(name, a, what) for a, what in ((q, "q"), (k, "k"), (v, "v")))
    check_shapes(name, q, k, v)
    return q, k, v


def attention_forward(q, k, v, mask=None, causal=False, scale=None):
    """(out (B, H, T, Ev), att (B, H, T, S)): BLAS products around the fused
    scale + mask + safe-softmax kernel. out is a view of a (B, T, H, Ev)
    array, so out.transpose(1, 2) (the heads side by side again) is contiguous."""
    name = "attention_forward"
    q, k, v = _host_qkv(name, q, k, v)
    B, H, T, E = q.shape
    S, Ev = k.shape[2], v.shape[3]
    shape = (B, H, T, S)
    if mask is not None and not isinstance(mask, np.ndarray):
        raise TypeError(f"{name}: mask must be a numpy.ndarray or None, got {type(mask).__name__}")
    kind = check_mask(name, mask, shape, q.dtype)
    scale = q.dtype.type(default_scale(E, scale))
    if kind == NO_MASK:  # a placeholder of the type of a float mask, never read
        mask = np.zeros((1, 1, 1, 1), q.dtype)
    else:  # (MB, MH, MT, S): leading dims stay 1 where they broadcast
        mask = mask.reshape((1,) * (4 - mask.ndim) + mask.shape)
        mask = np.ascontiguousarray(np.broadcast_to(mask, mask.shape[:3] + shape[3:]))
    out = np.empty((B, T, H, Ev), q.dtype).swapaxes(1, 2)
    att = np.empty(shape, q.dtype)
    _in_two(_forward_part, (out, att, q, k, v, mask), (kind, bool(causal), scale), B * H * T * S * (E + Ev))
    return out, att


def attention_backward(dout, q, k, v, att, scale=None, causal=False):
    """(dq, dk, dv) from the output gradient and the saved weights att, each a
    view of a (B, T, H, .) array like attention_forward's out. causal: att is
    zero above the diagonal (the forward was causal), so those keys are skipped."""
    name = "attention_backward"
    q, k, v = _host_qkv(name, q, k, v)
    dout = _host(name, dout, "dout")
    att = as_float(name, att, "att", ndim=4)
    same_dtype(name, dout=dout, q=q, att=att)
    B, H, T, E = q.shape
    S, Ev = k.shape[2], v.shape[3]
    if dout.shape != (B, H, T, Ev) or att.shape != (B, H, T, S):
        raise ValueError(f"{name}: dout {dout.shape} must be (B, H, T, Ev) = {(B, H, T, Ev)} "
                         f"and att {att.shape} (B, H, T, S) = {(B, H, T, S)}")
    scale = q.dtype.type(default_scale(E, scale))
    dq, dk, dv = (np.empty((B, n, H, e), q.dtype).swapaxes(1, 2) for n, e in ((T, E), (S, E), (S, Ev)))
    _in_two(_backward_part, (dq, dk, dv, dout, q, k, v, att), (scale, bool(causal)),
            2 * B * H * T * S * (E + Ev))
    return dq, dk, dv


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
    return tuple(a.astype(dtype) for a in (dout, q, k, v, att)) + (scale, causal)


SIZES = {"B": (1, 2), "H": (1, 3), "T": (0, 140), "S": (0, 140), "E": (1, 9), "Ev": (1, 9),  # T, S: blocks
         "variant": (0, 4)}
SIM_SIZES = {"B": (1, 2), "H": (1, 2), "T": (1, 4), "S": (1, 5), "E": (1, 3), "Ev": (1, 3),
             "variant": (0, 4)}
BENCH = {"B": 8, "H": 4, "T": 128, "S": 128, "E": 32, "Ev": 32, "variant": 1}

for _name, _ref, _cpu, _ex in (
        ("attention_forward", attention_forward_reference, attention_forward, _example_forward),
        ("attention_backward", attention_backward_reference, attention_backward, _example_backward)):
    register(Kernel(_name, _ref, _cpu, lazy_cuda("attention", _name), _ex, SIZES, SIM_SIZES, BENCH,
                    rtol=1e-4, atol=1e-5))
