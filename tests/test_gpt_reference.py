"""tinylm's GPT against nanoGPT's in PyTorch 2.13, llm.c-style: the same weights
and batch give the same logits, loss and every parameter gradient, and 10 AdamW
steps (nanoGPT's two groups, gradient clipping) give the same losses and final
weights. The fixtures come from tests/reference/gpt_case.py; no torch here."""
import json
import pathlib

import numpy as np
import pytest

import tinylm as tl
from tinylm.models import GPT, GPTConfig
from tinylm.nn.utils import clip_grad_norm_

DIR = pathlib.Path(__file__).parent / "reference" / "fixtures"
CASES = sorted(DIR.glob("gpt_*.npz"))


def _load(path):
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    return json.loads(str(arrays.pop("meta"))), arrays


def _model(meta, a):
    model = GPT(GPTConfig(**meta["config"]))
    state = {k[len("param/"):]: v for k, v in a.items() if k.startswith("param/")}
    model.load_state_dict(state)  # strict: the key sets must agree, tied weight included
    return model


def test_fixtures_are_there():
    assert [p.stem for p in CASES] == ["gpt_tiny", "gpt_tiny_nobias"]


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_state_dict_and_parameters_match_nanogpt(path):
    meta, a = _load(path)
    model = _model(meta, a)
    assert [[k, list(v.shape)] for k, v in model.state_dict().items()] == meta["state_dict"]
    assert [n for n, _ in model.named_parameters()] == meta["parameters"]
    # both names of the tied weight load the same array
    np.testing.assert_array_equal(model.lm_head.weight.data, a["param/lm_head.weight"])


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_forward_and_gradients_match_nanogpt(path):
    meta, a = _load(path)
    model = _model(meta, a)
    logits, loss = model(tl.tensor(a["input/idx"]), tl.tensor(a["input/targets"]))
    np.testing.assert_allclose(logits.detach().numpy(), a["output/logits"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loss.item(), a["output/loss"], rtol=1e-5)
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert sorted(grads) == sorted(k[len("grad_param/"):] for k in a if k.startswith("grad_param/"))
    for name, g in grads.items():
        np.testing.assert_allclose(g.numpy(), a[f"grad_param/{name}"], rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_adamw_steps_match_nanogpt(path):
    meta, a = _load(path)
    model, opt_cfg = _model(meta, a), meta["optim"]
    opt = model.configure_optimizers(opt_cfg["weight_decay"], opt_cfg["lr"], tuple(opt_cfg["betas"]))
    idx, targets = tl.tensor(a["input/idx"]), tl.tensor(a["input/targets"])
    losses, norms = [], []
    for _ in range(meta["steps"]):
        _, loss = model(idx, targets)
        opt.zero_grad()
        loss.backward()
        norms.append(clip_grad_norm_(model.parameters(), opt_cfg["clip"]).item())
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.01  # the steps do train (the batch is the same each time)
    np.testing.assert_allclose(losses, a["train/loss"], rtol=1e-4)
    np.testing.assert_allclose(norms, a["train/grad_norm"], rtol=1e-4)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.data, a[f"final/{name}"], rtol=1e-4, atol=1e-5, err_msg=name)
