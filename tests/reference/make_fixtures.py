"""Write the PyTorch reference fixtures that tests/test_reference_fixtures.py
checks every tinylm.nn layer against (run with torch installed; tinylm and
its tests never import torch):

    pip install torch==2.13.0
    python tests/reference/make_fixtures.py            # everything
    python tests/reference/make_fixtures.py optim gpt  # some groups

Groups: layers (this file's cases), optim (optim_cases.py: optimizer steps
and lr schedules), gpt (gpt_case.py: a tiny GPT, llm.c-style).

Each case builds one torch.nn layer on the CPU in float32 after
torch.manual_seed, draws its inputs, runs forward, then backpropagates
L = sum over floating outputs o of sum(o * g_o), with g_o a seeded random
upstream gradient. One .npz per case holds:
    meta              JSON: layer, constructor kwargs, forward args, mode,
                      output names, state_dict keys and shapes (in order), torch version
    ctor/<name>       tensors passed to the constructor (CrossEntropyLoss weight)
    param/<key>       the state dict (parameters and buffers)
    input/<name>      every tensor argument (masks and targets included)
    output/<name>     every tensor output
    upstream/<name>   g_o for every output that has a gradient
    grad_input/<name> dL/d input for inputs that require grad (zeros where unused)
    grad_param/<key>  dL/d parameter for every parameter (zeros where unused)
Arguments in meta are descriptors: {"tensor": name}, {"tuple": [...]}, {"value": v}.
"""
import importlib
import json
import pathlib
import zipfile
import zlib

import numpy as np
import torch

OUT = pathlib.Path(__file__).parent / "fixtures"


class T:
    """A tensor argument drawn by `make()` (after the module is built, in argument order)."""

    def __init__(self, name, make, grad=None):
        self.name, self.make, self.grad = name, make, grad


def randn(*shape, scale=1.0):
    return lambda: torch.randn(*shape) * scale


def const(values, dtype=None):
    return lambda: torch.tensor(values, dtype=dtype)


def randint(high, *shape):
    return lambda: torch.randint(0, high, shape)


def bool_mask(*shape, keep_last=True):
    """Random True (= masked) entries; the last key stays visible so no row is fully masked."""
    def make():
        m = torch.rand(*shape) < 0.4
        if keep_last:
            m[..., -1] = False
        return m
    return make


def float_mask(*shape):
    """Additive float mask: random finite values with some -inf (never in the last key)."""
    def make():
        m = torch.randn(*shape)
        m[(torch.rand(*shape) < 0.3)] = float("-inf")
        m[..., -1] = torch.randn(m[..., -1].shape)
        return m
    return make


def causal_mask(L, kind):
    upper = torch.triu(torch.ones(L, L, dtype=torch.bool), diagonal=1)  # True above the diagonal
    if kind == "bool":
        return lambda: upper
    return lambda: torch.zeros(L, L).masked_fill(upper, float("-inf"))


def probs(*shape):
    return lambda: torch.softmax(torch.randn(*shape), dim=1)


CASES = []


def case(name, layer, ctor=None, args=(), kwargs=None, outputs="output", mode="train"):
    CASES.append(dict(name=name, layer=layer, ctor=ctor or {}, args=list(args), kwargs=kwargs or {},
                      outputs=outputs, mode=mode))


# ---- basic layers -------------------------------------------------------------------------------
case("linear_bias_2d", "Linear", dict(in_features=5, out_features=4), [T("x", randn(3, 5))])
case("linear_bias_3d", "Linear", dict(in_features=5, out_features=4), [T("x", randn(2, 3, 5))])
case("linear_nobias_2d", "Linear", dict(in_features=5, out_features=4, bias=False), [T("x", randn(3, 5))])
case("linear_nobias_3d", "Linear", dict(in_features=5, out_features=4, bias=False), [T("x", randn(2, 3, 5))])
case("linear_1d", "Linear", dict(in_features=5, out_features=4), [T("x", randn(5))])
case("embedding_2d", "Embedding", dict(num_embeddings=10, embedding_dim=4), [T("ids", randint(10, 2, 5))])
case("embedding_1d_repeats", "Embedding", dict(num_embeddings=10, embedding_dim=4),
     [T("ids", const([1, 4, 1, 9, 4, 1]))])
case("embedding_padding_idx", "Embedding", dict(num_embeddings=10, embedding_dim=4, padding_idx=3),
     [T("ids", const([[3, 1, 3, 7, 1], [0, 3, 9, 1, 1]]))])
