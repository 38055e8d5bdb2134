"""Every tinylm.nn layer against PyTorch 2.13: outputs, input gradients and
parameter gradients on fixtures that tests/reference/make_fixtures.py wrote
with torch (see tests/reference/README.md; this test never imports torch).

For each fixture: build the same layer with the same constructor arguments,
load PyTorch's state dict (strict), check that state_dict() has PyTorch's
keys and shapes in PyTorch's order, run forward on the recorded inputs, then
backpropagate L = sum over outputs o of sum(o * g_o) with the recorded
upstream gradients g_o and compare every gradient."""
import json
import pathlib

import numpy as np
import pytest

import tinylm as tl
import tinylm.nn as nn

# the layer cases; optim_*, sched_* and gpt_* files have tests of their own
OTHER_FIXTURES = ("optim_", "sched_", "gpt_")
FIXTURES = sorted(p for p in (pathlib.Path(__file__).parent / "reference" / "fixtures").glob("*.npz")
                  if not p.stem.startswith(OTHER_FIXTURES))

# float32 against float32: tinylm's kernels sum in a different order than PyTorch's.
RTOL, ATOL = 1e-4, 1e-5
# (rtol, atol) per case, for a case that needs looser ones, with the reason.
# None does today: even lstm_300_steps, where rounding differences in c_t are
# carried through 300 steps forward and back, stays within the defaults
# (its worst gradient element used 7% of the allowance with tinylm 0.1.0).
TOLERANCE = {}
# Modules in tinylm.nn that need no PyTorch fixture: bases and containers, and
# PeepholeLSTM, which PyTorch does not have (tests/test_rnn.py checks it).
NO_FIXTURE = {"Module", "Sequential", "ModuleList", "ModuleDict", "PeepholeLSTM"}


def _load(path):
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    return json.loads(str(arrays.pop("meta"))), arrays


def _build(desc, tensors):
    """A meta argument descriptor -> the value to pass to tinylm."""
    if "tensor" in desc:
        return tensors[desc["tensor"]]
    if "tuple" in desc:
        return tuple(_build(d, tensors) for d in desc["tuple"])
    return desc["value"]


def _flatten(value, names):
    """(name, output) pairs from the nested outputs and the nested names in meta."""
    if isinstance(names, str):
        return [(names, value)]
    assert isinstance(value, (tuple, list)) and len(value) == len(names), \
        f"expected outputs structured as {names}, got {type(value).__name__}"
    return [pair for v, n in zip(value, names) for pair in _flatten(v, n)]


def _check_close(what, actual, expected, rtol, atol):
    """assert_allclose that names the worst element (index, both values, error)."""
    if isinstance(actual, tl.Tensor):
        actual = actual.detach().numpy()
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, PyTorch has {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype}, PyTorch has {expected.dtype}"
    if actual.size == 0:
        return
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    with np.errstate(invalid="ignore"):  # inf - inf where both are -inf
        err = np.where((a == e) | (np.isnan(a) & np.isnan(e)), 0.0, np.abs(a - e))
    excess = np.where(np.isnan(err), np.inf, err - (atol + rtol * np.abs(e)))
    worst = np.unravel_index(np.argmax(excess), excess.shape)
    bad = int((excess > 0).sum())
    assert bad == 0, (f"{what}: {bad} of {a.size} elements differ beyond rtol={rtol}, atol={atol}; worst at "
                      f"{tuple(int(i) for i in worst)}: tinylm {a[worst]:.9g}, PyTorch {e[worst]:.9g}, "
                      f"|diff| {err[worst]:.3g}")


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_layer_matches_pytorch(path):
    run_fixture(path, "cpu")


def run_fixture(path, device):
    """One fixture on `device` ('cpu', or 'cuda' for tests/test_cuda_layers.py):
    the layer, its inputs and the upstream gradients go to the device; outputs
    and gradients must live there and are copied back to compare."""
    meta, arrays = _load(path)
    rtol, atol = TOLERANCE.get(path.stem, (RTOL, ATOL))
    ctor = {k: tl.tensor(arrays[f"ctor/{v['tensor']}"]) if isinstance(v, dict) else v
            for k, v in meta["kwargs"].items()}
    module = getattr(nn, meta["layer"])(**ctor)
    module.load_state_dict({k: arrays[f"param/{k}"] for k, _ in meta["state_dict"]}, strict=True)
    module.train(meta["mode"] == "train")
    assert [[k, list(v.shape)] for k, v in module.state_dict().items()] == meta["state_dict"]
    params = dict(module.named_parameters())
    assert list(params) == meta["parameters"]
    module.to(device)

    tensors = {name: tl.tensor(arrays[f"input/{name}"], requires_grad=info["requires_grad"], device=device)
               for name, info in meta["inputs"].items()}
    args = [_build(d, tensors) for d in meta["args"]]
    kwargs = {k: _build(d, tensors) for k, d in meta["forward_kwargs"].items()}
    outputs = _flatten(module(*args, **kwargs), meta["outputs"])

    loss = None
    for name, out in outputs:
        if name in meta["none_outputs"]:
            assert out is None, f"output {name}: PyTorch returns None here, tinylm {type(out).__name__}"
            continue
        _check_close(f"output {name}", _on(device, out), arrays[f"output/{name}"], rtol, atol)
        if f"upstream/{name}" in arrays:
            term = (out * tl.tensor(arrays[f"upstream/{name}"], device=device)).sum()
            loss = term if loss is None else loss + term
    if loss is None:
        return
    loss.backward()
    for name, t in tensors.items():
        if meta["inputs"][name]["requires_grad"]:
            grad = _on(device, t.grad) if t.grad is not None else np.zeros(t.shape, t.dtype)
            _check_close(f"grad of input {name}", grad, arrays[f"grad_input/{name}"], rtol, atol)
    for name, p in params.items():
        grad = _on(device, p.grad) if p.grad is not None else np.zeros(p.shape, p.dtype)
        _check_close(f"grad of parameter {name}", grad, arrays[f"grad_param/{name}"], rtol, atol)


def _on(device, t):
    """t, checked to live on `device`, as a host array."""
    assert isinstance(t, tl.Tensor) and t.device.type == device, \
        f"expected a tensor on {device}, got {getattr(t, 'device', type(t).__name__)}"
    return t.detach().cpu().numpy()


def test_every_layer_has_a_fixture():
    covered = {_load(p)[0]["layer"] for p in FIXTURES}
    layers = {n for n in nn.__all__ if isinstance(getattr(nn, n), type) and issubclass(getattr(nn, n), nn.Module)}
    missing = sorted(layers - covered - NO_FIXTURE)
    assert not missing, f"tinylm.nn layers with no PyTorch fixture: {missing} (add cases to make_fixtures.py)"
