"""LSTM, GRU, PeepholeLSTM, LSTMCell and GRUCell: every layout and flag
against a plain NumPy loop written here, gradients against finite
differences in float64, PyTorch's parameter names, order, shapes and
initialisation, dropout between layers, a 1,000-step sequence, and errors."""
import math
import time
import warnings

import numpy as np
import pytest

import tinylm as tl
import tinylm.nn as nn


# ---- the NumPy reference: one step at a time, float64 ----------------------------------------
def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh, w_ci=0, w_cf=0, w_co=0):
    """torch.nn.LSTMCell (gate order i, f, g, o); nonzero w_c* make it a peephole cell."""
    i, f, g, o = np.split(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh, 4, axis=-1)
    c = sigmoid(f + w_cf * c) * c + sigmoid(i + w_ci * c) * np.tanh(g)
    return sigmoid(o + w_co * c) * np.tanh(c), c


def gru_step(x, h, w_ih, w_hh, b_ih, b_hh):
    """torch.nn.GRUCell (gate order r, z, n); r gates only W_hn h + b_hn."""
    ir, iz, in_ = np.split(x @ w_ih.T + b_ih, 3, axis=-1)
    hr, hz, hn = np.split(h @ w_hh.T + b_hh, 3, axis=-1)
    r, z = sigmoid(ir + hr), sigmoid(iz + hz)
    n = np.tanh(in_ + r * hn)
    return (1 - z) * n + z * h


