"""The functional ops (tinylm.nn.functional) in the op table; see op_table.py."""
import numpy as np
from hypothesis import strategies as st

import references as ref
import tinylm.nn.functional as F
from op_table import Case, one_tensor_and, unary
from strategies import SEEDS, shapes, values


def _dim(d, shape):
    n = max(len(shape), 1)
    return {"dim": d(st.integers(-n, n - 1))}


@st.composite
def linear_inputs(d):
    rng = np.random.default_rng(d(SEEDS))
    lead = d(shapes(min_dims=0, max_dims=2, min_side=1, max_side=3))
    n_in, n_out = d(st.integers(1, 4)), d(st.integers(1, 4))
    args = [values(rng, lead + (n_in,)), values(rng, (n_out, n_in))]
    if d(st.booleans()):
        args.append(values(rng, (n_out,)))
    return args, {}


@st.composite
def embedding_inputs(d, padding=True):
    rng = np.random.default_rng(d(SEEDS))
    num, dim = d(st.integers(1, 5)), d(st.integers(1, 3))
    idx = rng.integers(0, num, size=d(shapes(max_dims=2, max_side=5)))  # repeated ids are likely
    # the padding row's gradient is 0 by definition, which finite differences can't see
    pad = d(st.none() | st.integers(-num, num - 1)) if padding else None
    return [idx, values(rng, (num, dim))], {"padding_idx": pad}


def _np_embedding(idx, w, padding_idx):
    return w[idx]


@st.composite
def layer_norm_inputs(d):
    rng = np.random.default_rng(d(SEEDS))
    shape = d(shapes(min_dims=1, min_side=1))
    k = d(st.integers(1, len(shape)))
    norm = shape[len(shape) - k:]
    args = [values(rng, shape), norm]
    affine = d(st.sampled_from(["none", "weight", "both"]))
    args.append(values(rng, norm) if affine != "none" else None)
    args.append(values(rng, norm) if affine == "both" else None)
    return args, {}


@st.composite
def class_loss_inputs(d, logits=True, probs=False):
    """(N, C), (N, C, d1) or unbatched (C,) inputs with targets, weights,
    ignore_index and label smoothing."""
    rng = np.random.default_rng(d(SEEDS))
    C = d(st.integers(1, 4))
    layout = d(st.sampled_from(["batched", "spatial", "unbatched"]))
    N = d(st.integers(1, 4))
    shape = {"batched": (N, C), "spatial": (N, C, d(st.integers(1, 3))), "unbatched": (C,)}[layout]
    x = values(rng, shape)
    if not logits:
        x = ref.log_softmax(x, 0 if layout == "unbatched" else 1)
    kw = {"reduction": d(st.sampled_from(["mean", "sum", "none"]))}
    if d(st.booleans()):
        kw["weight"] = values(rng, (C,), "positive")
    if probs:
        p = rng.random(shape)
        kw["label_smoothing"] = d(st.sampled_from([0.0, 0.1]))
        return [x, p / p.sum(axis=0 if layout == "unbatched" else 1, keepdims=True)], kw
    tshape = shape[:1] + shape[2:] if layout != "unbatched" else ()
    target = rng.integers(0, C, size=tshape)
    if d(st.booleans()):
        kw["ignore_index"] = int(target.reshape(-1)[0])  # at least one row ignored
    if logits:
        kw["label_smoothing"] = d(st.sampled_from([0.0, 0.2]))
    return [x, target], kw


def _with_weight_tensor(fn):
    """The table passes weights as arrays; F wants a tensor."""
    def call(x, t, weight=None, **kw):
        import tinylm as tl
        return fn(x, t, weight=None if weight is None else tl.tensor(weight, dtype=x.dtype), **kw)
    return call


@st.composite
def mse_inputs(d):
    rng = np.random.default_rng(d(SEEDS))
    shape = d(shapes(min_side=1))
    return [values(rng, shape), values(rng, shape)], {"reduction": d(st.sampled_from(["mean", "sum", "none"]))}


