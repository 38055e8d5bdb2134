"""One LSTM or GRU layer over a whole sequence, in one direction: the
building block of nn.LSTM / nn.GRU (torch.nn.LSTM's and GRU's maths).

Like cuDNN, a layer runs in two parts:
  1. the input projection for all T steps at once, ONE matmul:
        xg = x W_ih^T + b               x (T, N, in) -> xg (T, N, G), G = 4H or 3H
     (b = b_ih + b_hh for the LSTM, whose biases only ever appear summed;
     b = b_ih for the GRU, where r multiplies W_hn h + b_hn)
  2. the recurrence, ONE autograd node (LSTMSeq / GRUSeq) whose forward loops
     over t calling the matmul kernel for h W_hh^T and the fused cell kernel
     (kernels/rnn_cells.py), and whose backward loops over t in reverse
     (backpropagation through time), passing dh and dc from step to step.
     A plain loop, not recursion: 1,000 steps are no different from 10.
The weight gradient dW_hh = sum_t dgates_t^T h_{t-1} is one GEMM over all
T*N rows after the loop, not T small ones.

reverse=True walks t = T-1 .. 0 (the second direction of a bidirectional
layer); outputs stay at their own time index, so out[t] is always step t.

The peephole LSTM (Gers & Schmidhuber 2000) has no fused kernel: it is
composed from autograd ops, one step at a time (see docs/lstm.md).
"""
import numpy as np

from ... import ops
from ...autograd import Function
from ...backend import kernels_for
from .layers import linear


def _steps(T, reverse):
    return range(T - 1, -1, -1) if reverse else range(T)


def _before(seq, first, reverse):
    """The state each step starts from, (T, N, H): `first` for the first step
    of the walk, then the state the previous step left."""
    if reverse:
        return np.concatenate([seq[1:], first[None]])
    return np.concatenate([first[None], seq[:-1]])


def _weight_grad(K, d, x):
    """sum over (t, n) of outer(d[t, n], x[t, n]): d (T, N, G), x (T, N, H) -> (G, H).

    One GEMM over the T*N rows. The kernel table has no d^T @ x, so this
    computes (x^T @ d)^T: transposing x (T*N*H) and the result (G*H) is
    cheaper than transposing d (T*N*G), or than matmul_backward, which would
    also compute the unused d @ W."""
    xT = np.ascontiguousarray(x.reshape(-1, x.shape[-1]).T)                 # (H, T*N)
    return np.ascontiguousarray(K.matmul_forward(xT, d.reshape(-1, d.shape[-1]), False).T)


