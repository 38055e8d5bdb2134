"""Training on the cuda device: one step of GPT, LSTMLM and GRULM (forward,
loss, backward, clip_grad_norm_, AdamW, zero_grad) copies nothing between
host and device (tinylm.cuda.transfers counts every copy) and reading the
loss copies exactly the loss and the device error register; the step gives
the CPU's numbers. Optimizers (SGD, Adam, AdamW) match the CPU's, keep their
state on the parameters' device, and move their state between devices
through a checkpoint; state dicts of cuda models save as host copies and
load on either device; tinylm.train checkpoints and resumes a cuda model.

Runs under NUMBA_ENABLE_CUDASIM=1 (the simulator process of make test) or on
a GPU; skipped elsewhere."""
import copy

import numpy as np
import pytest

import tinylm as tl
from cuda_device_common import MODELS, V, batch, close, host, on_device
from tinylm.device import device_of
from tinylm.models import LSTMLM, RNNLMConfig
from tinylm.nn.utils import clip_grad_norm_, clip_grad_value_

pytestmark = on_device
ERROR_REGISTER_BYTES = 32  # kernels/cuda/errors.py: 4 int64 slots, read at each copy to the host


# -- one training step: copies and numbers --------------------------------------------------------

def train_step(model, opt, x, y):
    """Forward, loss, backward, clip, optimizer step, zero_grad -> (loss, gradient norm), as tensors."""
    _, loss = model(x, y)
    loss.backward()
    norm = clip_grad_norm_(model.parameters(), 0.5)
    opt.step()
    opt.zero_grad()
    return loss, norm


@pytest.mark.parametrize("name", sorted(MODELS))
def test_training_step_copies_nothing_and_matches_the_cpu(name):
    tl.manual_seed(0)
    cpu = MODELS[name]()
    if name == "gru":   # the same weights by loading the cpu state dict into a cuda model
        dev = MODELS[name]().cuda()
        dev.load_state_dict(cpu.state_dict())
    else:
        dev = copy.deepcopy(cpu).to("cuda")
    assert all(p.device == "cuda:0" for p in dev.parameters())
    opt_cpu = tl.optim.AdamW(cpu.parameters(), lr=1e-2, weight_decay=0.1)
    opt_dev = tl.optim.AdamW(dev.parameters(), lr=1e-2, weight_decay=0.1)
    x, y = batch("cuda")
    with tl.cuda.transfers.counting() as step_copies:
        loss, norm = train_step(dev, opt_dev, x, y)
    assert (step_copies.h2d, step_copies.d2h) == (0, 0)
    with tl.cuda.transfers.counting() as read_copies:
        value = loss.item()
    # the loss (4 bytes), then the device error register (one read per copy to the host)
    assert (read_copies.h2d, read_copies.d2h, read_copies.d2h_bytes) == (0, 2, 4 + ERROR_REGISTER_BYTES)
    loss_cpu, norm_cpu = train_step(cpu, opt_cpu, *batch("cpu"))
    close(value, loss_cpu.item())
    close(norm.item(), norm_cpu.item())
    assert device_of(opt_dev.state[next(dev.parameters())]["exp_avg"]) == "cuda:0"
    for (n, p), q in zip(cpu.named_parameters(), dev.parameters()):
        assert q.device == "cuda:0" and q.grad is None, n
        close(host(q), p.detach().numpy(), rtol=1e-5, atol=1e-6)


# -- optimizers ------------------------------------------------------------------------------------

OPTIMIZERS = {
    "sgd": lambda ps: tl.optim.SGD(ps, lr=0.1),
    "sgd momentum wd": lambda ps: tl.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01),
    "sgd nesterov": lambda ps: tl.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adam": lambda ps: tl.optim.Adam(ps, lr=0.05, weight_decay=0.01),
    "adam amsgrad": lambda ps: tl.optim.Adam(ps, lr=0.05, betas=(0.8, 0.9), amsgrad=True),
    "adamw": lambda ps: tl.optim.AdamW(ps, lr=0.05, weight_decay=0.1),
}


