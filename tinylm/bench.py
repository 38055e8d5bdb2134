"""The language-model benchmark: tokens per second of training steps and of
KV-cached generation for the four benchmark models, float32, on the CPU or
(--device cuda) an NVIDIA GPU.

    python -m tinylm.bench            (or `tinylm bench [--device cuda]`)
    python benchmarks/bench_train.py  the same, next to PyTorch when it is installed

A training step is what tinylm.train does per batch: forward, cross-entropy,
backward, AdamW step, zero_grad. Models (vocabulary 96, batch 32):
    lstm      2-layer LSTM LM, embedding 128, hidden 256, T 64
    gru       the same with GRU layers
    gpt-d128  GPT, 4 layers, d 128, 4 heads, T 64, head tied to the embedding
    gpt-d256  GPT, 4 layers, d 256, 8 heads, T 128
Variants are timed round-robin (best of `repeats` rounds of `steps` steps),
so a noisy shared machine slows them alike. On cuda the batch is copied to
the device once, and each timed block ends with a synchronize (kernels run
asynchronously: without it the clock would stop before they finish).
"""
import time

import numpy as np

from . import random
from ._tensor import Tensor
from .device import check_device
from .models import build_model
from .optim import AdamW

VOCAB, BATCH = 96, 32
MODELS = {  # name -> (kind, config without vocab_size, T)
    "lstm": ("lstm", dict(n_embd=128, hidden_size=256, n_layer=2), 64),
    "gru": ("gru", dict(n_embd=128, hidden_size=256, n_layer=2), 64),
    "gpt-d128": ("gpt", dict(n_layer=4, n_head=4, n_embd=128, block_size=64), 64),
    "gpt-d256": ("gpt", dict(n_layer=4, n_head=8, n_embd=256, block_size=128), 128),
}
GEN_MODEL, GEN_PROMPT, GEN_TOKENS = "gpt-d128", 16, 200  # generation: block_size 256 holds prompt + 200


def build(name, seed=0, device="cpu", models=MODELS):
    """(tinylm model, kind, config, T) for a benchmark name; "gen" is the generation model
    (GEN_MODEL with a block of 256, room for the prompt and the new tokens). The weights
    are drawn on the host, then moved to `device`."""
    gen = name == "gen"
    kind, cfg, T = models[GEN_MODEL if gen else name]
    cfg = dict(cfg, vocab_size=VOCAB, **({"block_size": 256} if gen else {}))
    random.manual_seed(seed)
    return build_model(kind, cfg).to(device), kind, cfg, T


def batch(T, B=BATCH, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, VOCAB, (B, T)), rng.integers(0, VOCAB, (B, T))


def train_step(model, x, y, lr=1e-3):
    """One training step as a function of no arguments: forward, loss, backward, AdamW, zero_grad."""
    opt = AdamW(model.parameters(), lr=lr)
    device = next(model.parameters()).device
    xt, yt = Tensor(x).to(device), Tensor(y).to(device)

    def step():
        _, loss = model(xt, yt)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss
    return step


def generate_fn(model, B, prompt_len=GEN_PROMPT, new_tokens=GEN_TOKENS):
    model.eval()
    idx = Tensor(np.random.default_rng(1).integers(0, VOCAB, (B, prompt_len)))
    return lambda: model.generate(idx, new_tokens, temperature=0.0)


def synchronizer(device):
    """What ends a timed block on `device`: waiting for the GPU, or nothing."""
    if check_device(device).type == "cuda":
        from . import cuda
        return cuda.synchronize
    return None


def best_times(fns, repeats, calls=1, settle=0.0, sync=None):
    """Best seconds per call of each function, run round-robin `repeats` times after a warm-up.

    settle: seconds to sleep before each timed block. BLAS and OpenMP worker threads
    (NumPy's OpenBLAS, PyTorch's OpenMP) spin for a while after their last call; without
    a pause the next library's block shares the cores with them, which penalises whichever
    runs second (measured: torch fell from ~19k to ~11k tokens/s).
    sync: called at the end of each timed block (a GPU's synchronize); a dict
    gives one per function."""
    syncs = sync if isinstance(sync, dict) else {k: sync for k in fns}
    for k, f in fns.items():
        f()
        if syncs.get(k):
            syncs[k]()
    best = {k: float("inf") for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            if settle:
                time.sleep(settle)
            t0 = time.perf_counter()
            for _ in range(calls):
                f()
            if syncs.get(k):
                syncs[k]()
            best[k] = min(best[k], (time.perf_counter() - t0) / calls)
    return best


def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(prog="tinylm bench", description=__doc__.split("\n\n")[0])
    add_arguments(p)
    return run(p.parse_args(argv))


def add_arguments(p):
    p.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS), help="training benchmarks")
    p.add_argument("--repeats", type=int, default=5, help="round-robin rounds (best is kept)")
    p.add_argument("--steps", type=int, default=3, help="steps per round")
    p.add_argument("--no-generate", action="store_true", help="skip the generation benchmark")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the models run")


def run(args):
    try:
        sync = synchronizer(args.device)
    except RuntimeError as e:
        raise ValueError(f"--device {args.device}: {e}") from None
    print(f"training steps, float32, batch {BATCH}, vocabulary {VOCAB}, {args.device} "
          f"(best of {args.repeats} x {args.steps})")
    fns, tokens = {}, {}
    for name in args.models:
        model, _, _, T = build(name, device=args.device)
        fns[name] = train_step(model, *batch(T))
        tokens[name] = BATCH * T
    for name, sec in best_times(fns, args.repeats, args.steps, sync=sync).items():
        print(f"  {name:10s} {sec * 1e3:8.1f} ms/step {tokens[name] / sec:10,.0f} tokens/s")
    if not args.no_generate:
        model = build("gen", device=args.device)[0]
        print(f"generation, {GEN_MODEL} (block 256), prompt {GEN_PROMPT}, {GEN_TOKENS} new tokens, greedy, KV cache")
        gens = {f"batch {B}": generate_fn(model, B) for B in (1, 32)}
        for name, sec in best_times(gens, max(1, args.repeats // 2), sync=sync).items():
            B = int(name.split()[1])
            print(f"  {name:10s} {sec:8.2f} s {B * GEN_TOKENS / sec:10,.0f} tokens/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
