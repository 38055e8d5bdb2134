"""One step of an LSTM or GRU cell, as torch.nn.LSTMCell / GRUCell compute it.

    LSTM (gate order i, f, g, o):
        gates = x W_ih^T + b_ih + h W_hh^T + b_hh          (B, 4H)
        i, f, o = sigmoid(.), g = tanh(.);  c' = f c + i g;  h' = o tanh(c')
    GRU (gate order r, z, n):
        gi = x W_ih^T + b_ih,  gh = h W_hh^T + b_hh          (B, 3H) each
        r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z)
        n = tanh(gi_n + r * gh_n);  h' = (1 - z) n + z h

The GEMMs are ordinary autograd ops (F.linear); the elementwise part after
them is one fused kernel each way (kernels/rnn_cells.py).
"""
import numpy as np

from ...autograd import Function
from ...backend import kernels_for
from .layers import linear


class LSTMCellFn(Function):
    """(gates, c_prev) -> [h' | c'] side by side (B, 2H): one output, which
    lstm_cell splits into h' and c'."""

    def forward(self, gates, c_prev):
        h, c, acts = kernels_for(gates).lstm_cell_forward(gates, c_prev)
        self.save_for_backward(c_prev, c, acts)
        return np.concatenate([h, c], axis=1)

    def backward(self, g):
        c_prev, c, acts = self.saved
        H = c.shape[1]
        return kernels_for(g).lstm_cell_backward(g[:, :H], g[:, H:], c_prev, c, acts)


class GRUCellFn(Function):
    def forward(self, gi, gh, h_prev):
        h, acts = kernels_for(gi).gru_cell_forward(gi, gh, h_prev)
        self.save_for_backward(h_prev, acts)
        return h

    def backward(self, g):
        h_prev, acts = self.saved
        return kernels_for(g).gru_cell_backward(g, h_prev, acts)


def _batched(input, hx, name, n_gates, w_ih, w_hh):
    if input.ndim not in (1, 2):
        raise RuntimeError(f"{name}: expected input of 1 or 2 dims, got shape {input.shape}")
    H = w_hh.shape[1]
    if w_ih.shape[0] != n_gates * H or w_hh.shape != (n_gates * H, H):
        raise RuntimeError(f"{name}: weight_ih {w_ih.shape} and weight_hh {w_hh.shape} must be "
                           f"({n_gates}H, input_size) and ({n_gates}H, H)")
    return input.ndim == 1


def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """(h', c') from input (B, in) or (in,) and hx = (h, c), each (B, H) or (H,)."""
    unbatched = _batched(input, hx, "lstm_cell", 4, w_ih, w_hh)
    h, c = hx
    if unbatched:
        input, h, c = input.unsqueeze(0), h.unsqueeze(0), c.unsqueeze(0)
    if h.shape != (input.shape[0], w_hh.shape[1]) or c.shape != h.shape:
        raise RuntimeError(f"lstm_cell: h {h.shape} and c {c.shape} must be (batch {input.shape[0]}, "
                           f"hidden {w_hh.shape[1]})")
    hc = LSTMCellFn.apply(linear(input, w_ih, b_ih) + linear(h, w_hh, b_hh), c)
    H = w_hh.shape[1]
    h_new, c_new = hc[:, :H], hc[:, H:]
    return (h_new[0], c_new[0]) if unbatched else (h_new, c_new)


def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """h' from input (B, in) or (in,) and hx (B, H) or (H,)."""
    unbatched = _batched(input, hx, "gru_cell", 3, w_ih, w_hh)
    if unbatched:
        input, hx = input.unsqueeze(0), hx.unsqueeze(0)
    if hx.shape != (input.shape[0], w_hh.shape[1]):
        raise RuntimeError(f"gru_cell: hx {hx.shape} must be (batch {input.shape[0]}, hidden {w_hh.shape[1]})")
    h = GRUCellFn.apply(linear(input, w_ih, b_ih), linear(hx, w_hh, b_hh), hx)
    return h[0] if unbatched else h
