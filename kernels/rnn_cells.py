"""The fused elementwise parts of the LSTM and GRU cells, forward and backward.

The GEMMs stay outside (BLAS): these kernels start from the gate
pre-activations and end at their gradients. All arrays are 2-D, one row per
batch element; B is the batch, H the hidden size.

LSTM, as torch.nn.LSTMCell (gate order i, f, g, o):
    gates = x W_ih^T + b_ih + h_prev W_hh^T + b_hh                     (B, 4H)
    i = sigmoid(gates[:, 0:H])    f = sigmoid(gates[:, H:2H])
    g = tanh(gates[:, 2H:3H])     o = sigmoid(gates[:, 3H:4H])
    c = f * c_prev + i * g,   h = o * tanh(c)                           (B, H)
  lstm_cell_forward(gates, c_prev) -> (h, c, acts), acts = [i | f | g | o] (B, 4H):
  the activated gates, in the order of gates. tanh(c) is not saved: backward
  recomputes it from c.
  lstm_cell_backward(dh, dc, c_prev, c, acts) -> (dgates (B, 4H), dc_prev (B, H)),
  with dh, dc the gradients reaching h and c from later steps (dc may be 0):
    dc_total = dc + dh * o * (1 - tanh(c)^2)
    dgates = [dc_total g i(1-i) | dc_total c_prev f(1-f) | dc_total i (1-g^2) | dh tanh(c) o(1-o)]
    dc_prev = dc_total * f
  (the gradient into h_prev is dgates @ W_hh, outside.)

GRU, as torch.nn.GRUCell (gate order r, z, n):
    gi = x W_ih^T + b_ih,  gh = h_prev W_hh^T + b_hh                    (B, 3H)
    r = sigmoid(gi_r + gh_r),  z = sigmoid(gi_z + gh_z)
    n = tanh(gi_n + r * gh_n),  h = (1 - z) * n + z * h_prev            (B, H)
  gru_cell_forward(gi, gh, h_prev) -> (h, acts), acts = [r | z | n | gh_n] (B, 4H):
  the three activated gates and the hidden pre-activation of n, which the
  gradient of r needs.
  gru_cell_backward(dh, h_prev, acts) -> (dgi (B, 3H), dgh (B, 3H), dh_prev (B, H)):
    dn' = dh (1 - z) (1 - n^2),  dz' = dh (h_prev - n) z (1 - z),  dr' = dn' gh_n r (1 - r)
    dgi = [dr' | dz' | dn'],  dgh = [dr' | dz' | dn' r],  dh_prev = dh z
  (dh_prev is the direct path only; dgh @ W_hh is added outside.)

The references below are the specification (float64 maths, results in the
inputs' dtype). The CPU kernels go row by row over 1-D row views, with the
vectorisable fast_sigmoid/fast_tanh; like PyTorch they compute h as
n + z (h_prev - n). The CUDA twins are in kernels/cuda/rnn_cells.py.
"""
import numpy as np

from .fastmath import fast_sigmoid, fast_tanh
from .jit import cpu_kernel
from .registry import Kernel, register
from .validate import FLOATS, as_float, lazy_cuda

ONE = np.float32(1)

# Each kernel's array arguments and their widths in units of H: all are (B, k*H).
WIDTHS = {
    "lstm_cell_forward": {"gates": 4, "c_prev": 1},
    "lstm_cell_backward": {"dh": 1, "dc": 1, "c_prev": 1, "c": 1, "acts": 4},
    "gru_cell_forward": {"gi": 3, "gh": 3, "h_prev": 1},
    "gru_cell_backward": {"dh": 1, "h_prev": 1, "acts": 4},
}


