"""tinylm.train: exact resume, Ctrl-C, gradient accumulation, metrics log and
the loss plot, on a tiny classifier with dropout (so the RNG state matters)."""
import builtins
import json
import os
import signal

import numpy as np
import pytest

import tinylm as tl
import tinylm.nn as nn
import tinylm.nn.functional as F
from tinylm.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR
from tinylm.train import TrainConfig, plot_losses, train

N_IN, N_CLASS = 6, 3
# a fixed task: y = argmax(x @ W_TRUE)
W_TRUE = np.random.default_rng(0).standard_normal((N_IN, N_CLASS)).astype(np.float32)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.drop, self.fc2 = nn.Linear(N_IN, 16), nn.Dropout(0.2), nn.Linear(16, N_CLASS)

    def forward(self, x, y):
        logits = self.fc2(self.drop(F.relu(self.fc1(x))))
        return logits, F.cross_entropy(logits, y)


def get_batch(B=8):
    """Draws from tinylm's generator, like nanoGPT's get_batch."""
    x = tl.randn(B, N_IN)
    return x, tl.tensor(np.argmax(x.numpy() @ W_TRUE, axis=1))


def setup(seed=0):
    tl.manual_seed(seed)
    model = Net()
    opt = tl.optim.AdamW(model.parameters(), lr=0.02, weight_decay=0.1)
    warmup = LinearLR(opt, start_factor=0.1, total_iters=3)
    sched = SequentialLR(opt, [warmup, CosineAnnealingLR(opt, T_max=20)], milestones=[3])
    return model, opt, sched


def run(out_dir, max_steps, resume=False, seed=0, **cfg):
    model, opt, sched = setup(seed)
    config = TrainConfig(max_steps=max_steps, out_dir=str(out_dir), log_every=1, progress=False, plot=False,
                         **cfg)
    result = train(model, opt, get_batch, config, scheduler=sched, resume=resume)
    return model, opt, sched, result


def test_resume_gives_bit_identical_weights_and_losses(tmp_path):
    full, opt_full, sched_full, res_full = run(tmp_path / "full", 12, checkpoint_every=5)
    run(tmp_path / "part", 5)
    # resuming builds a model with another seed: everything must come from the checkpoint
    part, opt_part, sched_part, res_part = run(tmp_path / "part", 12, resume=True, seed=123)
    assert res_part.step == 12
    assert res_part.losses == res_full.losses  # the log holds steps 1..5 and the resumed 6..12
    for (name, a), b in zip(full.state_dict().items(), part.state_dict().values()):
        assert a.tobytes() == b.tobytes(), name
    for state_a, state_b in zip(opt_full.state_dict()["state"].values(), opt_part.state_dict()["state"].values()):
        for key in state_a:
            np.testing.assert_array_equal(state_a[key], state_b[key])
    assert sched_part.get_last_lr() == sched_full.get_last_lr()


def test_same_seed_same_run_and_another_seed_differs(tmp_path):
    a = run(tmp_path / "a", 4)[3].losses
    assert a == run(tmp_path / "b", 4)[3].losses
    assert a != run(tmp_path / "c", 4, seed=1)[3].losses


def test_resume_without_checkpoint_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        run(tmp_path / "none", 3, resume=True)


def test_ctrl_c_finishes_the_step_saves_and_resumes(tmp_path):
    calls = []

    def batches():
        calls.append(1)
        if len(calls) == 3:  # Ctrl-C while the third step draws its batch
            os.kill(os.getpid(), signal.SIGINT)
        return get_batch()

    model, opt, sched = setup()
    cfg = TrainConfig(max_steps=10, out_dir=str(tmp_path), log_every=1, progress=False, plot=False)
    handler = signal.getsignal(signal.SIGINT)
    result = train(model, opt, batches, cfg, scheduler=sched)
    assert result.interrupted and result.step == 3
    assert signal.getsignal(signal.SIGINT) is handler  # the loop puts the old handler back
    ckpt = tl.load(tmp_path / "ckpt.safetensors")
    assert int(ckpt["step"]) == 3
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(ckpt["model"][name], value)
    # the interrupted run, resumed, ends where an uninterrupted one does
    resumed = run(tmp_path, 6, resume=True)[0]
    straight = run(tmp_path / "straight", 6)[0]
    for a, b in zip(resumed.state_dict().values(), straight.state_dict().values()):
        np.testing.assert_array_equal(a, b)


