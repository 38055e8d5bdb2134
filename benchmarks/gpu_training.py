"""Training steps on the cuda device, for benchmarks/gpu_check.py: the four
benchmark models (tinylm/bench.py) and a larger GPT that gives a GPU more
work, each timed against the same model in PyTorch CUDA (when torch with
CUDA is importable), with the host-device copies of one step counted and the
first step's loss compared with the same step on the CPU.

    python benchmarks/gpu_training.py [--models ...] [--repeats 5] [--smoke]

--smoke: tiny models and two repeats, so that the script itself can be
checked under NUMBA_ENABLE_CUDASIM=1 (tests/test_cuda_device.py does not
run it; run it by hand after editing).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tinylm as tl  # noqa: E402
from tinylm import bench  # noqa: E402

LARGE = {"gpt-large": ("gpt", dict(n_layer=6, n_head=8, n_embd=512, block_size=256), 256)}
SMOKE = {"lstm": ("lstm", dict(n_embd=8, hidden_size=8, n_layer=1), 4),
         "gpt-d128": ("gpt", dict(n_layer=1, n_head=2, n_embd=8, block_size=4), 4)}


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def copies_per_step(step):
    """(h2d, d2h) copies of one training step, the loss not read."""
    with tl.cuda.transfers.counting() as c:
        step()
        tl.cuda.synchronize()
    return c.h2d, c.d2h


def cpu_agreement(name, models, batch):
    """|loss on cuda - loss on cpu| of the first step from the same weights."""
    losses = []
    for device in ("cpu", "cuda"):
        model, _, _, _ = bench.build(name, device=device, models=models)
        losses.append(bench.train_step(model, *batch)().item())
    return abs(losses[0] - losses[1]), losses[0]


def run(names, repeats, steps, smoke=False, out=print):
    """Print one row per model; returns the rows as dicts (for the closing note)."""
    models = SMOKE if smoke else {**bench.MODELS, **LARGE}
    torch = None if smoke else _torch()
    if torch is not None:  # the PyTorch twins of the models (benchmarks/torch_models.py)
        from bench_train import torch_model, torch_step
    B = 2 if smoke else bench.BATCH
    out(f"training steps on cuda, float32, batch {B}: tokens/s (best of {repeats} x {steps}), "
        f"copies per step (loss not read), first-step loss against the CPU")
    out(f"  {'model':10s} {'tinylm':>10s} {'torch':>10s} {'ratio':>7s} {'h2d':>4s} {'d2h':>4s} "
        f"{'|loss diff|':>12s}")
    rows = []
    for name in names:
        if name not in models:
            continue
        model, kind, cfg, T = bench.build(name, device="cuda", models=models)
        x, y = bench.batch(T, B=B)
        fns = {"tinylm": bench.train_step(model, x, y)}
        syncs = {"tinylm": tl.cuda.synchronize}
        if torch is not None:
            fns["torch"] = torch_step(torch_model(kind, cfg, model, "cuda"), x, y, "cuda")
            syncs["torch"] = torch.cuda.synchronize
        h2d, d2h = copies_per_step(fns["tinylm"])
        best = bench.best_times(fns, repeats, steps, sync=syncs)
        rate = {k: B * T / v for k, v in best.items()}
        diff, loss = cpu_agreement(name, models, (x, y)) if name != "gpt-large" else (float("nan"), 0)
        ratio = rate["tinylm"] / rate["torch"] if "torch" in rate else float("nan")
        out(f"  {name:10s} {rate['tinylm']:10,.0f} {rate.get('torch', float('nan')):10,.0f} "
            f"{ratio:7.2f} {h2d:4d} {d2h:4d} {diff:12.2e}")
        rows.append(dict(model=name, tinylm=rate["tinylm"], torch=rate.get("torch"), h2d=h2d, d2h=d2h,
                         loss_diff=diff))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="*", default=list(bench.MODELS) + list(LARGE))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--smoke", action="store_true", help="tiny models (for the simulator)")
    args = p.parse_args(argv)
    if not tl.cuda.is_available():
        print("CUDA is not available here (no GPU, and NUMBA_ENABLE_CUDASIM is not set)")
        return 2
    if args.smoke:
        args.models, args.repeats, args.steps = list(SMOKE), 2, 1
    rows = run(args.models, args.repeats, args.steps, args.smoke)
    bad = [r["model"] for r in rows if r["h2d"] or r["d2h"] or not (r["loss_diff"] < 1e-4 or
                                                                     np.isnan(r["loss_diff"]))]
    print("every step copied nothing and matched the CPU" if not bad else f"PROBLEMS: {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