def check_shapes(name, arrays, widths):
    """Check that the named 2-D arrays are float32/float64 of one dtype, with
    one batch size B and widths k*H (`widths[what] = k`; H comes from the
    first array with k = 1). Takes host or device arrays; returns (B, H).
    Plain loops: this runs on every call of a ~20 us kernel."""
    dtype, shape = None, None
    for what, a in arrays.items():
        dtype = a.dtype if dtype is None else dtype
        if a.dtype != dtype or dtype not in FLOATS:
            raise TypeError(f"{name}: arrays must all be float32 or all float64, got "
                            + ", ".join(f"{w} {a.dtype}" for w, a in arrays.items()))
        if shape is None and widths[what] == 1:
            shape = a.shape
    ok = len(shape) == 2
    for what, a in arrays.items():
        ok = ok and a.shape == (shape[0], widths[what] * shape[1])
    if not ok:
        spec = ", ".join(f"{w} (B, {k if k > 1 else ''}H)" for w, k in widths.items())
        got = ", ".join(f"{w} {tuple(a.shape)}" for w, a in arrays.items())
        raise ValueError(f"{name}: shapes don't line up: expected 2-D arrays {spec}, got {got}")
    return shape


def _host(name, *args):
    """The arguments of kernel `name` as C-contiguous ndarrays, checked; then B and H."""
    arrays = {w: as_float(name, a, w) for w, a in zip(WIDTHS[name], args)}
    return (*arrays.values(), *check_shapes(name, arrays, WIDTHS[name]))


# ---- references ------------------------------------------------------------


def _sigmoid(x):
    with np.errstate(over="ignore"):  # exp(-x) = inf for x << 0 gives 0, as it should
        return 1.0 / (1.0 + np.exp(-x))


def _f64(*arrays):
    return [a.astype(np.float64) for a in arrays]


def lstm_cell_forward_reference(gates, c_prev):
    H = c_prev.shape[-1]
    z, cp = _f64(gates, c_prev)
    i, f, o = _sigmoid(z[:, :H]), _sigmoid(z[:, H:2 * H]), _sigmoid(z[:, 3 * H:])
    g = np.tanh(z[:, 2 * H:3 * H])
    c = f * cp + i * g
    h = o * np.tanh(c)
    acts = np.concatenate([i, f, g, o], axis=1)
    return h.astype(gates.dtype), c.astype(gates.dtype), acts.astype(gates.dtype)


def lstm_cell_backward_reference(dh, dc, c_prev, c, acts):
    H = c.shape[-1]
    dh, dc, cp, c, a = _f64(dh, dc, c_prev, c, acts)
    i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
    tc = np.tanh(c)
    dct = dc + dh * o * (1 - tc * tc)
    dgates = np.concatenate([dct * g * i * (1 - i), dct * cp * f * (1 - f),
                             dct * i * (1 - g * g), dh * tc * o * (1 - o)], axis=1)
    return dgates.astype(acts.dtype), (dct * f).astype(acts.dtype)


def gru_cell_forward_reference(gi, gh, h_prev):
    H = h_prev.shape[-1]
    x, y, hp = _f64(gi, gh, h_prev)
    r = _sigmoid(x[:, :H] + y[:, :H])
    z = _sigmoid(x[:, H:2 * H] + y[:, H:2 * H])
    n = np.tanh(x[:, 2 * H:] + r * y[:, 2 * H:])
    h = (1 - z) * n + z * hp
    acts = np.concatenate([r, z, n, y[:, 2 * H:]], axis=1)
    return h.astype(gi.dtype), acts.astype(gi.dtype)


def gru_cell_backward_reference(dh, h_prev, acts):
    H = h_prev.shape[-1]
    dh, hp, a = _f64(dh, h_prev, acts)
    r, z, n, ghn = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
    dn = dh * (1 - z) * (1 - n * n)
    dz = dh * (hp - n) * z * (1 - z)
    dr = dn * ghn * r * (1 - r)
    dgi = np.concatenate([dr, dz, dn], axis=1)
    dgh = np.concatenate([dr, dz, dn * r], axis=1)
    dt = acts.dtype
    return dgi.astype(dt), dgh.astype(dt), (dh * z).astype(dt)


