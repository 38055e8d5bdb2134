"""tinylm against PyTorch on the language-model benchmark, in one process.

    python benchmarks/bench_train.py [--models lstm gru gpt-d128 gpt-d256] [--repeats 5]
                                     [--no-generate] [--profile NAME] [--device cuda]

Training: for each model (tinylm/bench.py lists them: float32, batch 32,
vocabulary 96) the same architecture with the same weights in tinylm and in
PyTorch (benchmarks/torch_models.py), one step = forward, cross-entropy,
backward, AdamW step, zero_grad; timed round-robin, best of the rounds, with
a pause before each block so one library's spinning BLAS/OpenMP threads do
not slow the other.
Generation: GPT d128 with a KV cache, batch 1 and 32, 200 new greedy tokens,
against a hand-written PyTorch KV cache. Prints tokens/s and tinylm/PyTorch
(> 1: tinylm is faster). PyTorch uses its default threads (2 here).
--device cuda: both libraries on the GPU (PyTorch CUDA), each timed block
ending with its library's synchronize.

--profile NAME: cProfile 10 tinylm training steps of one model instead,
printing the 25 most expensive functions (own time).
"""
import argparse
import cProfile
import os
import pstats
import sys
import types

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tinylm import bench  # noqa: E402

SETTLE = 0.5  # seconds between timed blocks, so the other library's spinning threads go idle (see bench.py)

try:
    import torch
    import torch_models
except ImportError:
    torch = None


def torch_model(kind, cfg, tl_model, device="cpu"):
    c = types.SimpleNamespace(dropout=0.0, bias=True, tie_weights=False, **cfg)
    m = torch_models.TorchGPT(c) if kind == "gpt" else torch_models.TorchRNNLM(c, kind)
    torch_models.load_tinylm_state(m, tl_model)
    return m.to(device)


def torch_step(model, x, y, device="cpu"):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

    def step():
        loss = model(xt, yt)[1]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


def syncs(device):
    """The end of a timed block for each library on `device`."""
    if device == "cpu":
        return {}
    return {"tinylm": bench.synchronizer(device), "torch": torch.cuda.synchronize if torch else None}


def training(names, repeats, steps, device="cpu"):
    print(f"training step tokens/s, float32, batch {bench.BATCH}, vocabulary {bench.VOCAB}, {device} "
          f"(best of {repeats} rounds of {steps} steps, round-robin)")
    print(f"  {'model':10s} {'tinylm':>10s} {'torch':>10s} {'tinylm/torch':>13s}")
    for name in names:
        model, kind, cfg, T = bench.build(name, device=device)
        x, y = bench.batch(T)
        fns = {"tinylm": bench.train_step(model, x, y)}
        if torch:
            fns["torch"] = torch_step(torch_model(kind, cfg, model, device), x, y, device)
        best = bench.best_times(fns, repeats, steps, settle=SETTLE, sync=syncs(device))
        rate = {k: bench.BATCH * T / v for k, v in best.items()}
        ratio = f"{rate['tinylm'] / rate['torch']:13.2f}" if torch else ""
        print(f"  {name:10s} {rate['tinylm']:10,.0f} {rate.get('torch', float('nan')):10,.0f} {ratio}")


def generation(repeats, device="cpu"):
    model, kind, cfg, _ = bench.build("gen", device=device)
    print(f"generation tokens/s, {bench.GEN_MODEL}, prompt {bench.GEN_PROMPT}, {bench.GEN_TOKENS} new tokens, "
          "greedy, KV cache")
    print(f"  {'batch':10s} {'tinylm':>10s} {'torch':>10s} {'tinylm/torch':>13s}")
    tm = torch_model(kind, cfg, model, device).eval() if torch else None
    for B in (1, 32):
        fns = {"tinylm": bench.generate_fn(model, B)}
        if torch:
            idx = torch.from_numpy(np.random.default_rng(1).integers(0, bench.VOCAB, (B, bench.GEN_PROMPT)))
            idx = idx.to(device)
            fns["torch"] = lambda: torch_models.gpt_generate_kv(tm, idx, bench.GEN_TOKENS)
            same = np.array_equal(fns["tinylm"]().cpu().numpy(), fns["torch"]().cpu().numpy())
        best = bench.best_times(fns, repeats, settle=SETTLE, sync=syncs(device))
        rate = {k: B * bench.GEN_TOKENS / v for k, v in best.items()}
        extra = f"{rate['tinylm'] / rate['torch']:13.2f}   same tokens: {same}" if torch else ""
        print(f"  {B:<10d} {rate['tinylm']:10,.0f} {rate.get('torch', float('nan')):10,.0f} {extra}")


def profile(name):
    model, _, _, T = bench.build(name)
    step = bench.train_step(model, *bench.batch(T))
    step()
    prof = cProfile.Profile()
    prof.runcall(lambda: [step() for _ in range(10)])
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="*", default=list(bench.MODELS), choices=list(bench.MODELS))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--no-generate", action="store_true")
    p.add_argument("--profile", choices=list(bench.MODELS))
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = p.parse_args()
    if args.profile:
        return profile(args.profile)
    if torch is None:
        print("torch is not installed (pip install -e '.[bench]'): timing tinylm alone")
    if args.models:
        training(args.models, args.repeats, args.steps, args.device)
    if not args.no_generate:
        generation(max(1, args.repeats // 2), args.device)


if __name__ == "__main__":
    main()