case("embedding_padding_idx_negative", "Embedding", dict(num_embeddings=10, embedding_dim=4, padding_idx=-2),
     [T("ids", const([[8, 2, 8], [2, 2, 0]]))])
case("layernorm_int", "LayerNorm", dict(normalized_shape=6), [T("x", randn(2, 3, 6))])
case("layernorm_tuple", "LayerNorm", dict(normalized_shape=[3, 4]), [T("x", randn(2, 3, 4))])
case("layernorm_no_affine", "LayerNorm", dict(normalized_shape=6, elementwise_affine=False),
     [T("x", randn(4, 6))])
case("layernorm_no_bias", "LayerNorm", dict(normalized_shape=6, bias=False), [T("x", randn(4, 6))])
case("layernorm_eps", "LayerNorm", dict(normalized_shape=[2, 3], eps=0.01),
     [T("x", randn(4, 2, 3, scale=0.1))])  # small variance so eps matters
case("dropout_eval", "Dropout", dict(p=0.5), [T("x", randn(3, 4))], mode="eval")
case("dropout_p0_train", "Dropout", dict(p=0.0), [T("x", randn(3, 4))])
case("identity", "Identity", {}, [T("x", randn(3, 4))])
case("relu", "ReLU", {}, [T("x", const([[-1.5, 0.0, 2.0], [0.5, -0.0, -3.0]]))])  # grad at 0 is 0
case("gelu_none", "GELU", {}, [T("x", randn(3, 5, scale=2.0))])
case("gelu_tanh", "GELU", dict(approximate="tanh"), [T("x", randn(3, 5, scale=2.0))])
case("tanh", "Tanh", {}, [T("x", randn(3, 5, scale=2.0))])
case("sigmoid", "Sigmoid", {}, [T("x", randn(3, 5, scale=2.0))])
case("softmax_dim1", "Softmax", dict(dim=1), [T("x", randn(2, 4, 3))])
case("softmax_dim_neg1", "Softmax", dict(dim=-1), [T("x", randn(2, 4, 3))])
case("softmax_dim0", "Softmax", dict(dim=0), [T("x", randn(3, 4))])
case("log_softmax_dim1", "LogSoftmax", dict(dim=1), [T("x", randn(2, 4, 3))])
case("log_softmax_dim_neg1", "LogSoftmax", dict(dim=-1), [T("x", randn(3, 5, scale=3.0))])

# ---- losses (target ids include ignored rows where ignore_index is set) --------------------------
X, Y = T("input", randn(6, 5)), T("target", const([0, 4, 2, 2, 1, 3]))
for red in ("mean", "sum", "none"):
    case(f"ce_{red}", "CrossEntropyLoss", dict(reduction=red), [X, Y], outputs="loss")
    case(f"ce_ignore_index_{red}", "CrossEntropyLoss", dict(ignore_index=2, reduction=red), [X, Y], outputs="loss")
    case(f"ce_label_smoothing_{red}", "CrossEntropyLoss", dict(label_smoothing=0.2, reduction=red),
         [X, Y], outputs="loss")
    case(f"ce_probs_{red}", "CrossEntropyLoss", dict(reduction=red), [X, T("target", probs(6, 5), grad=False)],
         outputs="loss")
    case(f"mse_{red}", "MSELoss", dict(reduction=red), [X, T("target", randn(6, 5), grad=False)], outputs="loss")
    case(f"nll_{red}", "NLLLoss", dict(reduction=red), [X, Y], outputs="loss")
W = {"tensor": "weight"}  # constructor tensor, drawn first
case("ce_default_ignore_index", "CrossEntropyLoss", {}, [X, T("target", const([0, -100, 2, -100, 1, 3]))],
     outputs="loss")
case("ce_smoothing_ignore_weight", "CrossEntropyLoss",
     dict(weight=W, ignore_index=2, label_smoothing=0.1), [X, Y], outputs="loss")
case("ce_weight_mean", "CrossEntropyLoss", dict(weight=W), [X, Y], outputs="loss")
case("ce_weight_none", "CrossEntropyLoss", dict(weight=W, reduction="none"), [X, Y], outputs="loss")
case("ce_probs_smoothing_weight", "CrossEntropyLoss", dict(weight=W, label_smoothing=0.3),
     [X, T("target", probs(6, 5), grad=False)], outputs="loss")
case("ce_kdim", "CrossEntropyLoss", dict(ignore_index=1),
     [T("input", randn(2, 4, 3)), T("target", randint(4, 2, 3))], outputs="loss")
case("ce_kdim_probs_none", "CrossEntropyLoss", dict(reduction="none"),
     [T("input", randn(2, 4, 3)), T("target", probs(2, 4, 3), grad=False)], outputs="loss")
