"""GPT (tinylm/models/gpt.py): nanoGPT's parameter names and tied head, its
initialisation, the loss against a NumPy cross-entropy, input errors, the KV
cache against the full forward at every step, generation, optimizer groups and
build_model. The numbers against PyTorch are in test_gpt_reference.py."""
import math
from dataclasses import asdict

import numpy as np
import pytest

import tinylm as tl
from tinylm.models import GPT, GPTConfig, KVCache, build_model
from references import cross_entropy

TINY = dict(vocab_size=23, block_size=12, n_layer=2, n_head=2, n_embd=16)


def tiny(seed=0, **kw):
    tl.manual_seed(seed)
    return GPT(GPTConfig(**{**TINY, **kw})).eval()


def ids(*shape, high=23, seed=1):
    return tl.tensor(np.random.default_rng(seed).integers(0, high, shape))


def test_parameter_names_are_nanogpts():
    model = tiny()
    block = ["ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
             "attn.c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
             "mlp.c_proj.weight", "mlp.c_proj.bias"]
    names = ["transformer.wte.weight", "transformer.wpe.weight"] + \
        [f"transformer.h.{i}.{n}" for i in range(2) for n in block] + \
        ["transformer.ln_f.weight", "transformer.ln_f.bias"]
    assert [n for n, _ in model.named_parameters()] == names
    assert list(model.state_dict()) == names + ["lm_head.weight"]  # the tied weight under both names
    shapes = dict((n, p.shape) for n, p in model.named_parameters())
    assert shapes["transformer.h.0.attn.c_attn.weight"] == (48, 16)
    assert shapes["transformer.h.1.mlp.c_fc.weight"] == (64, 16)
    nobias = tiny(bias=False)
    assert not any(n.endswith("bias") for n in nobias.state_dict())


def test_lm_head_is_tied_to_the_token_embedding():
    model = tiny()
    assert model.lm_head.weight is model.transformer.wte.weight
    assert sum(p is model.lm_head.weight for p in model.parameters()) == 1
    sd = model.state_dict()
    assert sd["lm_head.weight"] is sd["transformer.wte.weight"]
    assert model.get_num_params(non_embedding=False) == 23 * 16 + 12 * 16 + 2 * (
        2 * 16 + 48 * 16 + 48 + 16 * 16 + 16 + 2 * 16 + 64 * 16 + 64 + 16 * 64 + 16) + 2 * 16
    assert model.get_num_params() == model.get_num_params(non_embedding=False) - 12 * 16
    # loading a state dict writes in place: the tie survives and both names see the new values
    other = tiny(seed=5)
    other.load_state_dict(model.state_dict())
    assert other.lm_head.weight is other.transformer.wte.weight
    np.testing.assert_array_equal(other.lm_head.weight.data, model.lm_head.weight.data)
    # the shared gradient sums the embedding's and the head's contributions: check one entry by
    # central differences in float64
    model.double()
    x, y = ids(2, 5), ids(2, 5, seed=2)
    _, loss = model(x, y)
    loss.backward()
    w, (i, j), h = model.lm_head.weight, (int(x.data[0, 0]), 3), 1e-6
    losses = []
    for d in (h, -h):
        w.data[i, j] += d
        losses.append(model(x, y)[1].item())
        w.data[i, j] -= d
    assert math.isclose(w.grad.data[i, j], (losses[0] - losses[1]) / (2 * h), rel_tol=1e-6)


def test_init_statistics_are_nanogpts():
    tl.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=96, block_size=64, n_layer=4, n_head=4, n_embd=128))
    p = dict(model.named_parameters())
    scaled = 0.02 / math.sqrt(2 * 4)
    for name, t in p.items():
        if t.ndim == 2:
            assert abs(t.data.mean()) < 0.003, name
        if name.endswith("c_proj.weight"):
            assert abs(t.data.std() / scaled - 1) < 0.03, name
        elif t.ndim == 2:
            assert abs(t.data.std() / 0.02 - 1) < 0.05, name
        elif ".ln_" in name and name.endswith("weight"):
            assert (t.data == 1).all(), name
        else:
            assert (t.data == 0).all(), name  # biases
    assert model.transformer.wte.weight.dtype == np.float32


def test_initialisation_repeats_with_the_seed():
    a, b, c = tiny(seed=3), tiny(seed=3), tiny(seed=4)
    for (k, x), y, z in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        np.testing.assert_array_equal(x, y)
        if k.endswith("weight") and "ln" not in k:
            assert not np.array_equal(x, z)


def test_loss_is_the_mean_cross_entropy_skipping_minus_one():
    model = tiny()
    x, y = ids(3, 7), ids(3, 7, seed=2)
    y.data[0, 2] = y.data[2, 6] = -1
    logits, loss = model(x, y)
    assert logits.shape == (3, 7, 23)
    expected = cross_entropy(logits.data.reshape(-1, 23).astype(np.float64), y.data.reshape(-1), ignore_index=-1)
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-5)
    # without targets: the last position only, the same values
    last, none = model(x)
    assert none is None and last.shape == (3, 1, 23)
    np.testing.assert_allclose(last.data[:, 0], logits.data[:, -1], rtol=1e-5, atol=1e-6)


def test_dropout_is_on_in_training_only():
    model = tiny(dropout=0.3)
    x = ids(2, 6)
    a, b = model(x)[0].data, model(x)[0].data
    np.testing.assert_array_equal(a, b)
    model.train()
    assert not np.allclose(model(x)[0].data, a)


