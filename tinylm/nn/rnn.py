"""Recurrent layers, as torch.nn: LSTM, GRU, LSTMCell, GRUCell, and a
peephole LSTM (no PyTorch counterpart).

Shapes (L = num_layers, D = 2 if bidirectional else 1):
    input   (T, N, in), or (N, T, in) with batch_first, or unbatched (T, in)
    h_0/c_0 (D*L, N, H), or (D*L, H) for unbatched input; zeros when not given
    output  (T, N, D*H): the last layer's h_t, forward and reverse features
            side by side; h_n/c_n (D*L, N, H), ordered l0-fwd, l0-rev, l1-fwd ...
Parameters per layer k and direction (suffix "" or "_reverse"), in PyTorch's
order: weight_ih_l{k} (G*H, in_k), weight_hh_l{k} (G*H, H), bias_ih_l{k},
bias_hh_l{k} (G*H,), with G = 4 (LSTM, gates i, f, g, o) or 3 (GRU, r, z, n),
in_k = input_size for k = 0 and D*H above. All start U(-1/sqrt(H), 1/sqrt(H)).
Each layer's output but the last goes through dropout in training mode.

The maths of one layer and direction, and the sequence-level backward, are in
functional/rnn_seq.py; the equations are worked through in docs/lstm.md.
"""
import math
import numbers
import warnings

from .. import dtypes, ops
from .._tensor import Tensor
from ..creation import empty, zeros
from ..device import check_device
from . import functional as F
from . import init
from .functional.rnn_seq import gru_layer, lstm_layer, peephole_lstm_layer
from .module import Module
from .parameter import Parameter


def _parameter(shape, device, dtype):
    check_device(device)
    return Parameter(empty(shape, dtype=dtypes.to_dtype(dtype) or dtypes.get_default_dtype()))


