"""Quality check: the demo's model (`tinylm train` defaults) trained by tinylm
and by PyTorch from the same initial weights, on the same batches, with the
same AdamW groups, warmup + cosine schedule and clipping, then scored on the
same validation windows. The two validation losses should agree within a
few percent (float32 rounding makes the runs drift apart slowly, not the
maths).

    python benchmarks/compare_demo_torch.py [--steps 1200] [--model gpt|lstm|gru]

Needs torch (pip install -e '.[bench]'). Prints both losses, the relative
difference and each side's training time.
"""
import argparse
import os
import sys
import time
import types

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402

import tinylm as tl  # noqa: E402
from tinylm.cli.lm_common import encode_corpus, evaluate_loss, make_tokenizer  # noqa: E402
from tinylm.cli.lm_train import _model_config, _optimizer, _scheduler, add_parsers  # noqa: E402
from tinylm.data import load_corpus  # noqa: E402
from tinylm.models import build_model  # noqa: E402
from tinylm.nn.utils import clip_grad_norm_  # noqa: E402


def demo_args(extra):
    """The `tinylm train` defaults (plus overrides), parsed by the CLI's own parser."""
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers())
    return parser.parse_args(["train", *extra])


def batches(train_ids, args, seed=1234):
    """The same (x, y) windows for both libraries, drawn with NumPy."""
    rng = np.random.default_rng(seed)
    T = args.block_size
    for _ in range(args.steps):
        starts = rng.integers(0, len(train_ids) - T, args.batch_size)
        x = np.stack([train_ids[s:s + T] for s in starts])
        yield x, np.stack([train_ids[s + 1:s + T + 1] for s in starts])


def train_tinylm(model, train_ids, args):
    opt = _optimizer(model, args)
    sched = _scheduler(opt, args)
    for x, y in batches(train_ids, args):
        _, loss = model(tl.tensor(x), tl.tensor(y))
        loss.backward()
        clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        sched.step()
        opt.zero_grad()


def train_torch(model, train_ids, args):
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": args.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=args.lr, betas=(0.9, args.beta2))
    warmup = max(0, min(args.warmup, args.steps - 1))
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, args.steps - warmup), eta_min=args.min_lr)
    sched = cosine if warmup == 0 else torch.optim.lr_scheduler.SequentialLR(
        opt, [torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.01, total_iters=warmup), cosine], [warmup])
    for x, y in batches(train_ids, args):
        loss = model(torch.from_numpy(x), torch.from_numpy(y))[1]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        sched.step()
        opt.zero_grad()


@torch.no_grad()
def torch_val_loss(model, ids, B, T):
    model.eval()
    n = (len(ids) - 1) // T
    x, y = ids[:n * T].reshape(n, T), ids[1:n * T + 1].reshape(n, T)
    total = 0.0
    for i in range(0, n, B):
        logits = model(torch.from_numpy(x[i:i + B]), torch.from_numpy(y[i:i + B]))[0]
        total += torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)),
                                                   torch.from_numpy(y[i:i + B]).reshape(-1), reduction="sum").item()
    return total / (n * T)


def main():
    args = demo_args(sys.argv[1:])
    tl.manual_seed(args.seed)
    text = load_corpus(None if args.corpus == "builtin" else args.corpus)
    tokenizer = make_tokenizer(args.tokenizer, text, args.vocab_size)
    train_ids, val_ids = encode_corpus(tokenizer, text, args.val_fraction)
    cfg = vars(_model_config(args, tokenizer.vocab_size))
    model = build_model(args.model, cfg)
    c = types.SimpleNamespace(**cfg)
    tmodel = torch_models.TorchGPT(c) if args.model == "gpt" else torch_models.TorchRNNLM(c, args.model)
    torch_models.load_tinylm_state(tmodel, model)
    print(f"{args.model} {cfg}, {args.steps} steps, batch {args.batch_size}, torch threads {torch.get_num_threads()}")
    t0 = time.perf_counter()
    train_tinylm(model, train_ids, args)
    t1 = time.perf_counter()
    train_torch(tmodel, train_ids, args)
    t2 = time.perf_counter()
    a = evaluate_loss(model, val_ids, args.batch_size, args.block_size)
    b = torch_val_loss(tmodel, val_ids, args.batch_size, args.block_size)
    print(f"validation loss: tinylm {a:.4f} ({t1 - t0:.0f} s), torch {b:.4f} ({t2 - t1:.0f} s), "
          f"relative difference {abs(a - b) / b:.2%}")


if __name__ == "__main__":
    main()
