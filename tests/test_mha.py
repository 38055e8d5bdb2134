"""MultiheadAttention: every layout, mask kind and flag against a NumPy
reference written here (one head at a time, float64), gradients against
finite differences in float64, PyTorch's parameter names, shapes and
initialisation, the is_causal hint and fully masked rows on each of
PyTorch's paths, dropout, and errors."""
import math

import numpy as np
import pytest

import tinylm as tl
import tinylm.nn as nn

E, H, L, S, N = 8, 2, 3, 4, 2  # embed dim, heads, query length, key length, batch


# ---- the NumPy reference ---------------------------------------------------------------------
def additive(mask):
    """MultiheadAttention's masks as numbers added to the scores: bool True = hidden."""
    return np.where(mask, -np.inf, 0.0) if mask.dtype == bool else mask


def mha_ref(q, k, v, p, heads, kpm=None, am=None, causal=False, zero_rows=False):
    """q (N, L, E), k (N, S, kdim), v (N, S, vdim) -> out (N, L, E), weights (N, H, L, S).

    p holds the state dict as NumPy arrays. kpm (N, S), am (L, S) or (N*H, L, S);
    causal: query i sees keys 0..i; zero_rows: a query whose keys are all hidden
    gives 0 (scaled_dot_product_attention) instead of NaN (softmax of all -inf)."""
    n, lq, e = q.shape
    s, d = k.shape[1], e // heads
    if p.get("in_proj_weight") is not None:
        wq, wk, wv = np.split(p["in_proj_weight"], 3)
    else:
        wq, wk, wv = p["q_proj_weight"], p["k_proj_weight"], p["v_proj_weight"]
    bq, bk, bv = np.split(p["in_proj_bias"], 3) if "in_proj_bias" in p else (0, 0, 0)
    Q, K, V = q @ wq.T + bq, k @ wk.T + bk, v @ wv.T + bv
    add = np.zeros((n, heads, lq, s))
    if am is not None:
        add = add + (additive(am).reshape(n, heads, lq, s) if am.ndim == 3 else additive(am))
    if kpm is not None:
        add = add + additive(kpm)[:, None, None, :]
    if causal:
        add = add + np.where(np.tri(lq, s, dtype=bool), 0.0, -np.inf)
    out, weights = np.zeros((n, lq, e)), np.zeros((n, heads, lq, s))
    for b in range(n):
        for h in range(heads):
            cols = slice(h * d, (h + 1) * d)
            scores = Q[b, :, cols] @ K[b, :, cols].T / math.sqrt(d) + add[b, h]
            with np.errstate(invalid="ignore"):
                ex = np.exp(scores - scores.max(-1, keepdims=True))
                a = ex / ex.sum(-1, keepdims=True)
            weights[b, h] = np.nan_to_num(a, nan=0.0) if zero_rows else a
            out[b, :, cols] = weights[b, h] @ V[b, :, cols]
    return out @ p["out_proj.weight"].T + p.get("out_proj.bias", 0.0), weights


# ---- helpers ---------------------------------------------------------------------------------
def make(seed=0, **kwargs):
    """A float64 layer with random (not default) weights, so zero biases hide nothing."""
    tl.manual_seed(seed)
    mha = nn.MultiheadAttention(E, H, dtype=tl.float64, **kwargs)
    rng = np.random.default_rng(seed)
    for p in mha.parameters():
        p.data[...] = rng.standard_normal(p.shape) * 0.5
    return mha


def params(mha):
    return {name: p.data for name, p in mha.named_parameters()}


def to_layout(x, layout):
    """x (N, T, C) as the layer takes it: batch_first as is, seq_first (T, N, C), unbatched (T, C)."""
    if x is None or layout == "batch_first":
        return x
    return x.transpose(1, 0, 2) if layout == "seq_first" else x[0]


