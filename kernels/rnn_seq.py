"""A whole LSTM or GRU layer's recurrence, forward and backward, with the
time loop inside Numba: the recurrent GEMM and the fused cell of every step
run without returning to Python.

Shapes: T steps, N batch rows, H hidden units; G = 4H (LSTM) or 3H (GRU).
The input projection for all steps (x W_ih^T + b) comes in precomputed, as
in cuDNN. reverse=True walks t = T-1 .. 0; outputs stay at their own time
index. h_prev(t) is h0 for the first step of the walk, else the h the
previous step left (hs[t-1], or hs[t+1] when reverse).

LSTM (torch.nn.LSTM's maths; the cell is kernels/rnn_cells.py's):
  lstm_seq_forward(xg (T, N, 4H), h0 (N, H), c0 (N, H), w_hh (4H, H), reverse)
      -> (hs (T, N, H), cs (T, N, H), acts (T, N, 4H))
    gates_t = xg[t] + h_prev(t) W_hh^T;  (hs[t], cs[t], acts[t]) = lstm_cell_forward(gates_t, c_prev(t))
  lstm_seq_backward(dhs (T, N, H), dc_n (N, H), h0, c0, w_hh, hs, cs, acts, reverse)
      -> (dxg (T, N, 4H), dh0 (N, H), dc0 (N, H), dw_hh (4H, H))
    dhs: the gradient reaching each h_t from outside (h_n's included, as
    h_n is one of the hs); dc_n: the gradient reaching the last c. Walking
    back, dh carried from step t+1 is dgates_{t+1} W_hh, and
      dw_hh = sum over t of dxg[t]^T h_prev(t)
    is one GEMM over all T*N rows after the loop.

GRU (torch.nn.GRU's maths; b_hh stays apart because r multiplies W_hn h + b_hn):
  gru_seq_forward(gi (T, N, 3H), h0 (N, H), w_hh (3H, H), b_hh (3H,) or None, reverse)
      -> (hs (T, N, H), acts (T, N, 4H))
    gh_t = h_prev(t) W_hh^T + b_hh;  (hs[t], acts[t]) = gru_cell_forward(gi[t], gh_t, h_prev(t))
  gru_seq_backward(dhs (T, N, H), h0, w_hh, hs, acts, reverse)
      -> (dgi (T, N, 3H), dh0 (N, H), dw_hh (3H, H), db_hh (3H,))
    dh carried back = dh_direct + dgh_t W_hh;  dw_hh = sum_t dgh_t^T h_prev(t),
    db_hh = sum over t and n of dgh_t.

References: *_reference below, plain float64 loops over the matmul and
cell references (the PyTorch fixtures check the layers built on them).

Speed: batch rows never interact within a recurrence, so the CPU wrappers
cut N into two halves that two threads walk through all T steps at once,
never waiting for each other (jit.in_halves; OpenBLAS runs serially, so no
BLAS worker spins beside them, see jit.py). A step's GEMM reads W_hh
(forward) or W_hh^T, transposed once per call (backward), in place.
"""
import numpy as np

from . import matmul
from .jit import cpu_kernel, in_halves
from .matmul import KC_BYTES, NC, PAD, matmul_forward_reference
from .registry import Kernel, register
from .rnn_cells import (_gru_backward, _gru_forward, _lstm_backward, _lstm_forward,
                        gru_cell_backward_reference, gru_cell_forward_reference,
                        lstm_cell_backward_reference, lstm_cell_forward_reference)
from .validate import as_float

# The two batch halves run on two threads from N = SPLIT_ROWS rows (4-row GEMM
# blocks each) and SPLIT_WORK multiply-adds in the recurrent GEMMs (T*N*G*H):
# handing a half to the other thread costs some 30 us, the time of ~1M of them.
SPLIT_ROWS = 8
SPLIT_WORK = 1 << 22


def _steps(T, reverse):
    return range(T - 1, -1, -1) if reverse else range(T)


# ---- references ------------------------------------------------------------


def _f64(*arrays):
    return [a.astype(np.float64) for a in arrays]


def _prev(seq, first, t, reverse):
    """h_prev(t) or c_prev(t): `first` for the first step of the walk."""
    T = seq.shape[0]
    if t == (T - 1 if reverse else 0):
        return first
    return seq[t + 1 if reverse else t - 1]