@pytest.mark.parametrize("call, error, message", [
    (lambda m: m(ids(1, 13)), ValueError, "13.*block_size 12"),
    (lambda m: m(tl.zeros(2, 3)), TypeError, "integer"),
    (lambda m: m(ids(4)), ValueError, r"\(B, T\)"),
    (lambda m: m(np.zeros((1, 3), np.int64)), TypeError, "Tensor"),
    (lambda m: m(ids(2, 3), ids(2, 4)), ValueError, "targets shape"),
    (lambda m: m(ids(1, 3), kv_cache=KVCache(m.config, 1)), RuntimeError, "no_grad"),
    (lambda m: m.generate(ids(1, 3), 2, top_k=0), ValueError, "top_k"),
])
def test_bad_input_is_named(call, error, message):
    with pytest.raises(error, match=message):
        call(tiny())


def test_bad_configs_are_named():
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(**{**TINY, "n_head": 3})
    with pytest.raises(ValueError, match="n_layer"):
        GPTConfig(**{**TINY, "n_layer": 0})
    with pytest.raises(ValueError, match="dropout"):
        GPTConfig(**TINY, dropout=1.0)


def test_kv_cache_logits_equal_the_full_forward_at_every_step():
    model = tiny()
    seq = ids(3, 12, seed=4)
    cache = KVCache(model.config, 3)
    with tl.no_grad():
        feeds = [(0, 4), (4, 5), (5, 6), (6, 9), (9, 10), (10, 11), (11, 12)]  # prefill, 1-token steps, a chunk
        for start, end in feeds:
            assert cache.pos == start
            cached, _ = model(tl.tensor(seq.data[:, start:end]), kv_cache=cache)
            full, _ = model(tl.tensor(seq.data[:, :end]))
            np.testing.assert_allclose(cached.data, full.data, rtol=1e-5, atol=1e-6)
        assert cache.pos == 12
        with pytest.raises(ValueError, match="block_size"):
            model(ids(3, 1), kv_cache=cache)  # the cache is full


@pytest.mark.parametrize("B, prompt, new", [(1, 3, 6), (4, 5, 15), (2, 14, 3)])
def test_generate_with_and_without_cache_agree(B, prompt, new):
    # (4, 5, 15) and (2, 14, 3) go past block_size 12: the cached path slides the window too
    model = tiny()
    x = ids(B, prompt, seed=6)
    greedy = model.generate(x, new, temperature=0)
    assert greedy.shape == (B, prompt + new) and greedy.dtype == np.int64
    np.testing.assert_array_equal(greedy.data[:, :prompt], x.data)
    np.testing.assert_array_equal(greedy.data, model.generate(x, new, temperature=0, use_cache=False).data)
    tl.manual_seed(9)
    sampled = model.generate(x, new, top_k=10, top_p=0.9)
    tl.manual_seed(9)
    np.testing.assert_array_equal(sampled.data, model.generate(x, new, top_k=10, top_p=0.9, use_cache=False).data)


def test_greedy_generation_follows_the_argmax_of_the_forward():
    model = tiny()
    out = model.generate(ids(2, 3), 4, temperature=0).data
    for t in range(3, 7):
        logits, _ = model(tl.tensor(out[:, :t]))
        np.testing.assert_array_equal(out[:, t], logits.data[:, -1].argmax(-1))


def test_generate_stops_rows_at_eos():
    model = tiny()
    x = ids(2, 4)
    free = model.generate(x, 8, temperature=0).data
    eos = int(free[0, 5])  # the 2nd token row 0 produces
    out = model.generate(x, 8, temperature=0, eos=eos).data
    assert (out[0, 5:] == eos).all()
    for t in range(4, out.shape[1]):  # row 1 follows the free run until it emits eos
        assert out[1, t] == free[1, t] or eos in out[1, 4:t]


def test_configure_optimizers_groups_like_nanogpt():
    model = tiny()
    opt = model.configure_optimizers(weight_decay=0.1, learning_rate=3e-4, betas=(0.9, 0.95))
    decay, nodecay = opt.param_groups
    named = dict(model.named_parameters())
    assert {id(p) for p in decay["params"]} == {id(p) for n, p in named.items() if p.ndim >= 2}
    assert {id(p) for p in nodecay["params"]} == {id(p) for n, p in named.items() if p.ndim < 2}
    assert decay["weight_decay"] == 0.1 and nodecay["weight_decay"] == 0.0
    assert decay["lr"] == 3e-4 and decay["betas"] == (0.9, 0.95)
    assert sum(p.numel() for p in decay["params"] + nodecay["params"]) == model.get_num_params(False)


def test_crop_block_size_keeps_the_first_positions():
    model = tiny()
    x = ids(2, 6)
    before = model(x)[0].data
    wpe = model.transformer.wpe.weight.data[:8].copy()
    model.crop_block_size(8)
    np.testing.assert_array_equal(model.transformer.wpe.weight.data, wpe)
    np.testing.assert_array_equal(model(x)[0].data, before)
    with pytest.raises(ValueError, match="block_size 8"):
        model(ids(1, 9))


def test_build_model_round_trips_the_config():
    model = tiny()
    again = build_model("gpt", asdict(model.config))
    assert isinstance(again, GPT) and again.config == model.config
    again.load_state_dict(model.state_dict())
    x = ids(2, 5)
    np.testing.assert_array_equal(again.eval()(x)[0].data, model(x)[0].data)
    with pytest.raises(ValueError, match="unknown model kind 'bert'"):
        build_model("bert", {})
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['n_heads'\]"):
        build_model("gpt", {**TINY, "n_heads": 2})
    with pytest.raises(ValueError, match=r"missing field\(s\) \['n_embd'\]"):
        build_model("gpt", {k: v for k, v in TINY.items() if k != "n_embd"})
