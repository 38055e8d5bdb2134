"""The basic layers, losses and gradient clipping: each forward against the
NumPy reference (tests/references.py) on the layer's own weights, each
gradient against finite differences in float64, PyTorch's default
initialisation, parameter names and shapes, reprs and error messages."""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import references as ref
import tinylm as tl
import tinylm.nn as nn
from tinylm.nn.utils import clip_grad_norm_, clip_grad_value_


def _np(t):
    return t.detach().numpy()


def _gradcheck(module, *inputs):
    """tl.gradcheck over the inputs that require grad and every parameter of
    `module`, which sees the float64 copies gradcheck makes of them."""
    names = [n for n, _ in module.named_parameters()]

    def fn(*args):
        xs, ps = args[:len(inputs)], args[len(inputs):]
        saved = dict(module._parameters)
        module._parameters.update(zip(names, ps))
        try:
            return module(*xs)
        finally:
            module._parameters.update(saved)
    module.double()
    return tl.gradcheck(fn, (*inputs, *module.parameters()))


def _x(rng, *shape, requires_grad=True):
    return tl.tensor(rng.standard_normal(shape), requires_grad=requires_grad)  # float64


# ---- forward against NumPy, gradients against finite differences ----------------------------
@settings(max_examples=10)
@given(lead=st.lists(st.integers(1, 3), max_size=2), n_in=st.integers(1, 5), n_out=st.integers(1, 4),
       bias=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_linear_matches_numpy_and_finite_differences(lead, n_in, n_out, bias, seed):
    rng = np.random.default_rng(seed)
    lin = nn.Linear(n_in, n_out, bias=bias, dtype=tl.float64)
    x = _x(rng, *lead, n_in)
    expected = ref.linear(x.data, lin.weight.data, lin.bias.data if bias else None)
    np.testing.assert_allclose(_np(lin(x)), expected, rtol=1e-12, atol=1e-12)
    assert _gradcheck(lin, x)


@settings(max_examples=10)
@given(shape=st.sampled_from([(5,), (2, 3), (3, 2, 2)]), affine=st.booleans(), bias=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_layer_norm_matches_numpy_and_finite_differences(shape, affine, bias, seed):
    rng = np.random.default_rng(seed)
    ln = nn.LayerNorm(shape, eps=1e-3, elementwise_affine=affine, bias=bias, dtype=tl.float64)
    for p in ln.parameters():
        p.data[...] = rng.standard_normal(p.shape)  # away from the ones/zeros start
    x = _x(rng, 2, *shape)
    w, b = (None if p is None else p.data for p in (ln.weight, ln.bias))
    np.testing.assert_allclose(_np(ln(x)), ref.layer_norm(x.data, shape, w, b, eps=1e-3), rtol=1e-10, atol=1e-12)
    assert _gradcheck(ln, x)


def test_embedding_matches_numpy_and_finite_differences():
    emb = nn.Embedding(6, 3, padding_idx=2, dtype=tl.float64)
    ids = tl.tensor([[0, 2, 5], [5, 5, 1]])
    np.testing.assert_array_equal(_np(emb(ids)), ref.embedding(ids.data, emb.weight.data))
    assert emb(ids).shape == (2, 3, 3) and emb(tl.tensor(4)).shape == (3,)
    # the padding row's gradient is 0 on purpose (finite differences disagree), so check without one
    assert _gradcheck(nn.Embedding(6, 3), ids)


@pytest.mark.parametrize("layer, reference", [
    (nn.ReLU(), lambda x: np.maximum(x, 0)),
    (nn.GELU(), ref.gelu),
    (nn.GELU(approximate="tanh"), lambda x: ref.gelu(x, "tanh")),
    (nn.Tanh(), np.tanh),
    (nn.Sigmoid(), ref.sigmoid),
    (nn.Softmax(dim=1), lambda x: ref.softmax(x, 1)),
    (nn.LogSoftmax(dim=-1), lambda x: ref.log_softmax(x, -1)),
    (nn.Identity(3, unused=True), lambda x: x),
], ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else "")
def test_activations_match_numpy_and_finite_differences(layer, reference):
    x = _x(np.random.default_rng(0), 2, 3, 4)
    np.testing.assert_allclose(_np(layer(x)), reference(x.data), rtol=1e-12, atol=1e-14)
    assert _gradcheck(layer, x)


def test_float32_layers_stay_float32():
    x = tl.randn(2, 4)
    for layer in (nn.Linear(4, 3), nn.LayerNorm(4), nn.GELU(), nn.Softmax(-1), nn.Dropout()):
        assert layer(x).dtype == tl.float32


# ---- initialisation, names and shapes ---------------------------------------------------
def test_linear_default_init_is_pytorchs_uniform():
    tl.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    for p in (lin.weight, lin.bias):
        v = _np(p)
        assert np.abs(v).max() <= bound and np.abs(v).max() > 0.98 * bound
        assert v.std() == pytest.approx(bound / math.sqrt(3), rel=0.05)
    assert [(n, p.shape, p.dtype) for n, p in lin.named_parameters()] == \
        [("weight", (300, 400), tl.float32), ("bias", (300,), tl.float32)]
    assert list(nn.Linear(2, 3, bias=False).state_dict()) == ["weight"]
    assert nn.Linear(2, 3, dtype=tl.float64, device="cpu").weight.dtype == tl.float64
    with pytest.raises(RuntimeError, match="cuda"):
        nn.Linear(2, 3, device="cuda")
    with pytest.warns(UserWarning, match="zero-element"):
        empty = nn.Linear(0, 3)
    assert (_np(empty.bias) == 0).all()  # bound 0 when fan_in is 0, as PyTorch


def test_reset_parameters_redraws():
    lin = nn.Linear(3, 4)
    before = _np(lin.weight).copy()
    lin.reset_parameters()
    assert not np.array_equal(before, _np(lin.weight))


def test_embedding_default_init_is_standard_normal_with_zero_padding_row():
    tl.manual_seed(0)
    emb = nn.Embedding(500, 64, padding_idx=-1)
    assert emb.padding_idx == 499
    w = _np(emb.weight)
    assert [(n, p.shape) for n, p in emb.named_parameters()] == [("weight", (500, 64))]
    assert (w[499] == 0).all()
    assert w[:499].mean() == pytest.approx(0, abs=0.02) and w[:499].std() == pytest.approx(1, rel=0.02)


def test_layer_norm_default_init_and_names():
    ln = nn.LayerNorm([2, 3])
    assert ln.normalized_shape == (2, 3)
    assert [(n, p.shape) for n, p in ln.named_parameters()] == [("weight", (2, 3)), ("bias", (2, 3))]
    assert (_np(ln.weight) == 1).all() and (_np(ln.bias) == 0).all()
    assert list(nn.LayerNorm(3, bias=False).state_dict()) == ["weight"]
    assert list(nn.LayerNorm(3, elementwise_affine=False).state_dict()) == []


# ---- embedding behaviour -----------------------------------------------------------------
def test_embedding_padding_row_gets_zero_gradient():
    emb = nn.Embedding(4, 2, padding_idx=0)
    emb(tl.tensor([[0, 1, 0], [3, 1, 1]])).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy(), [[0, 0], [3, 3], [0, 0], [1, 1]])


def test_from_pretrained_shares_memory_and_freezes():
    table = tl.tensor(np.arange(6.0).reshape(3, 2))
    emb = nn.Embedding.from_pretrained(table, padding_idx=1)
    assert emb.weight.data is table.data and not emb.weight.requires_grad
    np.testing.assert_array_equal(_np(emb(tl.tensor([1]))), [[2.0, 3.0]])  # the padding row is not zeroed
    assert nn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad
    with pytest.raises(ValueError, match="2-D"):
        nn.Embedding.from_pretrained(tl.ones(3))


@pytest.mark.parametrize("kwargs", [dict(max_norm=1.0), dict(scale_grad_by_freq=True), dict(sparse=True)])
def test_embedding_unsupported_options_raise(kwargs):
    with pytest.raises(NotImplementedError, match=list(kwargs)[0]):
        nn.Embedding(3, 2, **kwargs)


# ---- errors name the layer and the sizes ---------------------------------------------------------
@pytest.mark.parametrize("call, error, pattern", [
    (lambda: nn.Linear(4, 2)(tl.ones(5, 3)), RuntimeError, r"Linear: expected input of size 4 .*\(5, 3\)"),
    (lambda: nn.Linear(4, 2)(tl.ones(1, 4, dtype=tl.float64)), TypeError, "Linear: input dtype float64"),
    (lambda: nn.Linear(4, 2)(np.ones((1, 4))), TypeError, "Linear: expected a tinylm Tensor"),
    (lambda: nn.Embedding(10, 3)(tl.tensor([1, 10])), IndexError, r"Embedding\(10, 3\): id 10 .*\[0, 10\)"),
    (lambda: nn.Embedding(10, 3)(tl.tensor([-1])), IndexError, r"Embedding\(10, 3\): id -1"),
    (lambda: nn.Embedding(10, 3)(tl.ones(2)), TypeError, "Embedding: expected integer ids"),
    (lambda: nn.Embedding(10, 3, padding_idx=10), ValueError, "padding_idx 10"),
    (lambda: nn.LayerNorm(8)(tl.ones(2, 4)), RuntimeError, r"LayerNorm: .*\(8,\).*\(2, 4\)"),
    (lambda: nn.Dropout(1.5), ValueError, "between 0 and 1"),
    (lambda: nn.GELU("fast"), ValueError, "approximate"),
    (lambda: nn.CrossEntropyLoss(reduction="avg"), ValueError, "reduction"),
    (lambda: nn.CrossEntropyLoss(label_smoothing=2.0), ValueError, "label_smoothing"),
    (lambda: nn.NLLLoss(weight=tl.ones(2, 2)), ValueError, "NLLLoss: weight must be 1-D"),
])
def test_bad_input_is_named(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


# ---- dropout, softmax dims, reprs -------------------------------------------------------------
def test_dropout_trains_and_is_identity_in_eval():
    tl.manual_seed(0)
    drop = nn.Dropout(0.2)
    x = tl.ones(20_000)
    y = _np(drop(x))
    assert abs((y == 0).mean() - 0.2) < 0.015 and np.allclose(y[y != 0], 1 / 0.8)
    assert drop.eval()(x) is x
    assert (_np(nn.Dropout(0.0)(x)) == 1).all() and (_np(nn.Dropout(1.0)(x)) == 0).all()


def test_softmax_without_dim_warns_and_picks_pytorchs_dim():
    x = tl.randn(2, 3)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        y = nn.Softmax()(x)
    np.testing.assert_allclose(_np(y), ref.softmax(x.numpy(), 1), rtol=1e-6)


@pytest.mark.parametrize("layer, text", [
    (nn.Linear(3, 4), "Linear(in_features=3, out_features=4, bias=True)"),
    (nn.Linear(3, 4, bias=False), "Linear(in_features=3, out_features=4, bias=False)"),
    (nn.Embedding(10, 3, padding_idx=0), "Embedding(10, 3, padding_idx=0)"),
    (nn.Embedding(10, 3), "Embedding(10, 3)"),
    (nn.LayerNorm(8), "LayerNorm((8,), eps=1e-05, elementwise_affine=True, bias=True)"),
    (nn.LayerNorm((2, 3), eps=1e-6, elementwise_affine=False),
     "LayerNorm((2, 3), eps=1e-06, elementwise_affine=False, bias=False)"),
    (nn.Dropout(), "Dropout(p=0.5, inplace=False)"),
    (nn.Identity(), "Identity()"),
    (nn.ReLU(), "ReLU()"),
    (nn.ReLU(inplace=True), "ReLU(inplace=True)"),
    (nn.GELU(), "GELU(approximate='none')"),
    (nn.Tanh(), "Tanh()"),
    (nn.Sigmoid(), "Sigmoid()"),
    (nn.Softmax(dim=-1), "Softmax(dim=-1)"),
    (nn.LogSoftmax(), "LogSoftmax(dim=None)"),
    (nn.CrossEntropyLoss(label_smoothing=0.1), "CrossEntropyLoss()"),
    (nn.MSELoss(), "MSELoss()"),
])
def test_repr_is_pytorchs(layer, text):
    assert repr(layer) == text


# ---- losses ------------------------------------------------------------------------------
def test_cross_entropy_loss_matches_numpy_with_all_options():
    rng = np.random.default_rng(0)
    x = tl.tensor(rng.standard_normal((5, 4, 2)), requires_grad=True)
    t = rng.integers(0, 4, (5, 2))
    t[0, 0] = 3
    w = rng.uniform(0.5, 2.0, 4)
    loss = nn.CrossEntropyLoss(weight=tl.tensor(w), ignore_index=3, label_smoothing=0.2)
    expected = ref.cross_entropy(x.data, t, weight=w, ignore_index=3, label_smoothing=0.2)
    assert loss(x, tl.tensor(t)).item() == pytest.approx(expected, rel=1e-12)
    for reduction in ("sum", "none"):
        np.testing.assert_allclose(_np(nn.CrossEntropyLoss(reduction=reduction)(x, tl.tensor(t))),
                                   ref.cross_entropy(x.data, t, reduction=reduction), rtol=1e-12)
    assert tl.gradcheck(lambda x: loss(x, tl.tensor(t)), (x,))


def test_loss_weight_is_a_buffer():
    loss = nn.CrossEntropyLoss(weight=tl.ones(3))
    assert list(loss.state_dict()) == ["weight"] and list(nn.CrossEntropyLoss().state_dict()) == []
    assert loss.double().weight.dtype == tl.float64 and loss.ignore_index == -100


def test_nll_and_mse_losses_match_numpy():
    rng = np.random.default_rng(1)
    logp = ref.log_softmax(rng.standard_normal((6, 3)), 1)
    t = rng.integers(0, 3, 6)
    assert nn.NLLLoss()(tl.tensor(logp), tl.tensor(t)).item() == pytest.approx(ref.nll_loss(logp, t), rel=1e-12)
    a, b = rng.standard_normal((2, 4, 3))
    for reduction in ("mean", "sum", "none"):
        np.testing.assert_allclose(_np(nn.MSELoss(reduction=reduction)(tl.tensor(a), tl.tensor(b))),
                                   ref.mse_loss(a, b, reduction), rtol=1e-12)


def test_legacy_size_average_and_reduce_map_to_reduction():
    with pytest.warns(UserWarning, match="reduction='sum'"):
        assert nn.MSELoss(size_average=False).reduction == "sum"
    with pytest.warns(UserWarning, match="reduction='none'"):
        assert nn.NLLLoss(reduce=False).reduction == "none"


# ---- gradient clipping ------------------------------------------------------------------------
def _params_with_grads(rng, shapes=((4, 3), (3,), (2, 2, 2))):
    ps = [nn.Parameter(tl.zeros(*s)) for s in shapes]
    for p in ps:
        p.grad = tl.tensor(rng.standard_normal(p.shape).astype(np.float32))
    return ps


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3, math.inf, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_numpy(norm_type, max_norm):
    ps = _params_with_grads(np.random.default_rng(0))
    g = [p.grad.numpy().astype(np.float64) for p in ps]
    flat = np.concatenate([x.reshape(-1) for x in g])
    p = float(norm_type)
    total = np.abs(flat).max() if p == math.inf else (np.abs(flat) ** p).sum() ** (1 / p)
    coef = min(max_norm / (total + 1e-6), 1.0)
    norm = clip_grad_norm_((q for q in ps), max_norm, norm_type=norm_type)
    assert norm.shape == () and norm.dtype == tl.float32
    assert norm.item() == pytest.approx(total, rel=1e-6)
    for q, gi in zip(ps, g):
        np.testing.assert_allclose(q.grad.numpy(), gi * coef, rtol=1e-6)


def test_clip_grad_norm_single_tensor_missing_grads_and_nonfinite():
    rng = np.random.default_rng(1)
    p, no_grad = _params_with_grads(rng, [(3,)])[0], nn.Parameter(tl.ones(2))
    g = p.grad.numpy().copy()
    norm = clip_grad_norm_(p, 0.1)
    assert norm.item() == pytest.approx(np.linalg.norm(g), rel=1e-6)
    np.testing.assert_allclose(p.grad.numpy(), g * 0.1 / (np.linalg.norm(g) + 1e-6), rtol=1e-6)
    assert clip_grad_norm_([no_grad, p], 1.0).item() == pytest.approx(0.1, rel=1e-4) and no_grad.grad is None
    assert clip_grad_norm_([no_grad], 1.0).item() == 0.0
    p.grad = tl.tensor([1.0, np.inf, 0.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # inf / inf, as PyTorch gives NaN gradients
        assert math.isinf(clip_grad_norm_(p, 1.0).item())


def test_clip_grad_value_clamps_in_place():
    p = nn.Parameter(tl.zeros(4))
    p.grad = tl.tensor([-2.0, -0.1, 0.3, 5.0])
    grad_array = p.grad.data
    assert clip_grad_value_([p], 0.5) is None
    np.testing.assert_array_equal(p.grad.numpy(), np.float32([-0.5, -0.1, 0.3, 0.5]))
    assert p.grad.data is grad_array