def _weight_grad_reference(d, hs, h0, reverse):
    return sum(d[t].T @ _prev(hs, h0, t, reverse) for t in range(d.shape[0]))


def lstm_seq_forward_reference(xg, h0, c0, w_hh, reverse):
    x, h, c, w = _f64(xg, h0, c0, w_hh)
    T, N, G = x.shape
    hs, cs, acts = np.empty((T, N, G // 4)), np.empty((T, N, G // 4)), np.empty((T, N, G))
    for t in _steps(T, reverse):
        gates = x[t] + matmul_forward_reference(h, w, True)
        h, c, acts[t] = lstm_cell_forward_reference(gates, c)
        hs[t], cs[t] = h, c
    return tuple(a.astype(xg.dtype) for a in (hs, cs, acts))


def lstm_seq_backward_reference(dhs, dc_n, h0, c0, w_hh, hs, cs, acts, reverse):
    dhs, dc, h0, c0, w, hs, cs, acts = _f64(dhs, dc_n, h0, c0, w_hh, hs, cs, acts)
    T = dhs.shape[0]
    dxg, dh = np.empty_like(acts), np.zeros_like(h0)
    for t in _steps(T, not reverse):
        c_prev = _prev(cs, c0, t, reverse)
        dxg[t], dc = lstm_cell_backward_reference(dhs[t] + dh, dc, c_prev, cs[t], acts[t])
        dh = matmul_forward_reference(dxg[t], w, False)
    dw = _weight_grad_reference(dxg, hs, h0, reverse)
    return tuple(a.astype(w_hh.dtype) for a in (dxg, dh, dc, dw))


def gru_seq_forward_reference(gi, h0, w_hh, b_hh, reverse):
    x, h, w = _f64(gi, h0, w_hh)
    b = 0.0 if b_hh is None else b_hh.astype(np.float64)
    T, N, G = x.shape
    hs, acts = np.empty((T, N, G // 3)), np.empty((T, N, G // 3 * 4))
    for t in _steps(T, reverse):
        h, acts[t] = gru_cell_forward_reference(x[t], matmul_forward_reference(h, w, True) + b, h)
        hs[t] = h
    return hs.astype(gi.dtype), acts.astype(gi.dtype)


def gru_seq_backward_reference(dhs, h0, w_hh, hs, acts, reverse):
    dhs, h0, w, hs, acts = _f64(dhs, h0, w_hh, hs, acts)
    T, N, H = dhs.shape
    dgi, dgh, dh = np.empty((T, N, 3 * H)), np.empty((T, N, 3 * H)), np.zeros_like(h0)
    for t in _steps(T, not reverse):
        h_prev = _prev(hs, h0, t, reverse)
        dgi[t], dgh[t], dh_direct = gru_cell_backward_reference(dhs[t] + dh, h_prev, acts[t])
        dh = dh_direct + matmul_forward_reference(dgh[t], w, False)
    dw = _weight_grad_reference(dgh, hs, h0, reverse)
    return tuple(a.astype(w_hh.dtype) for a in (dgi, dh, dw, dgh.sum(axis=(0, 1))))


# ---- Numba CPU kernels -------------------------------------------------------
# Each kernel walks all T steps for the batch rows n0:n1. Every array it
# hands to the GEMM and the cell kernels is a C-contiguous view (a[t, n0:n1]
# keeps Numba's 'C' layout; a[t:t+1] would not, and the cells' loops would
# not vectorise).


@cpu_kernel
def _rows_gemm(c, a, b, K):
    # c (M, N) = a[:, :K] @ b[:, :K]^T, the rows of a and b contiguous (either
    # may be a buffer with padded rows). matmul._gemm's register blocking
    # without its packing and layout options: a's rows are the few batch rows
    # of one step, read in place; b's rows stream in panels of NC that stay in
    # L2 while every 4-row block of a passes them. (Calling _gemm instead ran
    # as fast, but each kernel calling it took ~8 s more to compile.)
    M, N = c.shape
    kc_max = min(K, KC_BYTES // a.itemsize)
    zero = np.float32(0)  # widens to float64 for float64 input
    for k0 in range(0, K, kc_max):
        kc = min(K - k0, kc_max)
        for j0 in range(0, N, NC):
            j_end = min(j0 + NC, N) - 1
            for i in range(0, M, 4):
                r1, r2, r3 = min(i + 1, M - 1), min(i + 2, M - 1), min(i + 3, M - 1)
                a0, a1 = a[i, k0:k0 + kc], a[r1, k0:k0 + kc]
                a2, a3 = a[r2, k0:k0 + kc], a[r3, k0:k0 + kc]
                c0, c1, c2, c3 = c[i], c[r1], c[r2], c[r3]
                for j in range(j0, j_end + 1, 3):
                    q1, q2 = min(j + 1, j_end), min(j + 2, j_end)
                    b0, b1, b2 = b[j, k0:k0 + kc], b[q1, k0:k0 + kc], b[q2, k0:k0 + kc]
                    s00 = s01 = s02 = s10 = s11 = s12 = zero
                    s20 = s21 = s22 = s30 = s31 = s32 = zero
                    for k in range(kc):
                        y0, y1, y2 = b0[k], b1[k], b2[k]
                        x = a0[k]
                        s00 += x * y0; s01 += x * y1; s02 += x * y2  # noqa: E702
                        x = a1[k]
                        s10 += x * y0; s11 += x * y1; s12 += x * y2  # noqa: E702
                        x = a2[k]
                        s20 += x * y0; s21 += x * y1; s22 += x * y2  # noqa: E702
                        x = a3[k]
                        s30 += x * y0; s31 += x * y1; s32 += x * y2  # noqa: E702
                    if k0 > 0:  # later K blocks add to what earlier ones stored
                        s00 += c0[j]; s01 += c0[q1]; s02 += c0[q2]  # noqa: E702
                        s10 += c1[j]; s11 += c1[q1]; s12 += c1[q2]  # noqa: E702
                        s20 += c2[j]; s21 += c2[q1]; s22 += c2[q2]  # noqa: E702
                        s30 += c3[j]; s31 += c3[q1]; s32 += c3[q2]  # noqa: E702
                    c0[j] = s00; c0[q1] = s01; c0[q2] = s02  # noqa: E702
                    c1[j] = s10; c1[q1] = s11; c1[q2] = s12  # noqa: E702
                    c2[j] = s20; c2[q1] = s21; c2[q2] = s22  # noqa: E702
                    c3[j] = s30; c3[q1] = s31; c3[q2] = s32  # noqa: E702


@cpu_kernel
def _add_rows(out, a, b):
    # out = a + b, row by row (2-D, one shape)
    for i in range(out.shape[0]):
        o, x, y = out[i], a[i], b[i]
        for j in range(o.shape[0]):
            o[j] = x[j] + y[j]


@cpu_kernel
def _lstm_seq_forward(hs, cs, acts, xg, h0, c0, w_hh, reverse, n0, n1):
    T, _, G = xg.shape
    H, n = G // 4, n1 - n0
    gates = np.empty((n, G), xg.dtype)
    for s in range(T):
        t = T - 1 - s if reverse else s
        if s == 0:
            h_prev, c_prev = h0[n0:n1], c0[n0:n1]
        else:
            p = t + 1 if reverse else t - 1
            h_prev, c_prev = hs[p, n0:n1], cs[p, n0:n1]
        _rows_gemm(gates, h_prev, w_hh, H)    # (n, 4H) = h_prev W_hh^T
        _add_rows(gates, gates, xg[t, n0:n1])
        _lstm_forward(hs[t, n0:n1], cs[t, n0:n1], acts[t, n0:n1], gates, c_prev)


@cpu_kernel
def _lstm_seq_backward(dxg, dh0, dc0, dhs, dc_n, c0, w_t, cs, acts, reverse, n0, n1):
    # w_t: W_hh^T (H, 4H) in rows padded to 4H + PAD, so that dgates W_hh is
    # _rows_gemm's dgates @ w_t^T
    T, _, G = acts.shape
    H, n = G // 4, n1 - n0
    dh_next = np.zeros((n, H), acts.dtype)  # dgates_{t+1} W_hh: what step t+1 sends back
    dh = np.empty((n, H), acts.dtype)
    dc, dc_prev = dc_n[n0:n1].copy(), np.empty((n, H), acts.dtype)
    for s in range(T):
        t = s if reverse else T - 1 - s  # the forward walk, backwards
        c_prev = c0[n0:n1] if s == T - 1 else cs[t + 1 if reverse else t - 1, n0:n1]
        _add_rows(dh, dhs[t, n0:n1], dh_next)
        dg = dxg[t, n0:n1]
        _lstm_backward(dg, dc_prev, dh, dc, c_prev, cs[t, n0:n1], acts[t, n0:n1])
        dc, dc_prev = dc_prev, dc
        _rows_gemm(dh_next, dg, w_t, G)
    dh0[n0:n1] = dh_next
    dc0[n0:n1] = dc


@cpu_kernel
def _gru_seq_forward(hs, acts, gi, h0, w_hh, b_hh, reverse, n0, n1):
    T, _, G = gi.shape
    H, n = G // 3, n1 - n0
    gh = np.empty((n, G), gi.dtype)
    for s in range(T):
        t = T - 1 - s if reverse else s
        h_prev = h0[n0:n1] if s == 0 else hs[t + 1 if reverse else t - 1, n0:n1]
        _rows_gemm(gh, h_prev, w_hh, H)       # (n, 3H) = h_prev W_hh^T
        for b in range(n):
            gb = gh[b]
            for j in range(G):
                gb[j] += b_hh[j]
        _gru_forward(hs[t, n0:n1], acts[t, n0:n1], gi[t, n0:n1], gh, h_prev)


@cpu_kernel
def _gru_seq_backward(dgi, dgh, dh0, dhs, h0, w_t, hs, acts, reverse, n0, n1):
    # w_t: W_hh^T (H, 3H) in rows padded to 3H + PAD
    T, _, G = dgi.shape
    H, n = G // 3, n1 - n0
    dh_next = np.zeros((n, H), acts.dtype)  # what step t+1 sends back to h_t
    dh, dh_direct = np.empty((n, H), acts.dtype), np.empty((n, H), acts.dtype)
    for s in range(T):
        t = s if reverse else T - 1 - s
        h_prev = h0[n0:n1] if s == T - 1 else hs[t + 1 if reverse else t - 1, n0:n1]
        _add_rows(dh, dhs[t, n0:n1], dh_next)
        dy = dgh[t, n0:n1]
        _gru_backward(dgi[t, n0:n1], dy, dh_direct, dh, h_prev, acts[t, n0:n1])
        _rows_gemm(dh_next, dy, w_t, G)       # dgh_t W_hh
        _add_rows(dh_next, dh_next, dh_direct)
    dh0[n0:n1] = dh_next


# ---- wrappers ----------------------------------------------------------------


def _check(name, arrays, shapes):
    """arrays: name -> array; shapes: name -> expected shape. All float32 or
    all float64, C-contiguous copies where needed; returns them in order."""
    out = [as_float(name, a, what) for what, a in arrays.items()]
    dtypes = {a.dtype for a in out}
    if len(dtypes) > 1:
        raise TypeError(f"{name}: arrays must all be float32 or all float64, got "
                        + ", ".join(f"{w} {a.dtype}" for w, a in zip(arrays, out)))
    for (what, want), a in zip(shapes.items(), out):
        if a.shape != want:
            got = ", ".join(f"{w} {a.shape}" for w, a in zip(arrays, out))
            raise ValueError(f"{name}: {what} should have shape {want} for the sizes "
                             f"given by the first array, got {got}")
    return out


def _sizes(name, first, what, gates):
    """(T, N, H) from the first array (T, N, gates*H), checked."""
    T, N, GH = as_float(name, first, what, ndim=3).shape
    if GH % gates or T == 0:
        raise ValueError(f"{name}: {what} must be (T, N, {gates}H) with T >= 1, got {first.shape}")
    return T, N, GH // gates


def _split(kernel, N, work, *args):
    """kernel(*args, n0, n1) over the N batch rows: halves on two threads for
    big enough work (no step waits for the other half), else one call."""
    if N < SPLIT_ROWS or work < SPLIT_WORK:
        kernel(*args, 0, N)
    else:  # a cut at whole 4-row GEMM blocks where N allows
        in_halves(lambda n0, n1: kernel(*args, n0, n1), N, (N // 2 + 3) // 4 * 4)


def _padded_transpose(w):
    """w.T (H, G) in rows of G + PAD: a power-of-two row length would put
    the rows _rows_gemm reads together in the same cache sets (matmul.py)."""
    wt = np.empty((w.shape[1], w.shape[0] + PAD), w.dtype)
    wt[:, :w.shape[0]] = w.T
    return wt


def _weight_grad(d, hs, h0, reverse):
    """sum over t of d[t]^T h_prev(t) for d (T, N, G), hs (T, N, H) -> (G, H):
    one GEMM over the rows of all steps but the first of the walk, plus one
    for that step, whose h_prev is h0. matmul's _product reads d^T in place
    (BLAS at these sizes)."""
    T, N, G = d.shape
    H = hs.shape[2]
    first, rest_d, rest_h = (T - 1, d[:-1], hs[1:]) if reverse else (0, d[1:], hs[:-1])
    dw = matmul._product(d[first][None], True, h0[None], False)[0]
    if T > 1:
        rows = (T - 1) * N
        dw += matmul._product(rest_d.reshape(1, rows, G), True, rest_h.reshape(1, rows, H), False)[0]
    return dw


def lstm_seq_forward(xg, h0, c0, w_hh, reverse):
    T, N, H = _sizes("lstm_seq_forward", xg, "xg", 4)
    xg, h0, c0, w_hh = _check("lstm_seq_forward", {"xg": xg, "h0": h0, "c0": c0, "w_hh": w_hh},
                              {"xg": xg.shape, "h0": (N, H), "c0": (N, H), "w_hh": (4 * H, H)})
    hs, cs, acts = np.empty((T, N, H), xg.dtype), np.empty((T, N, H), xg.dtype), np.empty_like(xg)
    if N * H:
        _split(_lstm_seq_forward, N, T * N * 4 * H * H, hs, cs, acts, xg, h0, c0, w_hh, bool(reverse))
    return hs, cs, acts


def lstm_seq_backward(dhs, dc_n, h0, c0, w_hh, hs, cs, acts, reverse):
    T, N, H = _sizes("lstm_seq_backward", dhs, "dhs", 1)
    seq, state = (T, N, H), (N, H)
    dhs, dc_n, h0, c0, w_hh, hs, cs, acts = _check(
        "lstm_seq_backward",
        {"dhs": dhs, "dc_n": dc_n, "h0": h0, "c0": c0, "w_hh": w_hh, "hs": hs, "cs": cs, "acts": acts},
        {"dhs": seq, "dc_n": state, "h0": state, "c0": state, "w_hh": (4 * H, H), "hs": seq, "cs": seq,
         "acts": (T, N, 4 * H)})
    dxg, dh0, dc0 = np.empty_like(acts), np.zeros_like(h0), dc_n.copy()  # (N * H = 0: all empty)
    if N * H:
        w_t = _padded_transpose(w_hh)  # (H, 4H + PAD)
        _split(_lstm_seq_backward, N, T * N * 4 * H * H,
               dxg, dh0, dc0, dhs, dc_n, c0, w_t, cs, acts, bool(reverse))
    return dxg, dh0, dc0, _weight_grad(dxg, hs, h0, reverse)


def gru_seq_forward(gi, h0, w_hh, b_hh, reverse):
    T, N, H = _sizes("gru_seq_forward", gi, "gi", 3)
    b_hh = np.zeros(3 * H, gi.dtype) if b_hh is None else b_hh
    gi, h0, w_hh, b_hh = _check("gru_seq_forward", {"gi": gi, "h0": h0, "w_hh": w_hh, "b_hh": b_hh},
                                {"gi": gi.shape, "h0": (N, H), "w_hh": (3 * H, H), "b_hh": (3 * H,)})
    hs, acts = np.empty((T, N, H), gi.dtype), np.empty((T, N, 4 * H), gi.dtype)
    if N * H:
        _split(_gru_seq_forward, N, T * N * 3 * H * H, hs, acts, gi, h0, w_hh, b_hh, bool(reverse))
    return hs, acts


def gru_seq_backward(dhs, h0, w_hh, hs, acts, reverse):
    T, N, H = _sizes("gru_seq_backward", dhs, "dhs", 1)
    seq = (T, N, H)
    dhs, h0, w_hh, hs, acts = _check(
        "gru_seq_backward", {"dhs": dhs, "h0": h0, "w_hh": w_hh, "hs": hs, "acts": acts},
        {"dhs": seq, "h0": (N, H), "w_hh": (3 * H, H), "hs": seq, "acts": (T, N, 4 * H)})
    dgi, dgh = np.empty((T, N, 3 * H), dhs.dtype), np.empty((T, N, 3 * H), dhs.dtype)
    dh0 = np.zeros_like(h0)
    if N * H:
        w_t = _padded_transpose(w_hh)  # (H, 3H + PAD)
        _split(_gru_seq_backward, N, T * N * 3 * H * H,
               dgi, dgh, dh0, dhs, h0, w_t, hs, acts, bool(reverse))
    return dgi, dh0, _weight_grad(dgh, hs, h0, reverse), dgh.sum(axis=(0, 1))


# ---- registry ------------------------------------------------------------------
# Backward examples save what the float64 forward reference computes, so the
# saved activations agree with each other, as in training.


def _example_lstm_forward(rng, dtype, T, N, H, reverse):
    xg = rng.standard_normal((T, N, 4 * H))
    h0, c0 = rng.uniform(-1, 1, (2, N, H))
    w_hh = rng.standard_normal((4 * H, H)) / np.sqrt(max(H, 1))
    return xg.astype(dtype), h0.astype(dtype), c0.astype(dtype), w_hh.astype(dtype), bool(reverse)


def _example_lstm_backward(rng, dtype, T, N, H, reverse):
    xg, h0, c0, w_hh, rev = _example_lstm_forward(rng, np.float64, T, N, H, reverse)
    hs, cs, acts = lstm_seq_forward_reference(xg, h0, c0, w_hh, rev)
    dhs, dc_n = rng.standard_normal((T, N, H)), rng.standard_normal((N, H))
    return (*(a.astype(dtype) for a in (dhs, dc_n, h0, c0, w_hh, hs, cs, acts)), rev)


def _example_gru_forward(rng, dtype, T, N, H, reverse, bias):
    gi = rng.standard_normal((T, N, 3 * H))
    h0 = rng.uniform(-1, 1, (N, H))
    w_hh = rng.standard_normal((3 * H, H)) / np.sqrt(max(H, 1))
    b_hh = rng.standard_normal(3 * H).astype(dtype) if bias else None
    return gi.astype(dtype), h0.astype(dtype), w_hh.astype(dtype), b_hh, bool(reverse)


def _example_gru_backward(rng, dtype, T, N, H, reverse, bias):
    gi, h0, w_hh, b_hh, rev = _example_gru_forward(rng, np.float64, T, N, H, reverse, bias)
    hs, acts = gru_seq_forward_reference(gi, h0, w_hh, b_hh, rev)
    return (*(a.astype(dtype) for a in (rng.standard_normal((T, N, H)), h0, w_hh, hs, acts)), rev)


# N reaches past SPLIT_ROWS, so both the one-thread and the two-thread paths run
LSTM_SIZES = {"T": (1, 6), "N": (0, 19), "H": (0, 24), "reverse": (0, 1)}
GRU_SIZES = dict(LSTM_SIZES, bias=(0, 1))
LSTM_BENCH = {"T": 64, "N": 32, "H": 256, "reverse": 0}
GRU_BENCH = dict(LSTM_BENCH, bias=1)

for _name, _ref, _cpu, _ex, _sz, _bench in (
        ("lstm_seq_forward", lstm_seq_forward_reference, lstm_seq_forward, _example_lstm_forward,
         LSTM_SIZES, LSTM_BENCH),
        ("lstm_seq_backward", lstm_seq_backward_reference, lstm_seq_backward, _example_lstm_backward,
         LSTM_SIZES, LSTM_BENCH),
        ("gru_seq_forward", gru_seq_forward_reference, gru_seq_forward, _example_gru_forward,
         GRU_SIZES, GRU_BENCH),
        ("gru_seq_backward", gru_seq_backward_reference, gru_seq_backward, _example_gru_backward,
         GRU_SIZES, GRU_BENCH)):
    # cuda=None: no CUDA twin (nothing to run under the simulator, so sim_sizes
    # = sizes); on a GPU, tinylm runs these recurrences step by step instead
    register(Kernel(_name, _ref, _cpu, None, _ex, _sz, _sz, _bench, rtol=1e-4, atol=1e-5))
