"""A machine without CUDA (no GPU, no simulator): asking for the cuda device
raises a RuntimeError that says why and what to do, at the call that asks,
and changes nothing; and a CPU-only program never loads numba.cuda
(importing tinylm, training, generating and checkpointing on the CPU).

Runs in the normal pytest process; the "not available" tests skip where a
GPU or NUMBA_ENABLE_CUDASIM=1 makes cuda available (test_cuda_device.py
covers that case)."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tinylm as tl
from tinylm import nn

unavailable_only = pytest.mark.skipif(tl.cuda.is_available(),
                                      reason="cuda is available here (a GPU or NUMBA_ENABLE_CUDASIM=1)")
NOT_AVAILABLE = r"^CUDA is not available: .+NUMBA_ENABLE_CUDASIM=1"


@unavailable_only
def test_is_available_is_false_and_says_so():
    assert tl.cuda.is_available() is False
    assert tl.cuda.device_count() == 0
    with pytest.raises(RuntimeError, match=NOT_AVAILABLE):
        tl.cuda.synchronize()


@unavailable_only
@pytest.mark.parametrize("ask", [
    lambda: tl.ones(2).to("cuda"),
    lambda: tl.ones(2).cuda(),
    lambda: tl.ones(2, requires_grad=True).to(tl.device("cuda:0")),
    lambda: tl.ones(2).to("cuda", tl.float64),
    lambda: tl.zeros(2, device="cuda"),
    lambda: tl.tensor([1, 2], device="cuda"),
    lambda: tl.randn(2, device="cuda"),
    lambda: tl.arange(3, device="cuda"),
], ids=["to", "cuda", "to-device-grad", "to-dtype", "zeros", "tensor", "randn", "arange"])
def test_asking_for_cuda_raises_saying_why(ask):
    with pytest.raises(RuntimeError, match=NOT_AVAILABLE):
        ask()


@unavailable_only
def test_module_to_cuda_raises_and_leaves_the_model_on_the_cpu():
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    before = {k: v.copy() for k, v in model.state_dict().items()}
    for move in (lambda: model.to("cuda"), lambda: model.cuda(), lambda: model.to("cuda", tl.float64)):
        with pytest.raises(RuntimeError, match=NOT_AVAILABLE):
            move()
    for k, v in model.state_dict().items():
        assert isinstance(v, np.ndarray) and v.dtype == np.float32, k
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    assert all(p.device == "cpu" for p in model.parameters())


CPU_ONLY = textwrap.dedent("""
    import sys
    import tinylm as tl
    from tinylm.models import GPT, GPTConfig, LSTMLM, RNNLMConfig
    from tinylm.train import TrainConfig, train

    tl.manual_seed(0)
    x, y = tl.randint(0, 11, (2, 4)), tl.randint(0, 11, (2, 4))
    for model in (GPT(GPTConfig(block_size=4, vocab_size=11, n_layer=1, n_head=2, n_embd=8, dropout=0.1)),
                  LSTMLM(RNNLMConfig(vocab_size=11, n_embd=8, hidden_size=8, n_layer=1, dropout=0.1))):
        opt = tl.optim.AdamW(model.parameters(), lr=1e-2)
        cfg = TrainConfig(max_steps=1, progress=False, plot=False, out_dir=sys.argv[1])
        train(model, opt, lambda: (x, y), cfg)   # with a checkpoint (it holds both RNG states)
        cfg.max_steps = 2
        assert train(model, opt, lambda: (x, y), cfg, resume=True).step == 2
        model.eval()
        assert model.generate(x[:, :2], 2, temperature=0).shape == (2, 4)
        tl.save(model.state_dict(), sys.argv[1] + "/m.safetensors")
        model.load_state_dict(tl.load(sys.argv[1] + "/m.safetensors"))
        model.to("cpu")
        assert model(x, y)[1].device == "cpu"
    loaded = sorted(m for m in sys.modules if m.split(".")[0] == "numba_cuda" or m == "numba.cuda"
                    or m.startswith(("numba.cuda.", "kernels.cuda")))
    print("LOADED", loaded)
""")


def test_cpu_only_programs_never_import_numba_cuda(tmp_path):
    env = dict(os.environ)
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    out = subprocess.run([sys.executable, "-c", CPU_ONLY, str(tmp_path)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "LOADED []" in out.stdout, out.stdout


@unavailable_only
@pytest.mark.parametrize("argv", [
    ["train", "--device", "cuda", "--steps", "1"],
    ["generate", "--device", "cuda", "--ckpt", "no-such-folder"],
    ["eval", "--device", "cuda", "--ckpt", "no-such-folder"],
    ["bench", "--device", "cuda", "--models", "lstm", "--no-generate"],
], ids=["train", "generate", "eval", "bench"])
def test_cli_device_cuda_is_a_one_line_error(argv, capsys):
    from tinylm.cli import main
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tinylm: error: --device cuda: CUDA is not available: ") and "\n" not in err