class LSTMSeq(Function):
    """(xg (T, N, 4H) = x W_ih^T + b_ih + b_hh, h0 (N, H), c0 (N, H), w_hh (4H, H))
    -> out (T + 1, N, H): out[:T] holds h_t for every step, out[T] the last
    c (an autograd Function has one output; lstm_layer slices it).
    The two biases always appear summed, so lstm_layer adds them before the
    projection, and this node never sees b_hh."""

    def forward(self, xg, h0, c0, w_hh, reverse):
        K = kernels_for(xg)
        T, N, G = xg.shape
        out = np.empty((T + 1, N, G // 4), xg.dtype)
        cs = np.empty((T, N, G // 4), xg.dtype)   # c_t after step t
        acts = np.empty((T, N, G), xg.dtype)      # [i | f | g | o] after their nonlinearities
        h, c = h0, c0
        for t in _steps(T, reverse):
            gates = K.matmul_forward(h, w_hh, True)  # (N, 4H)
            gates += xg[t]
            h, c, acts[t] = K.lstm_cell_forward(gates, c)
            out[t], cs[t] = h, c
        out[T] = c
        self.save_for_backward(out, cs, acts, h0, c0, w_hh)
        self.reverse = reverse
        return out

    def backward(self, g):
        out, cs, acts, h0, c0, w_hh = self.saved
        K = kernels_for(g)
        T = cs.shape[0]
        c_prev = _before(cs, c0, self.reverse)      # (T, N, H)
        dxg = np.empty_like(acts)                   # (T, N, 4H): the gates' gradients
        dh, dc = np.zeros_like(h0), np.ascontiguousarray(g[T])
        for t in _steps(T, not self.reverse):
            # dh: from the output at t plus what step t+1 sent back through W_hh
            dxg[t], dc = K.lstm_cell_backward(g[t] + dh, dc, c_prev[t], cs[t], acts[t])
            dh = K.matmul_forward(dxg[t], w_hh, False)  # (N, H) = dgates @ W_hh
        dw = _weight_grad(K, dxg, _before(out[:T], h0, self.reverse))
        return dxg, dh, dc, dw, None


class GRUSeq(Function):
    """(gi (T, N, 3H) = x W_ih^T + b_ih, h0 (N, H), w_hh (3H, H), b_hh (3H,)
    or None) -> out (T, N, H), h_t for every step. b_hh stays apart from
    b_ih: r multiplies W_hn h + b_hn."""

    def forward(self, gi, h0, w_hh, b_hh, reverse):
        K = kernels_for(gi)
        T, N, G = gi.shape
        out = np.empty((T, N, G // 3), gi.dtype)
        acts = np.empty((T, N, G // 3 * 4), gi.dtype)  # [r | z | n | W_hn h + b_hn]
        h = h0
        for t in _steps(T, reverse):
            gh = K.matmul_forward(h, w_hh, True)  # (N, 3H)
            if b_hh is not None:
                gh += b_hh
            h, acts[t] = K.gru_cell_forward(gi[t], gh, h)
            out[t] = h
        self.save_for_backward(out, acts, h0, w_hh)
        self.reverse, self.has_bias = reverse, b_hh is not None
        return out

    def backward(self, g):
        out, acts, h0, w_hh = self.saved
        K = kernels_for(g)
        h_prev = _before(out, h0, self.reverse)     # (T, N, H)
        T, N, H = out.shape
        dgi = np.empty((T, N, 3 * H), g.dtype)
        dgh = np.empty((T, N, 3 * H), g.dtype)
        dh = np.zeros_like(h0)
        for t in _steps(T, not self.reverse):
            dgi[t], dgh[t], dh_direct = K.gru_cell_backward(g[t] + dh, h_prev[t], acts[t])
            dh = dh_direct + K.matmul_forward(dgh[t], w_hh, False)  # (N, H)
        dw = _weight_grad(K, dgh, h_prev)
        db = dgh.sum(axis=(0, 1)) if self.has_bias else None
        return dgi, dh, dw, db, None


def lstm_layer(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """One LSTM layer, one direction: x (T, N, in), h0 and c0 (N, H) ->
    (out (T, N, H), h_n (N, H), c_n (N, H)). Shapes are the caller's to check."""
    T = x.shape[0]
    bias = b_ih if b_hh is None else (b_hh if b_ih is None else b_ih + b_hh)  # (4H,)
    out = LSTMSeq.apply(linear(x, w_ih, bias), h0, c0, w_hh, reverse=reverse)
    return out[:T], out[0 if reverse else T - 1], out[T]


def gru_layer(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """One GRU layer, one direction: x (T, N, in), h0 (N, H) -> (out (T, N, H), h_n (N, H))."""
    out = GRUSeq.apply(linear(x, w_ih, b_ih), h0, w_hh, b_hh, reverse=reverse)
    return out, out[0 if reverse else x.shape[0] - 1]


def peephole_lstm_layer(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_ci, w_cf, w_co, reverse=False):
    """One peephole LSTM layer, one direction; w_ci, w_cf, w_co (H,) are the
    diagonal peephole weights:
        i = sigmoid(W_ii x + b_ii + W_hi h + b_hi + w_ci * c_{t-1})
        f = sigmoid(W_if x + b_if + W_hf h + b_hf + w_cf * c_{t-1})
        g = tanh(W_ig x + b_ig + W_hg h + b_hg)
        c_t = f * c_{t-1} + i * g
        o = sigmoid(W_io x + b_io + W_ho h + b_ho + w_co * c_t)
        h_t = o * tanh(c_t)
    Returns (out (T, N, H), h_n, c_n), like lstm_layer. Built from autograd
    ops step by step (about 20 nodes a step)."""
    T, H = x.shape[0], h0.shape[-1]
    xg = linear(x, w_ih, b_ih)                 # (T, N, 4H)
    if b_hh is not None:
        xg = xg + b_hh
    h, c, outs = h0, c0, [None] * T
    for t in _steps(T, reverse):
        z = xg[t] + linear(h, w_hh)            # (N, 4H)
        i = ops.sigmoid(z[:, :H] + w_ci * c)
        f = ops.sigmoid(z[:, H:2 * H] + w_cf * c)
        c = f * c + i * ops.tanh(z[:, 2 * H:3 * H])
        h = ops.sigmoid(z[:, 3 * H:] + w_co * c) * ops.tanh(c)
        outs[t] = h
    return ops.stack(outs), h, c
