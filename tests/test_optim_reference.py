"""tinylm.optim against PyTorch 2.13: every optimizer step (parameters after
each step, final state) and every scheduler's learning-rate sequence, from the
fixtures tests/reference/optim_cases.py wrote (this test never imports torch)."""
import json
import pathlib

import numpy as np
import pytest

import tinylm as tl
from tinylm.optim import lr_scheduler

DIR = pathlib.Path(__file__).parent / "reference" / "fixtures"
OPTIM = sorted(DIR.glob("optim_*.npz"))
SCHED = sorted(DIR.glob("sched_*.npz"))
# the same functions optim_cases.py gave torch's LambdaLR
LAMBDAS = {"warmup10": lambda s: min(1.0, (s + 1) / 10), "inverse_sqrt": lambda s: 1.0 / (1 + s) ** 0.5}


def _load(path):
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    return json.loads(str(arrays.pop("meta"))), arrays


def test_fixtures_are_there():
    assert len(OPTIM) >= 11 and len(SCHED) >= 8


@pytest.mark.parametrize("path", OPTIM, ids=[p.stem for p in OPTIM])
def test_optimizer_steps_match_pytorch(path):
    meta, a = _load(path)
    params = {p: tl.tensor(a[f"init/{p}"], requires_grad=True) for p in ("w", "b")}
    defaults = {k: tuple(v) if k == "betas" else v for k, v in meta["defaults"].items()}
    cls = getattr(tl.optim, meta["optimizer"])
    if meta["groups"] is None:
        opt = cls(list(params.values()), **defaults)
    else:
        opt = cls([{**g, "params": [params[p] for p in g["params"]]} for g in meta["groups"]], **defaults)
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    for t in range(meta["steps"]):
        for p, tensor in params.items():
            tensor.grad = tl.tensor(a[f"grad/{t}/{p}"])
        opt.step()
        assert [g["lr"] for g in opt.param_groups] == meta["lrs"][t]
        sched.step()
        for p, tensor in params.items():
            # SGD rounds exactly as torch does (bit-equal); Adam's fused kernel computes
            # sqrt and division in another order, so it may differ in the last bits
            tol = dict(rtol=0, atol=0) if meta["optimizer"] == "SGD" else dict(rtol=1e-6, atol=1e-7)
            np.testing.assert_allclose(tensor.detach().numpy(), a[f"param/{t}/{p}"], **tol,
                                       err_msg=f"{p} after step {t + 1}")
    state = opt.state_dict()["state"]
    for i, p in enumerate(_param_order(meta)):
        keys = sorted(k.split("/")[2] for k in a if k.startswith(f"state/{p}/"))
        assert sorted(state[i]) == keys
        for key in keys:
            np.testing.assert_allclose(np.asarray(state[i][key]), a[f"state/{p}/{key}"], rtol=1e-6, atol=1e-9,
                                       err_msg=f"state {key} of {p}")


def _param_order(meta):
    """Parameter indices in the state dict follow the groups, as in PyTorch."""
    return ["w", "b"] if meta["groups"] is None else [p for g in meta["groups"] for p in g["params"]]


@pytest.mark.parametrize("path", SCHED, ids=[p.stem for p in SCHED])
def test_scheduler_lr_sequence_matches_pytorch(path):
    meta, a = _load(path)
    opt = tl.optim.SGD([{"params": [tl.zeros(1, requires_grad=True)]},
                        {"params": [tl.zeros(1, requires_grad=True)], "lr": meta["group_lrs"][1]}],
                       lr=meta["group_lrs"][0])
    parts = [getattr(lr_scheduler, cls)(opt, **{k: LAMBDAS[v] if k == "lr_lambda" else v for k, v in kw.items()})
             for cls, kw in meta["schedulers"]]
    sched = parts[0] if len(parts) == 1 else lr_scheduler.SequentialLR(opt, parts, meta["milestones"])
    lrs = [[g["lr"] for g in opt.param_groups]]
    for _ in range(meta["steps"]):
        opt.step()
        sched.step()
        lrs.append([g["lr"] for g in opt.param_groups])
    # the chainable formulas in the same order as PyTorch's: equal to the last bit
    np.testing.assert_array_equal(np.array(lrs), a["lr"])