def reference(kind, params, x, states, num_layers, bidirectional):
    """x (T, N, in); states: [h0] or [h0, c0], each (D*L, N, H); params: name -> array.
    Returns output (T, N, D*H) and the final states, each (D*L, N, H)."""
    T, D = x.shape[0], 2 if bidirectional else 1
    finals = [[] for _ in states]
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            suffix = f"_l{layer}" + ("_reverse" if d else "")
            p = {n: params.get(n + suffix, 0.0) for n in  # missing biases count as 0
                 ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_ci", "weight_cf", "weight_co")}
            st = [s[layer * D + d] for s in states]
            ys = [None] * T
            for t in (range(T - 1, -1, -1) if d else range(T)):
                if kind == "GRU":
                    st = [gru_step(x[t], *st, *[p[n] for n in list(p)[:4]])]
                else:
                    st = list(lstm_step(x[t], *st, *p.values()))
                ys[t] = st[0]
            outs.append(np.stack(ys))
            for f, s in zip(finals, st):
                f.append(s)
        x = np.concatenate(outs, axis=-1)
    return x, [np.stack(f) for f in finals]


def _np(t):
    return t.detach().numpy()


def _params(m):
    return {n: p.data.astype(np.float64) for n, p in m.named_parameters()}


def _randomize(m, rng, scale=0.5):
    """Fill every parameter (peepholes included) with N(0, scale)."""
    for p in m.parameters():
        p.data[...] = rng.standard_normal(p.shape) * scale
    return m


def _run(m, x, states, batched=True):
    """m on time-major x (T, N, in) laid out as m expects; returns the output
    time-major and the final states, as NumPy arrays."""
    inp = x if batched else x[:, 0]
    if batched and m.batch_first:
        inp = inp.transpose(1, 0, 2)
    hx = None
    if states is not None:
        hx = [tl.tensor(s if batched else s[:, 0]) for s in states]
        hx = tuple(hx) if len(hx) == 2 else hx[0]
    out, last = m(tl.tensor(inp), hx)
    out, last = _np(out), [_np(s) for s in (last if isinstance(last, tuple) else (last,))]
    if not batched:
        return out[:, None], [s[:, None] for s in last]
    return (out.transpose(1, 0, 2) if m.batch_first else out), last


KINDS = {"LSTM": (nn.LSTM, 2), "GRU": (nn.GRU, 1), "PeepholeLSTM": (nn.PeepholeLSTM, 2)}
FLAGS = [  # num_layers, bidirectional, batch_first, bias, batched, hx given
    (1, False, False, True, True, False), (1, False, False, False, True, True),
    (2, False, True, True, True, True), (1, True, False, True, True, True),
    (2, True, True, False, True, False), (3, True, False, True, True, True),
    (2, True, True, True, False, True), (1, False, False, True, False, False),
]


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("L, bidir, batch_first, bias, batched, given", FLAGS)
@pytest.mark.parametrize("dtype", [tl.float32, tl.float64])
def test_matches_numpy_reference(kind, L, bidir, batch_first, bias, batched, given, dtype):
    cls, n_states = KINDS[kind]
    rng = np.random.default_rng(L * 100 + 10 * bidir + batch_first)
    T, N, I, H = 5, (3 if batched else 1), 4, 6
    m = _randomize(cls(I, H, L, bias=bias, batch_first=batch_first, bidirectional=bidir, dtype=dtype), rng)
    x = rng.standard_normal((T, N, I)).astype(dtype)
    shape = ((2 if bidir else 1) * L, N, H)
    states = [rng.standard_normal(shape).astype(dtype) for _ in range(n_states)] if given else None
    out, last = _run(m, x, states, batched)
    ref_out, ref_last = reference(kind, _params(m), x.astype(np.float64),
                                  states or [np.zeros(shape)] * n_states, L, bidir)
    tol = 1e-5 if dtype == tl.float32 else 1e-12
    assert out.dtype == dtype and out.shape == ref_out.shape == (T, N, (2 if bidir else 1) * H)
    np.testing.assert_allclose(out, ref_out, rtol=tol, atol=tol)
    for got, want in zip(last, ref_last, strict=True):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def _gradcheck(m, x, states):
    """tl.gradcheck of (output, *final states) over x, the initial states and
    every parameter of m, which sees the float64 copies gradcheck makes."""
    names = [n for n, _ in m.named_parameters()]

    def fn(x, *rest):
        sts, ps = rest[:len(states)], rest[len(states):]
        saved = dict(m._parameters)
        m._parameters.update(zip(names, ps))
        try:
            out, last = m(x, tuple(sts) if len(sts) == 2 else sts[0])
        finally:
            m._parameters.update(saved)
        return (out, *(last if isinstance(last, tuple) else (last,)))
    return tl.gradcheck(fn, (x, *states, *m.parameters()))


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("L, bidir, batch_first, bias", [(1, False, False, True), (2, True, True, True),
                                                         (1, True, False, False)])
def test_gradients_match_finite_differences(kind, L, bidir, batch_first, bias):
    cls, n_states = KINDS[kind]
    rng = np.random.default_rng(7)
    T, N, I, H = 3, 2, 2, 2
    m = _randomize(cls(I, H, L, bias=bias, batch_first=batch_first, bidirectional=bidir, dtype=tl.float64), rng)
    x = tl.tensor(rng.standard_normal((N, T, I) if batch_first else (T, N, I)), requires_grad=True)
    states = [tl.tensor(rng.standard_normal(((2 if bidir else 1) * L, N, H)), requires_grad=True)
              for _ in range(n_states)]
    assert _gradcheck(m, x, states)


def test_peephole_with_zero_peepholes_is_lstm():
    rng = np.random.default_rng(1)
    lstm = _randomize(nn.LSTM(3, 4, 2, bidirectional=True), rng)
    peep = nn.PeepholeLSTM(3, 4, 2, bidirectional=True)
    peep.load_state_dict({**lstm.state_dict(), **{n: np.zeros(4, np.float32) for n, _ in peep.named_parameters()
                                                  if "_c" in n}})
    x = tl.randn(5, 2, 3)
    (a, (ha, ca)), (b, (hb, cb)) = lstm(x), peep(x)
    for u, v in ((a, b), (ha, hb), (ca, cb)):
        np.testing.assert_allclose(_np(u), _np(v), rtol=1e-5, atol=1e-6)


# ---- cells -------------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batched", [True, False])
def test_cells_match_numpy_reference(bias, batched):
    rng = np.random.default_rng(3)
    lstm, gru = (_randomize(c(4, 5, bias=bias, dtype=tl.float64), rng) for c in (nn.LSTMCell, nn.GRUCell))
    x, h, c = rng.standard_normal((3, 4)), rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    b = (lambda a: a) if batched else (lambda a: a[0])
    for hx, want_h in ((None, np.zeros((3, 5))), ((h, c), h)):
        want_c = np.zeros((3, 5)) if hx is None else c
        p = lstm._parameters
        want = lstm_step(x, want_h, want_c, *[0.0 if p[n] is None else p[n].data for n in p])
        got = lstm(tl.tensor(b(x)), None if hx is None else (tl.tensor(b(h)), tl.tensor(b(c))))
        for g_, w in zip(got, want):
            np.testing.assert_allclose(_np(g_), b(w), rtol=1e-12, atol=1e-12)
        p = gru._parameters
        want = gru_step(x, want_h, *[0.0 if p[n] is None else p[n].data for n in p])
        got = gru(tl.tensor(b(x)), None if hx is None else tl.tensor(b(h)))
        np.testing.assert_allclose(_np(got), b(want), rtol=1e-12, atol=1e-12)


def test_cell_gradients_match_finite_differences():
    rng = np.random.default_rng(4)
    x, h, c = (tl.tensor(rng.standard_normal((2, s)), requires_grad=True) for s in (3, 2, 2))
    for cell, hx in ((nn.LSTMCell(3, 2, dtype=tl.float64), (h, c)), (nn.GRUCell(3, 2, dtype=tl.float64), (h,))):
        names = [n for n, _ in cell.named_parameters()]

        def fn(x, *rest):
            saved = dict(cell._parameters)
            cell._parameters.update(zip(names, rest[len(hx):]))
            try:
                return cell(x, tuple(rest[:2]) if len(hx) == 2 else rest[0])
            finally:
                cell._parameters.update(saved)
        assert tl.gradcheck(fn, (x, *hx, *cell.parameters()))


# ---- parameters, init, repr --------------------------------------------------------------------
def test_parameter_names_shapes_and_order_are_pytorchs():
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    names = [f"{k}_l{layer}{s}" for layer in range(2) for s in ("", "_reverse")
             for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    assert [n for n, _ in m.named_parameters()] == names
    layer0, layer1 = [(16, 3), (16, 4), (16,), (16,)], [(16, 8), (16, 4), (16,), (16,)]
    assert [p.shape for p in m.parameters()] == layer0 * 2 + layer1 * 2
    g = nn.GRU(3, 4, num_layers=2, bias=False)
    assert [(n, p.shape) for n, p in g.named_parameters()] == [
        ("weight_ih_l0", (12, 3)), ("weight_hh_l0", (12, 4)), ("weight_ih_l1", (12, 4)), ("weight_hh_l1", (12, 4))]
    p = nn.PeepholeLSTM(3, 4, bias=False)
    assert [(n, q.shape) for n, q in p.named_parameters()] == [
        ("weight_ih_l0", (16, 3)), ("weight_hh_l0", (16, 4)),
        ("weight_ci_l0", (4,)), ("weight_cf_l0", (4,)), ("weight_co_l0", (4,))]
    assert [n for n, _ in nn.LSTMCell(3, 4).named_parameters()] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    assert nn.GRUCell(3, 4).weight_hh.shape == (12, 4) and nn.GRUCell(3, 4, bias=False).bias_ih is None
    assert m.all_weights[1][0] is m.weight_ih_l0_reverse


@pytest.mark.parametrize("make", [lambda: nn.LSTM(5, 100, 2, bidirectional=True), lambda: nn.GRU(5, 100),
                                  lambda: nn.PeepholeLSTM(5, 100), lambda: nn.LSTMCell(5, 100),
                                  lambda: nn.GRUCell(5, 100, dtype=tl.float64)])
def test_default_init_is_uniform_within_one_over_sqrt_hidden(make):
    tl.manual_seed(0)
    bound = 1 / math.sqrt(100)
    for name, p in make().named_parameters():
        a = p.data
        assert np.abs(a).max() <= bound, name
        if a.size >= 400:  # spread over the whole interval, not a constant
            assert np.abs(a).max() > 0.95 * bound and abs(a.mean()) < 0.2 * bound, name


def test_repr_is_pytorchs():
    assert repr(nn.LSTM(10, 20)) == "LSTM(10, 20)"
    assert repr(nn.LSTM(10, 20, num_layers=2, batch_first=True)) == "LSTM(10, 20, num_layers=2, batch_first=True)"
    assert repr(nn.GRU(10, 20, 2, bias=False, dropout=0.5, bidirectional=True)) == \
        "GRU(10, 20, num_layers=2, bias=False, dropout=0.5, bidirectional=True)"
    assert repr(nn.LSTMCell(3, 4)) == "LSTMCell(3, 4)"
    assert repr(nn.GRUCell(3, 4, bias=False)) == "GRUCell(3, 4, bias=False)"


# ---- dropout, long sequences -------------------------------------------------------------------
def test_dropout_only_between_layers_and_only_in_training():
    rng = np.random.default_rng(5)
    m = _randomize(nn.LSTM(3, 4, num_layers=2, dropout=1.0, dtype=tl.float64), rng)
    x = rng.standard_normal((5, 2, 3))
    zeros = [np.zeros((2, 2, 4))] * 2
    # p = 1 zeroes layer 0's output: layer 1 then sees zeros, and h_n[0] is untouched
    out, (h, c) = m(tl.tensor(x))
    ref_out, (ref_h, ref_c) = reference("LSTM", _params(m), x, zeros, 2, False)
    np.testing.assert_allclose(_np(h)[0], ref_h[0], rtol=1e-12)
    layer1 = {n.replace("l1", "l0"): p for n, p in _params(m).items() if n.endswith("l1")}
    want, _ = reference("LSTM", layer1, np.zeros((5, 2, 4)), [np.zeros((1, 2, 4))] * 2, 1, False)
    np.testing.assert_allclose(_np(out), want, rtol=1e-12, atol=1e-12)
    m.eval()  # no dropout at all
    np.testing.assert_allclose(_np(m(tl.tensor(x))[0]), ref_out, rtol=1e-12, atol=1e-12)
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        one = nn.GRU(3, 4, dropout=0.5, dtype=tl.float64)
    one_ref, _ = reference("GRU", _params(one), x, [np.zeros((1, 2, 4))], 1, False)
    np.testing.assert_allclose(_np(one(tl.tensor(x))[0]), one_ref, rtol=1e-12, atol=1e-12)  # last layer: none


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
def test_a_thousand_steps_train_fast_with_finite_grads(cls):
    m = cls(8, 16, bidirectional=True)
    x = tl.randn(1000, 4, 8, requires_grad=True)
    start = time.perf_counter()
    out, _ = m(x)
    (out * out).mean().backward()
    assert time.perf_counter() - start < 5
    for t in [x, *m.parameters()]:
        assert t.grad is not None and np.isfinite(t.grad.data).all()
    assert np.abs(x.grad.data[0]).sum() > 0  # the reverse direction reaches step 0


# ---- errors ------------------------------------------------------------------------------------
X = tl.ones(5, 3, 10)


@pytest.mark.parametrize("call, error, pattern", [
    (lambda: nn.LSTM(10, 20)(tl.ones(5, 3, 10, 1)), ValueError, r"LSTM: Expected input to be 2D or 3D, got 4D"),
    (lambda: nn.GRU(10, 20)(tl.ones(10)), ValueError, r"GRU: Expected input to be 2D or 3D, got 1D"),
    (lambda: nn.LSTM(10, 20)(tl.ones(5, 3, 16)), RuntimeError,
     r"LSTM: input.size\(-1\) must be equal to input_size. Expected 10, got 16 \(input shape \(5, 3, 16\)\)"),
    (lambda: nn.LSTM(10, 20, 2)(X, (tl.zeros(1, 3, 20), tl.zeros(2, 3, 20))), RuntimeError,
     r"LSTM: Expected hidden\[0\] size \(2, 3, 20\), got \[1, 3, 20\]"),
    (lambda: nn.LSTM(10, 20)(X, (tl.zeros(1, 3, 20), tl.zeros(1, 2, 20))), RuntimeError,
     r"LSTM: Expected hidden\[1\] size \(1, 3, 20\), got \[1, 2, 20\]"),
    (lambda: nn.LSTM(10, 20)(X, (tl.zeros(1, 3, 20),)), RuntimeError, r"LSTM: expected hx = \(h_0, c_0\)"),
    (lambda: nn.LSTM(10, 20)(X, tl.zeros(1, 3, 20)), RuntimeError, r"LSTM: expected hx = \(h_0, c_0\)"),
    (lambda: nn.LSTM(10, 20)(X, (tl.zeros(3, 20), tl.zeros(3, 20))), RuntimeError, r"LSTM: For batched 3-D input"),
    (lambda: nn.GRU(10, 20, bidirectional=True)(X, tl.zeros(1, 3, 20)), RuntimeError,
     r"GRU: Expected hidden size \(2, 3, 20\), got \[1, 3, 20\]"),
    (lambda: nn.GRU(10, 20)(tl.ones(5, 10), tl.zeros(1, 1, 20)), RuntimeError, r"GRU: For unbatched 2-D input"),
    (lambda: nn.GRU(10, 20)(X, (tl.zeros(1, 3, 20),)), TypeError, "GRU: expected hx to be a Tensor"),
    (lambda: nn.LSTM(10, 20)(X.double()), ValueError, r"LSTM: input dtype \(float64\) does not match weight dtype"),
    (lambda: nn.LSTM(10, 20)(tl.ones(0, 3, 10)), RuntimeError, "sequence length to be larger than 0"),
    (lambda: nn.PeepholeLSTM(10, 20)(tl.ones(5, 3, 9)), RuntimeError, "PeepholeLSTM: .*Expected 10, got 9"),
    (lambda: nn.LSTMCell(10, 20)(tl.ones(3, 5)), RuntimeError,
     "LSTMCell: input has inconsistent input_size: got 5 expected 10"),
    (lambda: nn.LSTMCell(10, 20)(tl.ones(3, 10), (tl.ones(2, 20), tl.ones(3, 20))), RuntimeError,
     r"LSTMCell: Expected hx\[0\] of shape \(3, 20\), got \(2, 20\)"),
    (lambda: nn.LSTMCell(10, 20)(tl.ones(3, 10), (tl.ones(3, 20),)), RuntimeError, r"LSTMCell: expected hx = \(h, c\)"),
    (lambda: nn.GRUCell(10, 20)(tl.ones(2, 3, 10)), ValueError, "GRUCell: Expected input to be 1D or 2D, got 3D"),
    (lambda: nn.GRUCell(10, 20)(tl.ones(3, 10), tl.ones(3, 19)), RuntimeError,
     r"GRUCell: Expected hx of shape \(3, 20\)"),
    (lambda: nn.LSTM(10, 20, dropout=1.5), ValueError, "dropout should be a number in range"),
    (lambda: nn.LSTM(10, 0), ValueError, "hidden_size must be greater than zero"),
    (lambda: nn.LSTM(10, 20, proj_size=5), NotImplementedError, "proj_size"),
])
def test_bad_input_is_named(call, error, pattern):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(error, match=pattern):
            call()