def params_and_grads(seed=0, steps=3):
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (4,)]
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(steps)]
    return init, grads


def run_steps(opt, params, grads, device):
    for step in grads:
        for p, g in zip(params, step):
            p.grad = tl.tensor(g, device=device)
        opt.step()


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_on_cuda_matches_cpu(name):
    init, grads = params_and_grads()
    results = {}
    for device in ("cpu", "cuda"):
        params = [tl.tensor(a, device=device, requires_grad=True) for a in init]
        opt = OPTIMIZERS[name](params)
        run_steps(opt, params, grads, device)
        results[device] = [host(p) for p in params]
        for p in params:
            assert p.device.type == device
            for key, value in opt.state[p].items():
                if key != "step":   # the step count stays on the host, as PyTorch's (not capturable)
                    assert device_of(value).type == device, (key, device)
    for a, b in zip(results["cpu"], results["cuda"]):
        close(b, a, rtol=1e-6, atol=1e-6)
        assert not np.allclose(a, init[0] if a.shape == init[0].shape else init[1])  # it moved


def test_gradient_clipping_and_zero_grad_on_cuda():
    init, grads = params_and_grads(seed=2, steps=1)
    results = {}
    for device in ("cpu", "cuda"):
        params = [tl.tensor(a, device=device, requires_grad=True) for a in init]
        out = []
        for clip in (lambda ps: clip_grad_norm_(ps, 0.5), lambda ps: clip_grad_norm_(ps, 0.5, norm_type="inf"),
                     lambda ps: clip_grad_value_(ps, 0.3)):
            for p, g in zip(params, grads[0]):
                p.grad = tl.tensor(g * 3, device=device)
            norm = clip(params)
            out.append(([host(p.grad) for p in params], None if norm is None else norm.item()))
            assert all(p.grad.device.type == device for p in params)
        results[device] = out
        opt = tl.optim.SGD(params, lr=0.1)
        opt.zero_grad(set_to_none=False)
        assert all(p.grad.device.type == device and not host(p.grad).any() for p in params)
    for (g_cpu, n_cpu), (g_dev, n_dev) in zip(results["cpu"], results["cuda"]):
        for a, b in zip(g_cpu, g_dev):
            close(b, a)
        assert (n_cpu is None) == (n_dev is None) and (n_cpu is None or np.isclose(n_cpu, n_dev, rtol=1e-6))
    assert np.abs(np.concatenate([g.ravel() for g in results["cuda"][2][0]])).max() == np.float32(0.3)


@pytest.mark.parametrize("name", ["sgd momentum wd", "adam amsgrad", "adamw"])
@pytest.mark.parametrize("src,dst", [("cuda", "cpu"), ("cpu", "cuda")])
def test_optimizer_state_moves_between_devices_through_a_checkpoint(tmp_path, name, src, dst):
    init, grads = params_and_grads(seed=1, steps=4)
    ref = [tl.tensor(a, requires_grad=True) for a in init]    # 4 steps straight, on the cpu
    run_steps(OPTIMIZERS[name](ref), ref, grads, "cpu")
    first = [tl.tensor(a, device=src, requires_grad=True) for a in init]
    opt = OPTIMIZERS[name](first)
    run_steps(opt, first, grads[:2], src)
    tl.save({"params": [p.detach() for p in first], "optimizer": opt.state_dict()}, tmp_path / "opt.safetensors")
    ckpt = tl.load(tmp_path / "opt.safetensors")
    second = [tl.tensor(a, device=dst, requires_grad=True) for a in ckpt["params"]]
    opt2 = OPTIMIZERS[name](second)
    opt2.load_state_dict(ckpt["optimizer"])
    for p in second:
        for key, value in opt2.state[p].items():
            if key != "step":
                assert device_of(value).type == dst, key
    run_steps(opt2, second, grads[2:], dst)
    for p, r in zip(second, ref):
        close(host(p), r.detach().numpy(), rtol=1e-6, atol=1e-6)