class RNNBase(Module):
    """What LSTM, GRU and PeepholeLSTM share: the parameters, the checks,
    and the walk over layers and directions. A subclass sets GATES (G),
    STATES (1: h; 2: h and c) and `_layer`, one layer in one direction."""
    GATES, STATES = 4, 2

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero "
                          f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={num_layers}", stacklevel=2)
        for arg, value, kind in (("bias", bias, bool), ("batch_first", batch_first, bool),
                                 ("input_size", input_size, int), ("hidden_size", hidden_size, int)):
            if not isinstance(value, kind):
                raise TypeError(f"{arg} should be of type {kind.__name__}, got: {type(value).__name__}")
        for arg, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if value <= 0:
                raise ValueError(f"{arg} must be greater than zero")
        if proj_size != 0:
            raise NotImplementedError(f"{name}: proj_size is not supported in tinylm (got {proj_size})")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, 0
        D, GH = 2 if bidirectional else 1, self.GATES * hidden_size
        self._flat_weights_names, self._all_weights = [], []
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else D * hidden_size
            for suffix in ("", "_reverse")[:D]:
                shapes = {"weight_ih": (GH, layer_in), "weight_hh": (GH, hidden_size)}
                if bias:
                    shapes.update(bias_ih=(GH,), bias_hh=(GH,))
                shapes.update(self._extra_shapes())
                names = [f"{kind}_l{layer}{suffix}" for kind in shapes]
                for n, shape in zip(names, shapes.values()):
                    setattr(self, n, _parameter(shape, device, dtype))
                self._flat_weights_names += names
                self._all_weights.append(names)
        self.reset_parameters()

    def _extra_shapes(self):
        return {}

    def reset_parameters(self):
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    @property
    def all_weights(self):
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def flatten_parameters(self):
        """A no-op (PyTorch packs weights for cuDNN here)."""

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        for arg, default in (("num_layers", 1), ("bias", True), ("batch_first", False),
                             ("dropout", 0), ("bidirectional", False)):
            if getattr(self, arg) != default:
                s += f", {arg}={getattr(self, arg)}"
        return s

    # ---- forward -------------------------------------------------------------------
    def _check_input(self, input):
        """Validates input; returns (batched input (T, N, in) or (N, T, in), is_batched)."""
        name = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: expected a tinylm Tensor as input, got {type(input).__name__}")
        if input.ndim not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.ndim}D instead "
                             f"(input shape {input.shape})")
        weight = self.weight_ih_l0
        if input.dtype != weight.dtype:
            raise ValueError(f"{name}: input dtype ({input.dtype}) does not match weight dtype "
                             f"({weight.dtype}). Convert input: input.to({weight.dtype}), or convert "
                             f"model: model.to({input.dtype})")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {input.shape[-1]} (input shape {input.shape})")
        batched = input.ndim == 3
        if not batched:
            input = input.unsqueeze(0 if self.batch_first else 1)
        if input.shape[1 if self.batch_first else 0] == 0:
            raise RuntimeError(f"{name}: Expected sequence length to be larger than 0 in RNN "
                               f"(input shape {input.shape})")
        return input, batched

    def _device(self):
        """Where the weights live: zero initial states are made there."""
        return next(iter(self._parameters.values())).device

    def _check_states(self, hx, N, batched, dtype):
        """hx -> a list of STATES tensors (D*L, N, H), zeros when hx is None."""
        name, D = type(self).__name__, 2 if self.bidirectional else 1
        shape = (D * self.num_layers, N, self.hidden_size)
        if hx is None:
            return [zeros(*shape, dtype=dtype, device=self._device()) for _ in range(self.STATES)]
        if self.STATES == 2:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                got = f"a tuple of {len(hx)}" if isinstance(hx, (tuple, list)) else type(hx).__name__
                raise RuntimeError(f"{name}: expected hx = (h_0, c_0), two tensors of shape {shape}, got {got}")
            states, what = list(hx), ("hidden[0]", "hidden[1]")
        else:
            if not isinstance(hx, Tensor):
                raise TypeError(f"{name}: expected hx to be a Tensor of shape {shape}, got {type(hx).__name__}")
            states, what = [hx], ("hidden",)
        for i, s in enumerate(states):
            if not isinstance(s, Tensor):
                raise TypeError(f"{name}: expected {what[i]} to be a Tensor, got {type(s).__name__}")
            if s.ndim != (3 if batched else 2):
                kind = "batched 3-D" if batched else "unbatched 2-D"
                raise RuntimeError(f"{name}: For {kind} input, {what[i]} should also be {kind[-3:]} but "
                                   f"got shape {s.shape}")
            if not batched:
                s = states[i] = s.unsqueeze(1)
            if s.shape != shape:
                raise RuntimeError(f"{name}: Expected {what[i]} size {shape}, got {list(s.shape)}")
            if s.dtype != dtype:
                raise ValueError(f"{name}: {what[i]} dtype ({s.dtype}) does not match input dtype ({dtype})")
        return states

    def forward(self, input, hx=None):
        """LSTM and PeepholeLSTM: (output, (h_n, c_n)); GRU: (output, h_n)."""
        x, batched = self._check_input(input)
        if self.batch_first:
            x = x.transpose(0, 1)                 # (T, N, in)
        states = self._check_states(hx, x.shape[1], batched, x.dtype)
        D = 2 if self.bidirectional else 1
        finals = [[] for _ in states]             # per state kind, D*L tensors (N, H)
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                k = layer * D + d
                weights = [getattr(self, n) for n in self._all_weights[k]]
                out, *last = self._layer(x, [s[k] for s in states], weights, reverse=d == 1)
                outs.append(out)                  # (T, N, H)
                for f, s in zip(finals, last):
                    f.append(s)
            x = outs[0] if D == 1 else ops.cat(outs, dim=2)  # (T, N, D*H)
            if layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, self.training)
        if self.batch_first:
            x = x.transpose(0, 1)                 # (N, T, D*H)
        finals = [ops.stack(f) for f in finals]   # (D*L, N, H) each
        if not batched:
            x = x.squeeze(0 if self.batch_first else 1)
            finals = [f.squeeze(1) for f in finals]
        return x, (tuple(finals) if self.STATES == 2 else finals[0])

    def _split_weights(self, weights):
        """(w_ih, w_hh, b_ih, b_hh, *extras) with None biases when bias=False."""
        return weights if self.bias else weights[:2] + [None, None] + weights[2:]


class LSTM(RNNBase):
    """torch.nn.LSTM. Per layer and direction, for t = 1..T (gate order i, f, g, o):
        i = sigmoid(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
        f = sigmoid(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
        g = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
        o = sigmoid(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
        c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
    forward(input, (h_0, c_0)=None) -> output, (h_n, c_n). proj_size is not supported."""

    def _layer(self, x, states, weights, reverse):
        return lstm_layer(x, *states, *self._split_weights(weights), reverse=reverse)


class GRU(RNNBase):
    """torch.nn.GRU. Per layer and direction (gate order r, z, n):
        r = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        z = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))
        h_t = (1 - z) * n + z * h_{t-1}
    forward(input, h_0=None) -> output, h_n."""
    GATES, STATES = 3, 1

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__(*args, **kwargs)

    def _layer(self, x, states, weights, reverse):
        return gru_layer(x, *states, *self._split_weights(weights), reverse=reverse)