case("ce_unbatched", "CrossEntropyLoss", dict(label_smoothing=0.1),
     [T("input", randn(5)), T("target", const(3))], outputs="loss")
case("ce_all_ignored_mean", "CrossEntropyLoss", dict(ignore_index=1),  # 0 / 0: loss nan, gradient zeros
     [T("input", randn(3, 4)), T("target", const([1, 1, 1]))], outputs="loss")
case("nll_weight_ignore", "NLLLoss", dict(weight=W, ignore_index=0), [X, Y], outputs="loss")
case("mse_target_grad", "MSELoss", {}, [T("input", randn(3, 4)), T("target", randn(3, 4), grad=True)],
     outputs="loss")

# ---- recurrent layers (input 3, hidden 4, T 5, N 2) ---------------------------------------------
LSTM_OUT, GRU_OUT = ["output", ["h_n", "c_n"]], ["output", "h_n"]


def rnn_cases(kind, outs):
    def states(DL, *batch):
        h = T("h0", randn(DL, *batch, 4))
        return {"tuple": [h, T("c0", randn(DL, *batch, 4))]} if kind == "LSTM" else h

    k = kind.lower()
    case(f"{k}_1layer", kind, dict(input_size=3, hidden_size=4), [T("x", randn(5, 2, 3))], outputs=outs)
    case(f"{k}_1layer_states", kind, dict(input_size=3, hidden_size=4),
         [T("x", randn(5, 2, 3)), states(1, 2)], outputs=outs)
    case(f"{k}_2layer_states", kind, dict(input_size=3, hidden_size=4, num_layers=2),
         [T("x", randn(5, 2, 3)), states(2, 2)], outputs=outs)
    case(f"{k}_batch_first", kind, dict(input_size=3, hidden_size=4, batch_first=True),
         [T("x", randn(2, 5, 3))], outputs=outs)
    case(f"{k}_bidirectional", kind, dict(input_size=3, hidden_size=4, bidirectional=True),
         [T("x", randn(5, 2, 3))], outputs=outs)
    case(f"{k}_bidir_2layer_batch_first_states", kind,
         dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True, batch_first=True),
         [T("x", randn(2, 5, 3)), states(4, 2)], outputs=outs)
    case(f"{k}_nobias", kind, dict(input_size=3, hidden_size=4, bias=False, num_layers=2),
         [T("x", randn(5, 2, 3)), states(2, 2)], outputs=outs)
    case(f"{k}_unbatched", kind, dict(input_size=3, hidden_size=4), [T("x", randn(5, 3))], outputs=outs)
    case(f"{k}_unbatched_bidir_states", kind, dict(input_size=3, hidden_size=4, bidirectional=True),
         [T("x", randn(5, 3)), states(2)], outputs=outs)
    case(f"{k}_unbatched_batch_first", kind, dict(input_size=3, hidden_size=4, batch_first=True),
         [T("x", randn(5, 3))], outputs=outs)
    case(f"{k}_dropout_eval", kind, dict(input_size=3, hidden_size=4, num_layers=2, dropout=0.5),
         [T("x", randn(5, 2, 3))], outputs=outs, mode="eval")


rnn_cases("LSTM", LSTM_OUT)
rnn_cases("GRU", GRU_OUT)
case("lstm_300_steps", "LSTM", dict(input_size=3, hidden_size=4), [T("x", randn(300, 2, 3))], outputs=LSTM_OUT)

for kind, outs in (("LSTMCell", ["h", "c"]), ("GRUCell", "h")):
    k = kind.lower()

    def hx(*batch):
        h = T("h", randn(*batch, 4))
        return {"tuple": [h, T("c", randn(*batch, 4))]} if kind == "LSTMCell" else h

    case(f"{k}_hx", kind, dict(input_size=3, hidden_size=4), [T("x", randn(2, 3)), hx(2)], outputs=outs)
    case(f"{k}_no_hx", kind, dict(input_size=3, hidden_size=4), [T("x", randn(2, 3))], outputs=outs)
    case(f"{k}_nobias_hx", kind, dict(input_size=3, hidden_size=4, bias=False), [T("x", randn(2, 3)), hx(2)],
         outputs=outs)
    case(f"{k}_unbatched_hx", kind, dict(input_size=3, hidden_size=4), [T("x", randn(3)), hx()], outputs=outs)
    case(f"{k}_unbatched_no_hx", kind, dict(input_size=3, hidden_size=4), [T("x", randn(3))], outputs=outs)