@st.composite
def attention_inputs(d):
    rng = np.random.default_rng(d(SEEDS))
    B, L, S, E, Ev = (d(st.integers(1, 3)) for _ in range(5))
    batch = (B,) if d(st.booleans()) else (B, d(st.integers(1, 2)))
    q, k, v = (values(rng, batch + s) for s in ((L, E), (S, E), (S, Ev)))
    kw = {"scale": d(st.none() | st.floats(0.1, 2))}
    mask = d(st.sampled_from(["none", "causal", "bool", "float", "causal+bool"]))
    if mask.startswith("causal"):
        kw["is_causal"] = True
    if mask.endswith("bool"):
        kw["attn_mask"] = rng.random((L, S)) > 0.3  # some rows may be fully masked
    elif mask == "float":
        kw["attn_mask"] = values(rng, (L, S))
    return [q, k, v], kw


def _tl_attention(q, k, v, attn_mask=None, **kw):
    import tinylm as tl
    return F.scaled_dot_product_attention(q, k, v, None if attn_mask is None else tl.tensor(
        attn_mask, dtype=None if attn_mask.dtype == bool else q.dtype), **kw)


def _ref_attention(q, k, v, attn_mask=None, is_causal=False, scale=None):
    return ref.attention(q, k, v, attn_mask, is_causal, scale)


@st.composite
def cell_inputs(d, gates):
    rng = np.random.default_rng(d(SEEDS))
    B, I, H = d(st.integers(1, 3)), d(st.integers(1, 4)), d(st.integers(1, 4))
    states = 2 if gates == 4 else 1
    return ([values(rng, (B, I))] + [values(rng, (B, H)) for _ in range(states)]
            + [values(rng, (gates * H, I)), values(rng, (gates * H, H)),
               values(rng, (gates * H,)), values(rng, (gates * H,))]), {}


NN_CASES = [
    Case("F.relu", unary("nonzero"), F.relu, lambda x: np.maximum(x, 0)),
    Case("F.gelu", unary(), F.gelu, ref.gelu),
    Case("F.gelu_tanh", unary(), lambda x: F.gelu(x, approximate="tanh"), lambda x: ref.gelu(x, "tanh")),
    Case("F.sigmoid", unary(), F.sigmoid, ref.sigmoid),
    Case("F.tanh", unary(), F.tanh, np.tanh),
    Case("F.softmax", one_tensor_and(_dim, min_side=1), F.softmax, ref.softmax),
    Case("F.log_softmax", one_tensor_and(_dim, min_side=1), F.log_softmax, ref.log_softmax),
    Case("F.linear", linear_inputs(), F.linear, ref.linear),
    Case("F.embedding", embedding_inputs(padding=False), F.embedding, _np_embedding),
    Case("F.embedding_padding", embedding_inputs(), F.embedding, _np_embedding, grad=False),
    Case("F.layer_norm", layer_norm_inputs(), F.layer_norm, ref.layer_norm),
    Case("F.dropout_eval", unary(), lambda x: F.dropout(x, 0.5, training=False), lambda x: x),
    Case("F.mse_loss", mse_inputs(), F.mse_loss, ref.mse_loss),
    Case("F.cross_entropy", class_loss_inputs(), _with_weight_tensor(F.cross_entropy), ref.cross_entropy),
    Case("F.cross_entropy_probs", class_loss_inputs(probs=True), _with_weight_tensor(F.cross_entropy),
         ref.soft_cross_entropy),
    Case("F.nll_loss", class_loss_inputs(logits=False), _with_weight_tensor(F.nll_loss), ref.nll_loss),
    Case("F.lstm_cell", cell_inputs(4), lambda x, h, c, *w: F.lstm_cell(x, (h, c), *w), ref.lstm_cell),
    Case("F.gru_cell", cell_inputs(3), F.gru_cell, ref.gru_cell),
    Case("F.scaled_dot_product_attention", attention_inputs(), _tl_attention, _ref_attention),
]