# ---- Numba CPU kernels -------------------------------------------------------
# Each row is cut into 1-D views of H (7x faster than 2-D indexing), and each
# inner loop runs from 0 over views: a loop over range(2H, 3H) of the whole
# row ran 1.4x slower. float32 rows use the vectorisable fast_sigmoid/tanh.


@cpu_kernel
def _lstm_forward(h, c, acts, gates, c_prev):
    B, H = c_prev.shape
    for b in range(B):
        z, a = gates[b], acts[b]  # (4H,)
        for j in range(2 * H):    # i and f lie side by side
            a[j] = fast_sigmoid(z[j])
        i, f, g, o = a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:]
        zg, zo = z[2 * H:3 * H], z[3 * H:]
        for j in range(H):
            g[j] = fast_tanh(zg[j])
        for j in range(H):
            o[j] = fast_sigmoid(zo[j])
        cp, cb, hb = c_prev[b], c[b], h[b]  # (H,)
        for j in range(H):
            cj = f[j] * cp[j] + i[j] * g[j]
            cb[j] = cj
            hb[j] = o[j] * fast_tanh(cj)


@cpu_kernel
def _lstm_backward(dgates, dc_prev, dh, dc, c_prev, c, acts):
    B, H = c.shape
    for b in range(B):
        a, d = acts[b], dgates[b]  # (4H,)
        i, f, g, o = a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:]
        di, df, dg, do = d[:H], d[H:2 * H], d[2 * H:3 * H], d[3 * H:]
        dhb, dcb, cp, cb, dcp = dh[b], dc[b], c_prev[b], c[b], dc_prev[b]  # (H,)
        for j in range(H):
            tc = fast_tanh(cb[j])
            ij, fj, gj, oj = i[j], f[j], g[j], o[j]
            dct = dcb[j] + dhb[j] * oj * (ONE - tc * tc)  # all the gradient reaching c
            di[j] = dct * gj * ij * (ONE - ij)
            df[j] = dct * cp[j] * fj * (ONE - fj)
            dg[j] = dct * ij * (ONE - gj * gj)
            do[j] = dhb[j] * tc * oj * (ONE - oj)
            dcp[j] = dct * fj


@cpu_kernel
def _gru_forward(h, acts, gi, gh, h_prev):
    B, H = h_prev.shape
    for b in range(B):
        x, y, a = gi[b], gh[b], acts[b]  # (3H,), (3H,), (4H,)
        for j in range(2 * H):  # r and z lie side by side
            a[j] = fast_sigmoid(x[j] + y[j])
        r, z, n, ghn = a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:]
        xn, yn, hp, hb = x[2 * H:], y[2 * H:], h_prev[b], h[b]  # (H,)
        for j in range(H):
            ghn[j] = yn[j]
            nj = fast_tanh(xn[j] + r[j] * yn[j])
            n[j] = nj
            hb[j] = nj + z[j] * (hp[j] - nj)


@cpu_kernel
def _gru_backward(dgi, dgh, dh_prev, dh, h_prev, acts):
    B, H = h_prev.shape
    for b in range(B):
        a, dx, dy = acts[b], dgi[b], dgh[b]  # (4H,), (3H,), (3H,)
        r, z, n, ghn = a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:]
        dxr, dxz, dxn = dx[:H], dx[H:2 * H], dx[2 * H:]
        dyr, dyz, dyn = dy[:H], dy[H:2 * H], dy[2 * H:]
        dhb, hp, dhp = dh[b], h_prev[b], dh_prev[b]  # (H,)
        for j in range(H):
            zj, nj = z[j], n[j]
            dnj = dhb[j] * (ONE - zj) * (ONE - nj * nj)
            dzj = dhb[j] * (hp[j] - nj) * zj * (ONE - zj)
            dxn[j], dyn[j] = dnj, dnj * r[j]
            dxz[j], dyz[j] = dzj, dzj
            dhp[j] = dhb[j] * zj
        for j in range(H):  # a loop of its own: ran 1.2x faster than one loop for all
            rj = r[j]
            drj = dxn[j] * ghn[j] * rj * (ONE - rj)
            dxr[j], dyr[j] = drj, drj