# ---- MultiheadAttention (E 8, 2 heads, L 3 queries, S 4 keys, N 2) ------------------------------
MHA, MHA_OUT = dict(embed_dim=8, num_heads=2), ["attn_output", "attn_weights"]


def qkv(batch_first=False, kdim=8, vdim=8, L=3, S=4, N=2):
    shape = (lambda n, d: (N, n, d) if batch_first else (n, N, d)) if N else (lambda n, d: (n, d))
    return [T("query", randn(*shape(L, 8))), T("key", randn(*shape(S, kdim))), T("value", randn(*shape(S, vdim)))]


def mha(name, ctor=None, args=None, mode="train", **kwargs):
    case(name, "MultiheadAttention", {**MHA, **(ctor or {})}, args or qkv(), kwargs, outputs=MHA_OUT, mode=mode)


mha("mha_basic")
mha("mha_batch_first", dict(batch_first=True), qkv(batch_first=True))
mha("mha_kdim_vdim", dict(kdim=5, vdim=6), qkv(kdim=5, vdim=6))
mha("mha_kdim_vdim_batch_first_masks", dict(kdim=5, vdim=6, batch_first=True), qkv(True, 5, 6),
    key_padding_mask=T("key_padding_mask", bool_mask(2, 4)), attn_mask=T("attn_mask", bool_mask(3, 4)))
mha("mha_nobias", dict(bias=False), qkv())
mha("mha_kpm_bool", args=qkv(), key_padding_mask=T("key_padding_mask", bool_mask(2, 4)))
mha("mha_kpm_float", args=qkv(), key_padding_mask=T("key_padding_mask", float_mask(2, 4)))
mha("mha_mask_2d_bool", args=qkv(), attn_mask=T("attn_mask", bool_mask(3, 4)))
mha("mha_mask_2d_float", args=qkv(), attn_mask=T("attn_mask", float_mask(3, 4)))
mha("mha_mask_3d_bool", args=qkv(), attn_mask=T("attn_mask", bool_mask(4, 3, 4)))  # (N * heads, L, S)
mha("mha_mask_3d_float", args=qkv(), attn_mask=T("attn_mask", float_mask(4, 3, 4)))
mha("mha_both_masks_bool", args=qkv(), key_padding_mask=T("key_padding_mask", bool_mask(2, 4)),
    attn_mask=T("attn_mask", bool_mask(3, 4)))
mha("mha_both_masks_float", args=qkv(), key_padding_mask=T("key_padding_mask", float_mask(2, 4)),
    attn_mask=T("attn_mask", float_mask(4, 3, 4)))
mha("mha_need_weights_false", args=qkv(), need_weights=False)
mha("mha_per_head_weights", args=qkv(), attn_mask=T("attn_mask", bool_mask(3, 4)), average_attn_weights=False)
mha("mha_dropout_eval", dict(dropout=0.5), qkv(), mode="eval")
mha("mha_unbatched", args=qkv(N=0), key_padding_mask=T("key_padding_mask", bool_mask(4)),
    attn_mask=T("attn_mask", bool_mask(2, 3, 4)))  # (heads, L, S)
mha("mha_unbatched_per_head", args=qkv(N=0), attn_mask=T("attn_mask", float_mask(3, 4)), average_attn_weights=False)
# self-attention: the same tensor is query, key and value (its gradient sums the three paths)
SELF = T("x", randn(4, 2, 8))
mha("mha_self_attention", args=[SELF, SELF, SELF])
for kind in ("bool", "float"):
    # is_causal is a hint that attn_mask is the causal mask; without weights torch takes its causal kernel
    mha(f"mha_causal_{kind}_no_weights", args=[SELF, SELF, SELF], need_weights=False, is_causal=True,
        attn_mask=T("attn_mask", causal_mask(4, kind)))
    mha(f"mha_causal_{kind}_weights", args=[SELF, SELF, SELF], is_causal=True,
        attn_mask=T("attn_mask", causal_mask(4, kind)))
mha("mha_causal_with_kpm", args=[SELF, SELF, SELF], need_weights=False, is_causal=True,
    attn_mask=T("attn_mask", causal_mask(4, "bool")),  # key 0 stays visible: no query sees nothing
    key_padding_mask=T("key_padding_mask", const([[False, True, False, False], [False, False, True, True]])))


