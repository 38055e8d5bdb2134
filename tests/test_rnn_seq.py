"""The whole-sequence LSTM/GRU kernels (kernels/rnn_seq.py) beyond what the
table-driven test in test_kernels.py reaches: the two-thread batch split at
sizes above its threshold, the step-by-step loop that LSTMSeq/GRUSeq fall
back to on a backend without these kernels, and input errors."""
import numpy as np
import pytest

import kernels
import tinylm as tl
from kernels import rnn_seq
from kernels.harness import as_tuple, compare, simulator
from tinylm.nn.functional import rnn_seq as F_rnn_seq

pytestmark = pytest.mark.skipif(simulator(), reason="checks the CPU kernels and their callers")

NAMES = ["lstm_seq_forward", "lstm_seq_backward", "gru_seq_forward", "gru_seq_backward"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("reverse", [0, 1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_two_thread_split_matches_reference(name, reverse, dtype):
    # N = 17: halves of 8 and 9 rows, the second not a whole number of 4-row blocks
    T, N, H = 8, 17, 128
    G = (4 if name.startswith("lstm") else 3) * H
    assert N >= rnn_seq.SPLIT_ROWS and T * N * G * H >= rnn_seq.SPLIT_WORK
    k = kernels.KERNELS[name]
    extra = {"bias": 1} if name.startswith("gru") else {}
    args = k.example(np.random.default_rng(reverse), dtype, T=T, N=N, H=H, reverse=reverse, **extra)
    expected, got = as_tuple(k.reference(*args)), as_tuple(k.cpu(*args))
    err_abs, err_rel, ok = compare(k, expected, got, dtype)
    assert ok, f"{name}: max abs error {err_abs:.3g}, rel {err_rel:.3g}"


class _StepsOnly:
    """A kernel table without the whole-sequence kernels, as CUDA's is today."""

    def __init__(self, K):
        self.K = K

    def __getattr__(self, name):
        if name.endswith("_seq_forward") or name.endswith("_seq_backward"):
            raise NotImplementedError(f"kernel {name!r} has no cuda implementation")
        return getattr(self.K, name)


def _layer_run(kind, reverse):
    """Outputs and gradients of one layer, float64, for the same random data."""
    rng = np.random.default_rng(7)
    T, N, I, H = 5, 3, 4, 6
    G = (4 if kind == "lstm" else 3) * H
    p = {n: tl.tensor(rng.standard_normal(s) * 0.5, requires_grad=True) for n, s in (
        ("x", (T, N, I)), ("h0", (N, H)), ("c0", (N, H)), ("w_ih", (G, I)), ("w_hh", (G, H)),
        ("b_ih", (G,)), ("b_hh", (G,)))}
    if kind == "lstm":
        outs = F_rnn_seq.lstm_layer(p["x"], p["h0"], p["c0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"],
                                    reverse=reverse)
    else:
        outs = F_rnn_seq.gru_layer(p["x"], p["h0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"],
                                   reverse=reverse)
    loss = sum((o * tl.tensor(rng.standard_normal(o.shape))).sum() for o in outs)
    loss.backward()
    return [o.detach().numpy() for o in outs] + [t.grad.numpy() for n, t in p.items()
                                                   if t.grad is not None]


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("reverse", [False, True])
def test_step_loop_fallback_matches_whole_sequence_kernels(kind, reverse, monkeypatch):
    fast = _layer_run(kind, reverse)
    cpu = kernels.backend("cpu")
    monkeypatch.setattr(F_rnn_seq, "kernels_for", lambda a: _StepsOnly(cpu))
    steps = _layer_run(kind, reverse)
    assert len(fast) == len(steps) == (3 if kind == "lstm" else 2) + (7 if kind == "lstm" else 6)
    for a, b in zip(fast, steps):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("call, error, pattern", [
    (lambda K: K.lstm_seq_forward(np.ones((2, 3, 8), np.float32), np.ones((3, 2), np.float32),
                                  np.ones((3, 2), np.float32), np.ones((8, 3), np.float32), False),
     ValueError, r"lstm_seq_forward: w_hh should have shape \(8, 2\)"),
    (lambda K: K.gru_seq_forward(np.ones((2, 3, 7)), np.ones((3, 2)), np.ones((6, 2)), None, False),
     ValueError, r"gru_seq_forward: gi must be \(T, N, 3H\)"),
    (lambda K: K.gru_seq_backward(np.ones((2, 3, 2)), np.ones((3, 2)), np.ones((6, 2), np.float32),
                                  np.ones((2, 3, 2)), np.ones((2, 3, 8)), False),
     TypeError, "gru_seq_backward: arrays must all be float32 or all float64"),
    (lambda K: K.lstm_seq_forward(np.ones((0, 3, 8)), np.ones((3, 2)), np.ones((3, 2)), np.ones((8, 2)),
                                  False),
     ValueError, "T >= 1"),
])
def test_wrappers_reject_bad_input(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call(kernels.backend("cpu"))