# -- checkpoints ---------------------------------------------------------------------------------------

def test_state_dict_of_a_cuda_model_saves_host_copies_and_loads_on_both_devices(tmp_path):
    tl.manual_seed(1)
    model = MODELS["lstm"]().to("cuda")
    sd = model.state_dict()
    n = len(sd)
    with tl.cuda.transfers.counting() as copies:
        tl.save(sd, tmp_path / "m.safetensors")
    assert copies.h2d == 0 and n <= copies.d2h <= 2 * n   # each tensor once (+ error-register reads)
    loaded = tl.load(tmp_path / "m.safetensors")
    assert list(loaded) == list(sd)
    for k, v in loaded.items():
        assert isinstance(v, np.ndarray), k
        np.testing.assert_array_equal(v, sd[k].to_host(), err_msg=k)
    for device in ("cpu", "cuda"):
        tl.manual_seed(2)
        other = MODELS["lstm"]().to(device)
        params_before = list(other.parameters())
        other.load_state_dict(loaded)
        assert list(other.parameters()) == params_before   # copied in place
        for k, v in other.state_dict(keep_vars=True).items():
            assert v.device.type == device, k
            np.testing.assert_array_equal(host(v), loaded[k], err_msg=k)
    # a cuda model loads a state dict that lives on cuda too (device to device, no host copy)
    target = MODELS["lstm"]().to("cuda")
    with tl.cuda.transfers.counting() as copies:
        target.load_state_dict(model.state_dict())
    assert (copies.h2d, copies.d2h) == (0, 0)
    for a, b in zip(target.parameters(), model.parameters()):
        np.testing.assert_array_equal(host(a), host(b))


def test_train_loop_checkpoints_and_resumes_a_cuda_model(tmp_path):
    """tinylm.train on cuda: resuming gives the same weights bit for bit, dropout
    included (the checkpoint holds the cuda generator's state); a cuda
    checkpoint (host copies) resumes on the cpu too."""
    from tinylm.train import CHECKPOINT, TrainConfig, train
    x, y = batch("cuda")
    batches = [(x, y), (x[:, 1:].contiguous(), y[:, 1:].contiguous())]

    def run(out_dir, steps, device="cuda", dropout=0.3, resume=False):
        tl.manual_seed(4)
        model = LSTMLM(RNNLMConfig(vocab_size=V, n_embd=8, hidden_size=8, n_layer=1, dropout=dropout))
        model.to(device)
        opt = tl.optim.AdamW(model.parameters(), lr=1e-2)
        data = [tuple(t.to(device) for t in b) for b in batches]
        cfg = TrainConfig(max_steps=steps, out_dir=str(out_dir), progress=False, plot=False, log_every=1)
        return model, train(model, opt, data, cfg, resume=resume)

    straight, result = run(tmp_path / "a", 2)
    assert result.step == 2 and len(result.losses) == 2
    run(tmp_path / "b", 1)
    saved = tl.load(tmp_path / "b" / CHECKPOINT)
    assert all(isinstance(v, np.ndarray) for v in saved["model"].values())   # host copies
    resumed, result_b = run(tmp_path / "b", 2, resume=True)
    assert result_b.losses == result.losses   # the first from the log, the second trained again
    for p, q in zip(straight.parameters(), resumed.parameters()):
        assert q.device == "cuda:0"
        np.testing.assert_array_equal(host(q), host(p))
    # without dropout: one step on cuda, the next on the cpu, as two steps on the cpu
    run(tmp_path / "c", 1, dropout=0.0)
    on_cpu, result_c = run(tmp_path / "c", 2, device="cpu", dropout=0.0, resume=True)
    cpu_only, result_d = run(tmp_path / "d", 2, device="cpu", dropout=0.0)
    close(result_c.losses, result_d.losses)
    for p, q in zip(cpu_only.parameters(), on_cpu.parameters()):
        assert q.device == "cpu"
        close(q.detach().numpy(), p.detach().numpy())