# ---- running a case -----------------------------------------------------------------------------
def describe(arg, tensors):
    """arg -> (torch value, JSON descriptor); draws each T once (shared T objects are one tensor)."""
    if isinstance(arg, T):
        if arg.name not in tensors:
            t = arg.make()
            grad = t.is_floating_point() if arg.grad is None else arg.grad
            tensors[arg.name] = t.requires_grad_(grad)
        return tensors[arg.name], {"tensor": arg.name}
    if isinstance(arg, dict) and "tuple" in arg:
        pairs = [describe(a, tensors) for a in arg["tuple"]]
        return tuple(p[0] for p in pairs), {"tuple": [p[1] for p in pairs]}
    return arg, {"value": arg}


def flatten(value, names):
    """Pairs (name, tensor or None) from the nested outputs and the nested names."""
    if isinstance(names, str):
        return [(names, value)]
    return [pair for v, n in zip(value, names) for pair in flatten(v, n)]


def run(c):
    seed = zlib.crc32(c["name"].encode()) % 2**31
    torch.manual_seed(seed)
    arrays = {}
    ctor = dict(c["ctor"])
    if ctor.get("weight") == W:
        ctor["weight"] = torch.rand(5) + 0.5
        arrays["ctor/weight"] = ctor["weight"].numpy()
    module = getattr(torch.nn, c["layer"])(**ctor)
    with torch.no_grad():  # move parameters off their ones/zeros initialisation
        for p in module.parameters():
            p.add_(0.1 * torch.randn(p.shape))
    module.train(c["mode"] == "train")
    tensors = {}
    args, arg_desc = zip(*[describe(a, tensors) for a in c["args"]]) if c["args"] else ((), ())
    kw = {k: describe(v, tensors) for k, v in c["kwargs"].items()}
    out = module(*args, **{k: v[0] for k, v in kw.items()})
    outputs = flatten(out, c["outputs"])

    gen = torch.Generator().manual_seed(seed + 1)
    loss = 0
    for name, o in outputs:
        if o is None:
            continue
        arrays[f"output/{name}"] = o.detach().numpy()
        if o.requires_grad:
            g = torch.randn(o.shape, generator=gen)
            arrays[f"upstream/{name}"] = g.numpy()
            loss = loss + (o * g).sum()
    params = dict(module.named_parameters())
    if torch.is_tensor(loss):
        loss.backward()
    for name, t in tensors.items():
        arrays[f"input/{name}"] = t.detach().numpy()
        if t.requires_grad:
            arrays[f"grad_input/{name}"] = (t.grad if t.grad is not None else torch.zeros_like(t)).numpy()
    state = module.state_dict()
    for key, v in state.items():
        arrays[f"param/{key}"] = v.numpy()
        if key in params:
            g = params[key].grad
            arrays[f"grad_param/{key}"] = (g if g is not None else torch.zeros_like(v)).numpy()
    meta = dict(layer=c["layer"], kwargs=c["ctor"], args=list(arg_desc), forward_kwargs={k: v[1] for k, v in kw.items()},
                inputs={n: dict(dtype=str(t.dtype).replace("torch.", ""), shape=list(t.shape),
                                requires_grad=t.requires_grad) for n, t in tensors.items()},
                mode=c["mode"], outputs=c["outputs"], none_outputs=[n for n, o in outputs if o is None],
                state_dict=[[k, list(v.shape)] for k, v in state.items()],
                parameters=list(params), torch_version=torch.__version__, seed=seed)
    save_npz(OUT / f"{c['name']}.npz", {"meta": np.array(json.dumps(meta)), **arrays})


def save_npz(path, arrays):
    """np.savez_compressed with a fixed timestamp, so regenerating leaves unchanged files byte-identical."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, a in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with z.open(info, "w") as f:
                np.lib.format.write_array(f, np.asarray(a), allow_pickle=False)


def write_layers(out_dir):
    for c in CASES:
        run(c)
    return len(CASES)


def main(argv):
    """make_fixtures.py [layers] [optim] [gpt]: the named groups (default all). Only a full
    run first deletes every old fixture; a partial one overwrites its own files."""
    groups = {"layers": write_layers,
              "optim": lambda out: importlib.import_module("optim_cases").write(out),
              "gpt": lambda out: importlib.import_module("gpt_case").write(out)}
    chosen = argv or list(groups)
    unknown = sorted(set(chosen) - set(groups))
    if unknown:
        raise SystemExit(f"unknown fixture groups {unknown}; choose from {list(groups)}")
    OUT.mkdir(exist_ok=True)
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    if not argv:
        for old in OUT.glob("*.npz"):
            old.unlink()
    count = sum(groups[g](OUT) for g in chosen)
    total = sum(f.stat().st_size for f in OUT.glob("*.npz"))
    print(f"{count} fixtures written; {total / 1e6:.2f} MB in {OUT}")


if __name__ == "__main__":
    import sys
    main(sys.argv[1:])