def test_gradient_accumulation_equals_one_large_batch(tmp_path):
    tl.manual_seed(0)
    x, y = get_batch(16)
    net = Net()
    net.drop.p = 0.0
    w0 = {k: v.copy() for k, v in net.state_dict().items()}

    def step(batches, grad_accum):
        net.load_state_dict(w0)
        opt = tl.optim.SGD(net.parameters(), lr=0.1)
        train(net, opt, iter(batches), TrainConfig(max_steps=1, grad_accum=grad_accum, clip_grad_norm=0,
                                                    progress=False, plot=False))
        return {k: v.copy() for k, v in net.state_dict().items()}

    halves = [(x[:8], y[:8]), (x[8:], y[8:])]
    whole, accumulated = step([(x, y)], 1), step(halves, 2)
    for k in w0:
        np.testing.assert_allclose(accumulated[k], whole[k], rtol=1e-5, atol=1e-6)
    # independent reference: one SGD step on the mean loss of all 16 rows, by hand
    net.load_state_dict(w0)
    F.cross_entropy(net.fc2(F.relu(net.fc1(x))), y).backward()
    for name, p in net.named_parameters():
        np.testing.assert_allclose(whole[name], w0[name] - 0.1 * p.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_metrics_log_and_evaluation(tmp_path):
    model, opt, sched = setup()
    evaluations = []

    def evaluate(m):
        assert not m.training and not tl.is_grad_enabled()
        evaluations.append(1)
        return {"val_loss": 0.5 * len(evaluations)}

    cfg = TrainConfig(max_steps=6, eval_every=3, log_every=2, out_dir=str(tmp_path), progress=False, plot=False)
    result = train(model, opt, get_batch, cfg, scheduler=sched, evaluate=evaluate)
    assert model.training
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train_steps = [r["step"] for r in records if r["kind"] == "train"]
    assert train_steps == [2, 4, 6]
    assert [(r["step"], r["val_loss"]) for r in records if r["kind"] == "eval"] == [(3, 0.5), (6, 1.0)]
    for r in records:
        if r["kind"] == "train":
            assert set(r) == {"kind", "step", "loss", "lr", "tokens_per_s"} and r["tokens_per_s"] > 0
    assert [s for s, _ in result.losses] == train_steps
    assert result.evals == [(3, {"val_loss": 0.5}), (6, {"val_loss": 1.0})]


def test_loss_plot_is_a_png_or_a_hint_to_install(tmp_path, monkeypatch, capsys):
    model, opt, sched = setup()
    result = train(model, opt, get_batch, TrainConfig(max_steps=2, log_every=1, progress=False, plot=False))
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr("tinylm.train._warned_no_matplotlib", False)
    with monkeypatch.context() as m:
        m.setattr(builtins, "__import__", no_matplotlib)
        assert plot_losses(result, tmp_path / "a.png") is None
        assert plot_losses(result, tmp_path / "b.png") is None
    out = capsys.readouterr().out
    assert out.count("pip install 'tinylm[plot]'") == 1 and not (tmp_path / "a.png").exists()
    pytest.importorskip("matplotlib")
    plot_losses(result, tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_nan_loss_stops_with_a_clear_error():
    model, opt, _ = setup()
    bad = lambda: (tl.full((4, N_IN), float("nan")), tl.zeros(4, dtype=tl.int64))  # noqa: E731
    with pytest.raises(FloatingPointError, match="loss is nan at step 1"):
        train(model, opt, bad, TrainConfig(max_steps=3, progress=False, plot=False))