class PeepholeLSTM(LSTM):
    """An LSTM with peephole connections (Gers & Schmidhuber 2000): the cell
    state feeds the input and forget gates (c_{t-1}) and the output gate (c_t)
    through diagonal weights:
        i = sigmoid(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi + w_ci * c_{t-1})
        f = sigmoid(W_if x_t + b_if + W_hf h_{t-1} + b_hf + w_cf * c_{t-1})
        g = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg),   c_t = f * c_{t-1} + i * g
        o = sigmoid(W_io x_t + b_io + W_ho h_{t-1} + b_ho + w_co * c_t)
        h_t = o * tanh(c_t)
    Same arguments, shapes and outputs as LSTM. Each layer and direction has,
    after LSTM's four, weight_ci_l{k}, weight_cf_l{k}, weight_co_l{k} of shape
    (H,) (kept with bias=False), drawn U(-1/sqrt(H), 1/sqrt(H)) like the rest.
    With the peephole weights at zero it computes exactly LSTM.
    No PyTorch counterpart; it runs on autograd ops, step by step (slower than LSTM)."""

    def _extra_shapes(self):
        H = self.hidden_size
        return {"weight_ci": (H,), "weight_cf": (H,), "weight_co": (H,)}

    def _layer(self, x, states, weights, reverse):
        return peephole_lstm_layer(x, *states, *self._split_weights(weights), reverse=reverse)


# ---- cells ---------------------------------------------------------------------------


class RNNCellBase(Module):
    """weight_ih (G*H, in), weight_hh (G*H, H), bias_ih and bias_hh (G*H,),
    all U(-1/sqrt(H), 1/sqrt(H)), as torch.nn.RNNCellBase."""
    GATES = 4

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        GH = self.GATES * hidden_size
        self.weight_ih = _parameter((GH, input_size), device, dtype)
        self.weight_hh = _parameter((GH, hidden_size), device, dtype)
        if bias:
            self.bias_ih, self.bias_hh = _parameter((GH,), device, dtype), _parameter((GH,), device, dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    reset_parameters = RNNBase.reset_parameters

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias is True else f", bias={self.bias}")

    def _check(self, input, hx, what):
        """Validates input (N, in) or (in,) and the states in hx; returns
        (input (N, in), states (N, H) each or None, is_batched)."""
        name = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: expected a tinylm Tensor as input, got {type(input).__name__}")
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead "
                             f"(input shape {input.shape})")
        if input.dtype != self.weight_ih.dtype:
            raise ValueError(f"{name}: input dtype ({input.dtype}) does not match weight dtype "
                             f"({self.weight_ih.dtype})")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input has inconsistent input_size: got {input.shape[-1]} "
                               f"expected {self.input_size} (input shape {input.shape})")
        batched = input.ndim == 2
        if not batched:
            input = input.unsqueeze(0)
        shape = (input.shape[0], self.hidden_size)
        if hx is None:
            return input, [zeros(*shape, dtype=input.dtype, device=input.device) for _ in what], batched
        states = list(hx) if len(what) == 2 else [hx]
        if len(states) != len(what):
            raise RuntimeError(f"{name}: expected hx = (h, c), two tensors, got {len(states)}")
        for i, s in enumerate(states):
            if not isinstance(s, Tensor):
                raise TypeError(f"{name}: expected {what[i]} to be a Tensor, got {type(s).__name__}")
            if s.ndim != (2 if batched else 1):
                raise ValueError(f"{name}: Expected {what[i]} to be {'2D' if batched else '1D'} like the "
                                 f"input, got shape {s.shape}")
            s = states[i] = s if batched else s.unsqueeze(0)
            if s.shape != shape:
                raise RuntimeError(f"{name}: Expected {what[i]} of shape {shape}, got {s.shape}")
            if s.dtype != input.dtype:
                raise ValueError(f"{name}: {what[i]} dtype ({s.dtype}) does not match input dtype ({input.dtype})")
        return input, states, batched


class LSTMCell(RNNCellBase):
    """torch.nn.LSTMCell: one LSTM step (equations as LSTM).
    forward(input (N, in) or (in,), hx=(h, c) or None) -> (h', c'), each (N, H) or (H,)."""

    def forward(self, input, hx=None):
        x, (h, c), batched = self._check(input, hx, ("hx[0]", "hx[1]"))
        h, c = F.lstm_cell(x, (h, c), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """torch.nn.GRUCell: one GRU step (equations as GRU).
    forward(input (N, in) or (in,), hx (N, H) or (H,) or None) -> h'."""
    GATES = 3

    def forward(self, input, hx=None):
        x, (h,), batched = self._check(input, hx, ("hx",))
        h = F.gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h if batched else h.squeeze(0)