def from_layout(y, layout):
    """The layer's attn_output back to (N, L, E)."""
    y = y.detach().numpy()
    if layout == "batch_first":
        return y
    return y.transpose(1, 0, 2) if layout == "seq_first" else y[None]


def masks(kind, rng, n, lq=L, s=S):
    """key_padding_mask (n, S) and attn_mask (L, S) or (n*H, L, S) named by `kind`;
    key 0 is never hidden, so no query row is fully masked."""
    kpm = am = None
    if "kpm_bool" in kind:
        kpm = rng.random((n, s)) < 0.4
    if "kpm_float" in kind:
        kpm = rng.standard_normal((n, s))
    for name, shape in (("am2", (lq, s)), ("am3", (n * H, lq, s))):
        if name + "_bool" in kind:
            am = rng.random(shape) < 0.4
        if name + "_float" in kind:
            am = rng.standard_normal(shape)
    for m in (kpm, am):
        if m is not None and m.dtype == bool:
            m[..., 0] = False
    return kpm, am


def tensor(a):
    return None if a is None else tl.tensor(a)


MASK_KINDS = ["none", "kpm_bool", "kpm_float", "am2_bool", "am2_float", "am3_bool", "am3_float",
              "kpm_bool+am2_bool", "kpm_float+am2_float", "kpm_bool+am3_bool", "kpm_float+am3_float"]
LAYOUTS = ["seq_first", "batch_first", "unbatched"]


