"""One LSTM or GRU layer over a whole sequence, in one direction: the
building block of nn.LSTM / nn.GRU (torch.nn.LSTM's and GRU's maths).

Like cuDNN, a layer runs in two parts:
  1. the input projection for all T steps at once, ONE matmul:
        xg = x W_ih^T + b               x (T, N, in) -> xg (T, N, G), G = 4H or 3H
     (b = b_ih + b_hh for the LSTM, whose biases only ever appear summed;
     b = b_ih for the GRU, where r multiplies W_hn h + b_hn)
  2. the recurrence, ONE autograd node (LSTMSeq / GRUSeq). Its forward walks
     the steps computing h W_hh^T and the fused cell; its backward walks them
     in reverse (backpropagation through time), passing dh and dc from step
     to step. A loop, not recursion: 1,000 steps are no different from 10.
     Where the backend has whole-sequence kernels (kernels/rnn_seq.py: the
     CPU), each walk is ONE kernel call with the time loop inside Numba and
     the batch split over two threads; elsewhere (CUDA today) the walk is a
     Python loop calling the matmul and cell kernels (kernels/rnn_cells.py)
     step by step. Both give the same results.
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
from ...backend import contiguous, kernels_for
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
    xT = contiguous(x.reshape(-1, x.shape[-1]).T)                 # (H, T*N)
    return contiguous(K.matmul_forward(xT, d.reshape(-1, d.shape[-1]), False).T)


def _walk(K, name, steps):
    """The whole-sequence kernel `name` of backend K (kernels/rnn_seq.py), or,
    where the backend has none (a registered kernel without an
    implementation for a device raises NotImplementedError on lookup; CUDA
    today), `steps` bound to K: the same walk as a Python loop over K's
    matmul and cell kernels. Both take the same arguments."""
    try:
        return getattr(K, name)
    except NotImplementedError:
        return lambda *args: steps(K, *args)


# ---- the step-by-step walks, for backends without whole-sequence kernels --------
# Same arguments and results as lstm/gru_seq_forward/backward in kernels/rnn_seq.py.


def _lstm_steps_forward(K, xg, h0, c0, w_hh, reverse):
    T, N, G = xg.shape
    hs, cs = np.empty_like(xg, shape=(T, N, G // 4)), np.empty_like(xg, shape=(T, N, G // 4))
    acts = np.empty_like(xg)                      # [i | f | g | o] after their nonlinearities
    h, c = h0, c0
    for t in _steps(T, reverse):
        gates = K.matmul_forward(h, w_hh, True)   # (N, 4H)
        gates += xg[t]
        h, c, acts[t] = K.lstm_cell_forward(gates, c)
        hs[t], cs[t] = h, c
    return hs, cs, acts


def _lstm_steps_backward(K, dhs, dc_n, h0, c0, w_hh, hs, cs, acts, reverse):
    c_prev = _before(cs, c0, reverse)             # (T, N, H)
    dxg = np.empty_like(acts)                     # (T, N, 4H): the gates' gradients
    dh, dc = np.zeros_like(h0), contiguous(dc_n)
    for t in _steps(dhs.shape[0], not reverse):
        # dh: from the output at t plus what step t+1 sent back through W_hh
        dxg[t], dc = K.lstm_cell_backward(dhs[t] + dh, dc, c_prev[t], cs[t], acts[t])
        dh = K.matmul_forward(dxg[t], w_hh, False)  # (N, H) = dgates @ W_hh
    return dxg, dh, dc, _weight_grad(K, dxg, _before(hs, h0, reverse))


def _gru_steps_forward(K, gi, h0, w_hh, b_hh, reverse):
    T, N, G = gi.shape
    hs = np.empty_like(gi, shape=(T, N, G // 3))
    acts = np.empty_like(gi, shape=(T, N, G // 3 * 4))  # [r | z | n | W_hn h + b_hn]
    h = h0
    for t in _steps(T, reverse):
        gh = K.matmul_forward(h, w_hh, True)      # (N, 3H)
        if b_hh is not None:
            gh += b_hh
        h, acts[t] = K.gru_cell_forward(gi[t], gh, h)
        hs[t] = h
    return hs, acts


def _gru_steps_backward(K, dhs, h0, w_hh, hs, acts, reverse):
    h_prev = _before(hs, h0, reverse)             # (T, N, H)
    T, N, H = hs.shape
    dgi, dgh = np.empty_like(dhs, shape=(T, N, 3 * H)), np.empty_like(dhs, shape=(T, N, 3 * H))
    dh = np.zeros_like(h0)
    for t in _steps(T, not reverse):
        dgi[t], dgh[t], dh_direct = K.gru_cell_backward(dhs[t] + dh, h_prev[t], acts[t])
        dh = dh_direct + K.matmul_forward(dgh[t], w_hh, False)  # (N, H)
    return dgi, dh, _weight_grad(K, dgh, h_prev), dgh.sum(axis=(0, 1))


# ---- the autograd nodes ---------------------------------------------------------


class LSTMSeq(Function):
    """(xg (T, N, 4H) = x W_ih^T + b_ih + b_hh, h0 (N, H), c0 (N, H), w_hh (4H, H))
    -> out (T + 1, N, H): out[:T] holds h_t for every step, out[T] the last
    c (an autograd Function has one output; lstm_layer slices it).
    The two biases always appear summed, so lstm_layer adds them before the
    projection, and this node never sees b_hh."""

    def forward(self, xg, h0, c0, w_hh, reverse):
        K = kernels_for(xg)
        hs, cs, acts = _walk(K, "lstm_seq_forward", _lstm_steps_forward)(xg, h0, c0, w_hh, reverse)
        T = xg.shape[0]
        out = np.empty_like(hs, shape=(T + 1,) + hs.shape[1:])
        out[:T], out[T] = hs, cs[0 if reverse else T - 1]
        self.save_for_backward(out, cs, acts, h0, c0, w_hh)
        self.reverse = reverse
        return out

    def backward(self, g):
        out, cs, acts, h0, c0, w_hh = self.saved
        K = kernels_for(g)
        T = cs.shape[0]
        dxg, dh0, dc0, dw = _walk(K, "lstm_seq_backward", _lstm_steps_backward)(
            g[:T], g[T], h0, c0, w_hh, out[:T], cs, acts, self.reverse)
        return dxg, dh0, dc0, dw, None


class GRUSeq(Function):
    """(gi (T, N, 3H) = x W_ih^T + b_ih, h0 (N, H), w_hh (3H, H), b_hh (3H,)
    or None) -> out (T, N, H), h_t for every step. b_hh stays apart from
    b_ih: r multiplies W_hn h + b_hn."""

    def forward(self, gi, h0, w_hh, b_hh, reverse):
        K = kernels_for(gi)
        out, acts = _walk(K, "gru_seq_forward", _gru_steps_forward)(gi, h0, w_hh, b_hh, reverse)
        self.save_for_backward(out, acts, h0, w_hh)
        self.reverse, self.has_bias = reverse, b_hh is not None
        return out

    def backward(self, g):
        out, acts, h0, w_hh = self.saved
        K = kernels_for(g)
        dgi, dh0, dw, db = _walk(K, "gru_seq_backward", _gru_steps_backward)(
            g, h0, w_hh, out, acts, self.reverse)
        return dgi, dh0, dw, db if self.has_bias else None, None


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
