"""tinylm.nn layers on the cuda device: every PyTorch reference fixture of
test_reference_fixtures.py run with the module, inputs and upstream
gradients on cuda (same tolerances as on the CPU), then what fixtures
cannot show: Dropout's random mask in train mode, and PeepholeLSTM (no
PyTorch counterpart) against itself on the CPU.

Runs under NUMBA_ENABLE_CUDASIM=1 (make test runs it in its simulator
process) or on a GPU; skipped elsewhere."""
import numpy as np
import pytest

import tinylm as tl
import tinylm.nn as nn
from test_reference_fixtures import FIXTURES, run_fixture
from device_marks import on_device


@on_device
@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_layer_matches_pytorch_on_cuda(path):
    run_fixture(path, "cuda")   # lstm_300_steps included: about 15 s under the simulator


# ---- Dropout: a random mask, so no fixture ----------------------------------------------

@on_device
@pytest.mark.parametrize("p", [0.25, 0.6])
def test_dropout_train_mask_statistics_and_backward(p):
    tl.manual_seed(0)
    n = 2000
    x = tl.tensor(np.linspace(0.5, 1.5, n), dtype=tl.float32, device="cuda", requires_grad=True)
    drop = nn.Dropout(p).to("cuda")
    y = drop(x)
    assert y.device.type == "cuda" and y.dtype == x.dtype
    got = y.detach().cpu().numpy()
    xs = x.detach().cpu().numpy()
    zero = got == 0
    # each element kept with probability 1 - p: the zero fraction is binomial
    sd = np.sqrt(p * (1 - p) / n)
    assert abs(zero.mean() - p) < 5 * sd, f"{zero.mean():.3f} of elements zeroed, expected about {p}"
    np.testing.assert_allclose(got[~zero], xs[~zero] / (1 - p), rtol=1e-6)  # survivors scaled by 1/(1-p)

    u = np.random.default_rng(1).standard_normal(n).astype(np.float32)
    (y * tl.tensor(u, device="cuda")).sum().backward()
    assert x.grad.device.type == "cuda"
    grad = x.grad.cpu().numpy()
    np.testing.assert_allclose(grad, np.where(zero, 0, u / (1 - p)), rtol=1e-6, atol=0)  # the same mask

    y2 = drop(x).detach().cpu().numpy()
    assert (y2 == 0).tolist() != zero.tolist(), "two forward passes drew the same mask"
    tl.manual_seed(0)
    np.testing.assert_array_equal(drop(x).detach().cpu().numpy(), got)  # a seed repeats it

    drop.eval()
    np.testing.assert_array_equal(drop(x).detach().cpu().numpy(), xs)


# ---- PeepholeLSTM: no PyTorch counterpart; cuda against the CPU --------------------------

@on_device
@pytest.mark.parametrize("kw", [dict(), dict(num_layers=2, bidirectional=True, batch_first=True)],
                         ids=["1layer", "2layer_bidir_batch_first"])
def test_peephole_lstm_on_cuda_matches_cpu(kw):
    tl.manual_seed(0)
    cpu = nn.PeepholeLSTM(3, 4, **kw)
    gpu = nn.PeepholeLSTM(3, 4, **kw)
    gpu.load_state_dict(cpu.state_dict())
    gpu.to("cuda")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 2, 3) if kw.get("batch_first") else (3, 2, 3)).astype(np.float32)  # (B, T, I) / (T, B, I)
    results = []
    for model, device in ((cpu, "cpu"), (gpu, "cuda")):
        xt = tl.tensor(x, device=device, requires_grad=True)
        out, (h, c) = model(xt)
        u = [np.random.default_rng(3 + i).standard_normal(t.shape).astype(np.float32)
             for i, t in enumerate((out, h, c))]
        loss = sum((t * tl.tensor(g, device=device)).sum() for t, g in zip((out, h, c), u))
        loss.backward()
        tensors = [out, h, c, xt.grad] + [p.grad for p in model.parameters()]
        assert all(t.device.type == device for t in tensors)
        results.append([t.detach().cpu().numpy() for t in tensors])
    names = ["output", "h_n", "c_n", "grad x"] + [f"grad {n}" for n, _ in cpu.named_parameters()]
    for name, want, got in zip(names, *results):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)