# ---- forward against the reference -----------------------------------------------------------
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", MASK_KINDS)
def test_forward_matches_numpy(kind, layout, need_weights):
    rng = np.random.default_rng([MASK_KINDS.index(kind), LAYOUTS.index(layout)])
    mha = make(batch_first=layout == "batch_first")
    n = 1 if layout == "unbatched" else N
    q, k, v = (rng.standard_normal((n, t, E)) for t in (L, S, S))
    kpm, am = masks(kind, rng, n)
    expected, weights = mha_ref(q, k, v, params(mha), H, kpm, am)
    if layout == "unbatched" and kpm is not None:
        kpm = kpm[0]  # (S,)
    args = [tensor(to_layout(x, layout)) for x in (q, k, v)]
    for average in (True, False):
        out, w = mha(*args, key_padding_mask=tensor(kpm), attn_mask=tensor(am), need_weights=need_weights,
                     average_attn_weights=average)
        np.testing.assert_allclose(from_layout(out, layout), expected, rtol=1e-12, atol=1e-12)
        if not need_weights:
            assert w is None
            continue
        want = weights.mean(1) if average else weights  # (N, L, S) or (N, H, L, S)
        np.testing.assert_allclose(w.detach().numpy(), want[0] if layout == "unbatched" else want,
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_kdim_vdim_and_bias(need_weights, bias):
    rng = np.random.default_rng(1)
    mha = make(kdim=5, vdim=3, bias=bias)
    q, k, v = rng.standard_normal((N, L, E)), rng.standard_normal((N, S, 5)), rng.standard_normal((N, S, 3))
    kpm, am = masks("kpm_bool+am2_bool", rng, N)
    expected, weights = mha_ref(q, k, v, params(mha), H, kpm, am)
    out, w = mha(*(tensor(to_layout(x, "seq_first")) for x in (q, k, v)), key_padding_mask=tensor(kpm),
                 attn_mask=tensor(am), need_weights=need_weights)
    np.testing.assert_allclose(from_layout(out, "seq_first"), expected, rtol=1e-12, atol=1e-12)
    if need_weights:
        np.testing.assert_allclose(w.detach().numpy(), weights.mean(1), rtol=1e-12, atol=1e-12)


def test_mixed_bool_and_float_masks_warn_like_pytorch():
    rng = np.random.default_rng(2)
    mha = make()
    q, k = rng.standard_normal((N, L, E)), rng.standard_normal((N, S, E))
    kpm, _ = masks("kpm_bool", rng, N)
    _, am = masks("am2_float", rng, N)
    expected, _ = mha_ref(q, k, k, params(mha), H, kpm, am)
    with pytest.warns(UserWarning, match="mismatched key_padding_mask and attn_mask"):
        out, _ = mha(*(tensor(to_layout(x, "seq_first")) for x in (q, k, k)), key_padding_mask=tensor(kpm),
                     attn_mask=tensor(am))
    np.testing.assert_allclose(from_layout(out, "seq_first"), expected, rtol=1e-12, atol=1e-12)


# ---- is_causal and fully masked rows: which of PyTorch's paths runs decides ------------------
def _causal_case(seed=3):
    rng = np.random.default_rng(seed)
    mha = make(batch_first=True)
    q, k = rng.standard_normal((N, L, E)), rng.standard_normal((N, S, E))
    not_causal = rng.random((L, S)) < 0.4
    not_causal[:, 0] = False
    return mha, q, k, not_causal


def test_is_causal_needs_attn_mask():
    mha, q, k, _ = _causal_case()
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        mha(tensor(q), tensor(k), tensor(k), is_causal=True)


def test_is_causal_replaces_attn_mask_only_without_weights_or_padding():
    """PyTorch trusts the hint on the scaled_dot_product_attention path (need_weights=False,
    no key_padding_mask) and applies the causal mask there; elsewhere attn_mask is used."""
    mha, q, k, am = _causal_case()
    p = params(mha)
    run = lambda **kw: mha(tensor(q), tensor(k), tensor(k), attn_mask=tl.tensor(am), is_causal=True,
                           **kw)[0].detach().numpy()
    np.testing.assert_allclose(run(need_weights=False), mha_ref(q, k, k, p, H, causal=True)[0], atol=1e-12)
    np.testing.assert_allclose(run(need_weights=True), mha_ref(q, k, k, p, H, am=am)[0], atol=1e-12)
    kpm = np.zeros((N, S), bool)
    np.testing.assert_allclose(run(need_weights=False, key_padding_mask=tl.tensor(kpm)),
                               mha_ref(q, k, k, p, H, kpm, am)[0], atol=1e-12)


@pytest.mark.parametrize("need_weights", [True, False])
def test_fully_masked_rows_nan_with_weights_zero_without(need_weights):
    rng = np.random.default_rng(4)
    mha = make()
    q, k = rng.standard_normal((N, L, E)), rng.standard_normal((N, S, E))
    am = np.zeros((L, S), bool)
    am[1] = True  # query 1 sees nothing
    kpm = np.zeros((N, S), bool)
    kpm[1] = True  # batch entry 1 sees nothing
    expected, _ = mha_ref(q, k, k, params(mha), H, kpm, am, zero_rows=not need_weights)
    out, _ = mha(*(tensor(to_layout(x, "seq_first")) for x in (q, k, k)), key_padding_mask=tl.tensor(kpm),
                 attn_mask=tl.tensor(am), need_weights=need_weights)
    out = from_layout(out, "seq_first")
    assert np.isnan(out[1]).all() == np.isnan(out[0, 1]).all() == need_weights  # else out_proj.bias
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)  # NaNs in the same places


def test_inference_fast_path_gives_nan_rows_and_ignores_is_causal():
    """PyTorch's fused inference kernel (eval, no grad, batch_first self-attention,
    even heads): fully masked rows are NaN even without weights, is_causal is unused."""
    rng = np.random.default_rng(5)
    mha = make(batch_first=True).eval()
    x = rng.standard_normal((N, S, E))
    kpm = np.zeros((N, S), bool)
    kpm[1] = True
    xt = tl.tensor(x)
    with tl.no_grad():
        out, w = mha(xt, xt, xt, key_padding_mask=tl.tensor(kpm), need_weights=False)
        assert w is None and np.isnan(out.numpy()[1]).all() and not np.isnan(out.numpy()[0]).any()
        out, _ = mha(xt, xt, xt, is_causal=True, need_weights=False)  # no error, no causal mask
    np.testing.assert_allclose(out.numpy(), mha_ref(x, x, x, params(mha), H)[0], atol=1e-12)
    with pytest.raises(RuntimeError, match="is_causal"):  # with grads the general path runs
        mha(xt, xt, xt, is_causal=True, need_weights=False)


