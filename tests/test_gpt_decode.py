"""The fused GPT forward that generation runs on (kernels/gpt_decode.py and
tinylm/models/gpt_decode.py): the kernel against its NumPy reference in the
cases test_kernels' table does not reach (a batch split over two threads,
long prefills), GPT.generate's fused steps against the uncached forward at
every step, through the window's slide past block_size, and the KV cache
shared with forward(kv_cache=...)."""
import numpy as np
import pytest

import kernels
import tinylm as tl
from kernels.gpt_decode import SPLIT_BATCH, example, gpt_decode, gpt_decode_reference
from tinylm.models import GPT, GPTConfig, KVCache
from tinylm.models import gpt as gpt_module
from tinylm.models.gpt_decode import fused_forward, pack_weights

TINY = dict(vocab_size=23, block_size=12, n_layer=2, n_head=2, n_embd=16)


def tiny(seed=0, **kw):
    """A tiny GPT whose weights are large enough (std 0.2, random biases and LayerNorm
    weights) that attention is far from uniform and the logits are O(1)."""
    tl.manual_seed(seed)
    model = GPT(GPTConfig(**{**TINY, **kw})).eval()
    rng = np.random.default_rng(seed)
    for name, p in model.named_parameters():
        if p.dim() == 2:
            p.data *= 10
        else:
            p.data[...] = rng.standard_normal(p.shape) * 0.2 + (name.endswith("ln_1.weight") or
                                                               name.endswith("ln_2.weight") or
                                                               name.endswith("ln_f.weight"))
    return model


def ids(B, T, seed=1):
    return tl.tensor(np.random.default_rng(seed).integers(0, TINY["vocab_size"], (B, T)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("B, T, pos, bias", [(SPLIT_BATCH + 1, 3, 4, 1), (SPLIT_BATCH, 1, 7, 0),
                                             (1, 17, 0, 1), (2, 1, 0, 0)])
def test_kernel_matches_reference(B, T, pos, bias, dtype):
    args = example(np.random.default_rng(B * 100 + T), np.dtype(dtype), B, T, pos, L=2, nh=2, hs=8,
                   V=13, bias=bias)
    copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    for got, want in zip(gpt_decode(*args), gpt_decode_reference(*copies)):
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, **tol)


def record_fused_steps(monkeypatch):
    """Make GPT.generate record the (new tokens, logits) of each fused step."""
    steps = []

    def recording(cache, weights, idx):
        logits = fused_forward(cache, weights, idx)
        steps.append((idx.copy(), logits.copy()))
        return logits
    monkeypatch.setattr(gpt_module, "fused_forward", recording)
    return steps


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("B", [1, 3])
def test_fused_generation_logits_equal_the_uncached_forward_at_every_step(monkeypatch, bias, B):
    model, prompt, new, block = tiny(bias=bias), 5, 11, TINY["block_size"]
    steps = record_fused_steps(monkeypatch)
    out = model.generate(ids(B, prompt), new, temperature=0).data
    # every step ran fused: the prompt, one token at a time up to block_size, then (the
    # window slid) the last block_size tokens from an empty cache
    refills = new - 1 - (block - prompt)
    assert [idx.shape[1] for idx, _ in steps] == [prompt] + [1] * (block - prompt) + [block] * refills
    assert refills == 3
    for k, (idx, logits) in enumerate(steps):
        t = prompt + k  # tokens in the sequence when step k ran
        window = out[:, max(0, t - block):t]
        np.testing.assert_array_equal(idx, window[:, -idx.shape[1]:])
        with tl.no_grad():
            full, _ = model(tl.tensor(window))
        np.testing.assert_allclose(logits, full.data[:, -1], rtol=1e-5, atol=2e-6)
        np.testing.assert_array_equal(out[:, t], logits.argmax(-1))


def test_fused_and_autograd_paths_share_the_cache():
    model, x = tiny(), ids(3, 7, seed=2).data
    fused, autograd = KVCache(model.config, 3), KVCache(model.config, 3)
    weights = pack_weights(model)
    with tl.no_grad():
        fused_forward(fused, weights, x[:, :5])
        model(tl.tensor(x[:, :5]), kv_cache=autograd)
        assert fused.pos == autograd.pos == 5
        np.testing.assert_allclose(fused.k, autograd.k, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(fused.v, autograd.v, rtol=1e-5, atol=1e-6)
        # each continues on the cache the other path filled
        a = fused_forward(autograd, weights, x[:, 5:7])
        b, _ = model(tl.tensor(x[:, 5:7]), kv_cache=fused)
    np.testing.assert_allclose(a, b.data[:, -1], rtol=1e-5, atol=2e-6)


def test_float64_generation_and_the_reference_mode_agree_with_the_uncached_path():
    model = tiny().double()
    x = ids(2, 4, seed=3)
    assert pack_weights(model)[0].dtype == np.float64
    greedy = model.generate(x, 10, temperature=0)
    np.testing.assert_array_equal(greedy.data, model.generate(x, 10, temperature=0, use_cache=False).data)
    with kernels.use("reference"):  # the kernel's NumPy reference runs the same steps
        np.testing.assert_array_equal(greedy.data, model.generate(x, 10, temperature=0).data)


def test_active_dropout_falls_back_to_the_autograd_forward():
    model = tiny(dropout=0.1)
    assert pack_weights(model) is not None   # eval(): dropout is off
    model.train()
    assert pack_weights(model) is None       # dropout would be skipped by the kernel
    assert pack_weights(tiny().train()) is not None  # dropout 0: nothing to skip
    out = model.generate(ids(1, 3), 4)      # runs (with dropout) on forward(kv_cache=...)
    assert out.shape == (1, 7)


@pytest.mark.parametrize("change, error, message", [
    (lambda a: {**a, "pos": 12}, ValueError, "positions 12..12 do not fit"),
    (lambda a: {**a, "idx": a["idx"] + 23}, ValueError, r"token ids must be in \[0, 23\)"),
    (lambda a: {**a, "idx": a["idx"][0]}, ValueError, "idx must be an integer array"),
    (lambda a: {**a, "idx": a["idx"] * 1.0}, ValueError, "idx must be an integer array"),
    (lambda a: {**a, "w": (a["w"][0][:, :8],) + a["w"][1:]}, ValueError, r"wte must be \(23, 16\)"),
    (lambda a: {**a, "w": a["w"][:-1]}, TypeError, "expected 16 weight arrays"),
    (lambda a: {**a, "k": a["k"].astype(np.float64)}, ValueError, "k_cache and v_cache must be"),
    (lambda a: {**a, "w": (a["w"][0].astype(np.float64),) + a["w"][1:]}, ValueError, "float64"),
    (lambda a: {**a, "w": (a["w"][0].astype(np.int32),) + a["w"][1:]}, TypeError, "wte must be a float32"),
])
def test_bad_input_is_named(change, error, message):
    model = tiny()
    cache = KVCache(model.config, 2)
    a = change(dict(k=cache.k, v=cache.v, idx=ids(2, 1).data, pos=0, w=pack_weights(model)))
    with pytest.raises(error, match=message):
        gpt_decode(a["k"], a["v"], a["idx"], a["pos"], *a["w"])