# ---- public wrappers ---------------------------------------------------------
# Same positional arguments as the references; outputs are new arrays.


def lstm_cell_forward(gates, c_prev):
    gates, c_prev, B, H = _host("lstm_cell_forward", gates, c_prev)
    h, c, acts = np.empty_like(c_prev), np.empty_like(c_prev), np.empty_like(gates)
    if B * H:
        _lstm_forward(h, c, acts, gates, c_prev)
    return h, c, acts


def lstm_cell_backward(dh, dc, c_prev, c, acts):
    dh, dc, c_prev, c, acts, B, H = _host("lstm_cell_backward", dh, dc, c_prev, c, acts)
    dgates, dc_prev = np.empty_like(acts), np.empty_like(c)
    if B * H:
        _lstm_backward(dgates, dc_prev, dh, dc, c_prev, c, acts)
    return dgates, dc_prev


def gru_cell_forward(gi, gh, h_prev):
    gi, gh, h_prev, B, H = _host("gru_cell_forward", gi, gh, h_prev)
    h, acts = np.empty_like(h_prev), np.empty((B, 4 * H), h_prev.dtype)
    if B * H:
        _gru_forward(h, acts, gi, gh, h_prev)
    return h, acts


def gru_cell_backward(dh, h_prev, acts):
    dh, h_prev, acts, B, H = _host("gru_cell_backward", dh, h_prev, acts)
    dgi, dgh = np.empty((B, 3 * H), acts.dtype), np.empty((B, 3 * H), acts.dtype)
    dh_prev = np.empty_like(h_prev)
    if B * H:
        _gru_backward(dgi, dgh, dh_prev, dh, h_prev, acts)
    return dgi, dgh, dh_prev


# ---- registry ------------------------------------------------------------------
# Backward examples save what the float64 forward reference computes, so the
# activations are consistent with each other, as in training.


def _example_lstm_forward(rng, dtype, B, H):
    return (rng.standard_normal((B, 4 * H)) * 2).astype(dtype), rng.standard_normal((B, H)).astype(dtype)


def _example_lstm_backward(rng, dtype, B, H):
    gates, c_prev = _example_lstm_forward(rng, np.float64, B, H)
    _, c, acts = lstm_cell_forward_reference(gates, c_prev)
    dh, dc = rng.standard_normal((2, B, H))
    return tuple(a.astype(dtype) for a in (dh, dc, c_prev, c, acts))


def _example_gru_forward(rng, dtype, B, H):
    gi, gh = rng.standard_normal((2, B, 3 * H)) * 2
    return gi.astype(dtype), gh.astype(dtype), rng.uniform(-1, 1, (B, H)).astype(dtype)


def _example_gru_backward(rng, dtype, B, H):
    gi, gh, h_prev = _example_gru_forward(rng, np.float64, B, H)
    _, acts = gru_cell_forward_reference(gi, gh, h_prev)
    return tuple(a.astype(dtype) for a in (rng.standard_normal((B, H)), h_prev, acts))


SIZES = {"B": (0, 33), "H": (0, 70)}
SIM_SIZES = {"B": (0, 3), "H": (0, 5)}
BENCH = {"B": 32, "H": 256}

for _name, _ref, _cpu, _ex in (
        ("lstm_cell_forward", lstm_cell_forward_reference, lstm_cell_forward, _example_lstm_forward),
        ("lstm_cell_backward", lstm_cell_backward_reference, lstm_cell_backward, _example_lstm_backward),
        ("gru_cell_forward", gru_cell_forward_reference, gru_cell_forward, _example_gru_forward),
        ("gru_cell_backward", gru_cell_backward_reference, gru_cell_backward, _example_gru_backward)):
    register(Kernel(_name, _ref, _cpu, lazy_cuda("rnn_cells", _name), _ex, SIZES, SIM_SIZES, BENCH,
                    rtol=1e-5, atol=1e-6))