# ---- dropout ----------------------------------------------------------------------------------
def test_dropout_hits_the_weights_in_training_only():
    rng = np.random.default_rng(6)
    mha = make(dropout=0.5)
    q, k = rng.standard_normal((L, N, E)), rng.standard_normal((S, N, E))
    args = (tl.tensor(q), tl.tensor(k), tl.tensor(k))
    _, clean = mha_ref(q.transpose(1, 0, 2), k.transpose(1, 0, 2), k.transpose(1, 0, 2), params(mha), H)
    tl.manual_seed(0)
    out, w = mha(*args, average_attn_weights=False)
    w = w.detach().numpy()
    kept = w != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(w[kept], clean[kept] / 0.5, rtol=1e-12)  # survivors scaled by 1/(1-p)
    # the output is built from the dropped weights that were returned
    p = params(mha)
    wv = np.split(p["in_proj_weight"], 3)[2]
    V = (k.transpose(1, 0, 2) @ wv.T + np.split(p["in_proj_bias"], 3)[2]).reshape(N, S, H, E // H)
    heads = np.einsum("nhls,nshd->nlhd", w, V).reshape(N, L, E)
    np.testing.assert_allclose(from_layout(out, "seq_first"),
                               heads @ p["out_proj.weight"].T + p["out_proj.bias"], rtol=1e-10, atol=1e-12)
    out_sdpa, _ = mha(*args, need_weights=False)  # dropout inside scaled_dot_product_attention
    assert out_sdpa.shape == (L, N, E)
    mha.eval()
    out, w = mha(*args, average_attn_weights=False)
    np.testing.assert_allclose(w.detach().numpy(), clean, rtol=1e-12)


# ---- gradients against finite differences ------------------------------------------------------
def _gradcheck(module, inputs, call):
    """tl.gradcheck of call(module, *inputs) over the inputs and every parameter
    (out_proj's too), which the module sees as the float64 copies gradcheck makes."""
    named = list(module.named_parameters())

    def fn(*args):
        xs, ps = args[:len(inputs)], args[len(inputs):]
        saved = []
        for (name, _), p in zip(named, ps):
            owner, _, attr = name.rpartition(".")
            mod = module.get_submodule(owner) if owner else module
            saved.append((mod, attr, mod._parameters[attr]))
            mod._parameters[attr] = p
        try:
            return call(module, *xs)
        finally:
            for mod, attr, p in saved:
                mod._parameters[attr] = p
    return tl.gradcheck(fn, (*inputs, *(p for _, p in named)))


@pytest.mark.parametrize("case", ["masks+weights", "kdim+causal", "unbatched+am3", "self+per_head"])
def test_gradients_match_finite_differences(case):
    rng = np.random.default_rng(7)
    small = dict(kdim=3, vdim=2) if case == "kdim+causal" else {}
    tl.manual_seed(0)
    mha = nn.MultiheadAttention(4, 2, dtype=tl.float64, batch_first=True, **small)
    for p in mha.parameters():
        p.data[...] = rng.standard_normal(p.shape) * 0.5
    n = 1 if case == "unbatched+am3" else 2
    x = lambda *shape: tl.tensor(rng.standard_normal(shape), requires_grad=True)
    q, k, v = x(n, 2, 4), x(n, 3, small.get("kdim", 4)), x(n, 3, small.get("vdim", 4))
    kw = {}
    if case == "masks+weights":
        kpm = np.array([[0, -np.inf, 0], [0, 0, -np.inf]])
        kw = dict(key_padding_mask=tl.tensor(kpm), attn_mask=tl.tensor(rng.standard_normal((2, 3))))
    elif case == "kdim+causal":
        kw = dict(attn_mask=tl.tensor(~np.tri(2, 3, dtype=bool)), is_causal=True, need_weights=False)
    elif case == "unbatched+am3":
        q, k, v = (x(*t.shape[1:]) for t in (q, k, v))
        kw = dict(attn_mask=tl.tensor(np.array([[[0, 1, 0], [0, 0, 0]], [[0, 0, 1], [0, 1, 1]]], bool)))
    else:
        k = v = q
        kw = dict(average_attn_weights=False)
    if k is q:  # self-attention: one tensor perturbed in all three roles
        assert _gradcheck(mha, (q,), lambda m, x: m(x, x, x, **kw))
    else:
        assert _gradcheck(mha, (q, k, v), lambda m, *qkv: m(*qkv, **kw))


# ---- parameters, initialisation, repr ----------------------------------------------------------
def test_parameter_names_and_shapes_match_pytorch():
    mha = nn.MultiheadAttention(E, H)
    assert [(n, p.shape) for n, p in mha.state_dict().items()] == [
        ("in_proj_weight", (3 * E, E)), ("in_proj_bias", (3 * E,)), ("out_proj.weight", (E, E)),
        ("out_proj.bias", (E,))]
    sep = nn.MultiheadAttention(E, H, kdim=5, vdim=6, bias=False)
    assert [(n, p.shape) for n, p in sep.state_dict().items()] == [
        ("q_proj_weight", (E, E)), ("k_proj_weight", (E, 5)), ("v_proj_weight", (E, 6)),
        ("out_proj.weight", (E, E))]
    assert sep.in_proj_weight is None and sep.in_proj_bias is None and sep.out_proj.bias is None
    assert mha.q_proj_weight is None and mha.bias_k is None and mha.bias_v is None
    assert (mha.head_dim, mha.kdim, mha.vdim, mha._qkv_same_embed_dim) == (E // H, E, E, True)
    assert isinstance(mha.out_proj, nn.Linear)
    assert repr(mha) == ("MultiheadAttention(\n  (out_proj): NonDynamicallyQuantizableLinear("
                         "in_features=8, out_features=8, bias=True)\n)")


def test_default_init_is_xavier_with_zero_biases():
    tl.manual_seed(0)
    mha = nn.MultiheadAttention(64, 4)
    w = mha.in_proj_weight.data
    bound = math.sqrt(6 / (64 + 3 * 64))  # xavier_uniform_ on the (3E, E) stack
    assert w.dtype == np.float32 and np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
    assert not mha.in_proj_bias.data.any() and not mha.out_proj.bias.data.any()
    assert np.abs(mha.out_proj.weight.data).max() <= 1 / math.sqrt(64)  # Linear's default
    sep = nn.MultiheadAttention(64, 4, kdim=16, vdim=32)
    assert np.abs(sep.k_proj_weight.data).max() <= math.sqrt(6 / (16 + 64))


# ---- errors ------------------------------------------------------------------------------------
def test_constructor_errors():
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads, got embed_dim=6 "
                                             "and num_heads=4"):
        nn.MultiheadAttention(6, 4)
    with pytest.raises(ValueError, match="greater than 0"):
        nn.MultiheadAttention(0, 2)
    for option in ("add_bias_kv", "add_zero_attn"):
        with pytest.raises(NotImplementedError, match=f"MultiheadAttention: {option}=True is not supported"):
            nn.MultiheadAttention(E, H, **{option: True})


_q, _k = np.zeros((L, N, E)), np.zeros((S, N, E))
BAD_INPUTS = [  # (description, args, kwargs, error, message); PyTorch's exception types
    ("query features", (np.zeros((L, N, 7)), _k, _k), {}, AssertionError,
     r"expected query of size 8 in the last dim \(embed_dim\), got shape \(3, 2, 7\)"),
    ("key features", (_q, np.zeros((S, N, 7)), np.zeros((S, N, 7))), {}, RuntimeError,
     r"expected key of size 8 in the last dim \(kdim\), got shape \(4, 2, 7\)"),
    ("key vs value", (_q, _k, np.zeros((S + 1, N, E))), {}, AssertionError,
     r"key shape \(4, 2, 8\) does not match value shape \(5, 2, 8\)"),
    ("batch sizes", (_q, np.zeros((S, 3, E)), np.zeros((S, 3, E))), {}, RuntimeError,
     "different batch sizes: 2 != 3"),
    ("4-D query", (_q[None], _k[None], _k[None]), {}, AssertionError, r"4-D query of shape \(1, 3, 2, 8\)"),
    ("2-D key", (_q, _k[0], _k[0]), {}, AssertionError, r"expected key and value to be 3-D too, got shapes \(2, 8\)"),
    ("dtype", (_q.astype(np.float32), _k, _k), {}, RuntimeError,
     "query dtype float32 doesn't match the parameters' dtype float64"),
    ("2-D attn_mask", (_q, _k, _k), dict(attn_mask=np.zeros((L, S + 1), bool)), RuntimeError,
     r"2D attn_mask is \(3, 5\), but should be \(3, 4\)"),
    ("3-D attn_mask", (_q, _k, _k), dict(attn_mask=np.zeros((N, L, S), bool)), RuntimeError,
     r"3D attn_mask is \(2, 3, 4\), but should be \(4, 3, 4\)"),
    ("1-D attn_mask", (_q, _k, _k), dict(attn_mask=np.zeros(S, bool)), AssertionError, r"got shape \(4,\)"),
    ("int attn_mask", (_q, _k, _k), dict(attn_mask=np.zeros((L, S), np.int64)), AssertionError,
     "only bool and floating types of attn_mask are supported, got int64"),
    ("float32 attn_mask", (_q, _k, _k), dict(attn_mask=np.zeros((L, S), np.float32)), RuntimeError,
     "float attn_mask must have the query's dtype float64, got float32"),
    ("key_padding_mask", (_q, _k, _k), dict(key_padding_mask=np.zeros((N, S + 1), bool)), AssertionError,
     r"expected key_padding_mask of shape \(2, 4\) \(batch, source length\), got \(2, 5\)"),
    ("int key_padding_mask", (_q, _k, _k), dict(key_padding_mask=np.zeros((N, S), np.int32)), AssertionError,
     "only bool and floating types of key_padding_mask"),
    ("unbatched 3-D attn_mask", (_q[:, 0], _k[:, 0], _k[:, 0]), dict(attn_mask=np.zeros((1, L, S), bool)),
     AssertionError, r"3D attn_mask is \(1, 3, 4\), but should be \(2, 3, 4\)"),
    ("numpy query", (np.zeros((L, N, E)), None, None), {}, TypeError, "expected query to be a tinylm Tensor"),
]


@pytest.mark.parametrize("args,kwargs,error,message", [c[1:] for c in BAD_INPUTS],
                         ids=[c[0] for c in BAD_INPUTS])
def test_bad_inputs_raise_naming_the_layer_and_shapes(args, kwargs, error, message):
    mha = nn.MultiheadAttention(E, H, dtype=tl.float64)
    if error is not TypeError:
        args = [tl.tensor(a) for a in args]
    with pytest.raises(error, match="MultiheadAttention: .*" + message):
        mha(*args, **{name: tl.tensor(m) for name, m in kwargs.items()})


def test_separate_weights_key_size_error_is_an_assertion_like_pytorch():
    mha = nn.MultiheadAttention(E, H, kdim=5, vdim=6, dtype=tl.float64)
    with pytest.raises(AssertionError, match=r"expected key of size 5 in the last dim \(kdim\), got shape "
                                             r"\(4, 2, 6\)"):
        mha(tl.tensor(_q), tl.zeros(S, N, 6, dtype=tl.float64), tl.zeros(S, N, 6, dtype=tl.float64))
