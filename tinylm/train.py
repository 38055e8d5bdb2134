"""The training loop: a small, readable version of nanoGPT's train.py.

    result = tl.train.train(model, optimizer, get_batch, TrainConfig(max_steps=1000, out_dir="out"),
                            scheduler=sched, evaluate=lambda m: {"val_loss": ...})

Each step: grad_accum micro-batches (forward, loss / grad_accum, backward),
clip the gradient norm, optimizer step, scheduler step, zero the grads. Every
eval_every steps `evaluate(model)` runs in eval mode without grad; every
checkpoint_every steps (and at the end, and on Ctrl-C) one checkpoint file
holds the model, optimizer, scheduler, step, RNG states (the CPU generator's
and the cuda one's) and configs (tl.save: safetensors, no pickle, atomic;
arrays on cuda are saved as host copies). resume=True continues from it, on
either device; since all randomness (dropout, batch sampling through tl's
generators) comes from the saved RNG states, resuming at step k and training
to n on the same device gives the same weights, bit for bit, as training
straight to n.

Batches: `batches` is either a function get_batch() -> batch (drawing from
tl's generator, as nanoGPT's get_batch does) or an iterable of batches; on
resume an iterable is re-read from its start and the consumed batches are
skipped. A batch is a tuple passed to loss_fn(model, batch); the default
calls model(*batch) and takes the loss from a (logits, loss) result.
Tokens per second count batch[0].size tokens per micro-batch.

Ctrl-C stops after the step in progress and saves a checkpoint (the
result says interrupted=True); a second Ctrl-C quits at once.

Output (out_dir): ckpt.safetensors, metrics.jsonl (one JSON object per
logged step, {"kind": "train", "step", "loss", "lr", "tokens_per_s"}, or
per evaluation, {"kind": "eval", "step", <metrics>}), loss.png (needs matplotlib: pip install
'tinylm[plot]'; without it the loop says so once and goes on).
"""
import json
import math
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass, field

from . import autograd, random
from .nn.utils import clip_grad_norm_
from .serialization import load, save

CHECKPOINT = "ckpt.safetensors"


@dataclass
class TrainConfig:
    max_steps: int = 1000
    grad_accum: int = 1            # micro-batches per optimizer step
    clip_grad_norm: float = 1.0    # 0 or None: no clipping
    eval_every: int = 0            # 0: evaluate only at the end (if evaluate is given)
    checkpoint_every: int = 0      # 0: checkpoint only at the end (if out_dir is given)
    log_every: int = 10            # metrics.jsonl lines and progress-bar updates
    out_dir: str = None            # None: no files
    progress: bool = True          # tqdm progress bar
    plot: bool = True              # loss.png at each evaluation and at the end


@dataclass
class TrainResult:
    step: int
    losses: list = field(default_factory=list)      # (step, train loss) per logged step
    evals: list = field(default_factory=list)       # (step, {metric: value})
    interrupted: bool = False
    checkpoint: str = None


def default_loss(model, batch):
    out = model(*batch)
    return out[-1] if isinstance(out, tuple) else out


def _batch_source(batches, skip):
    if callable(batches):
        return batches
    it = iter(batches)
    for _ in range(skip):
        next(it)
    return lambda: next(it)


def _tokens(batch):
    first = batch[0] if isinstance(batch, (tuple, list)) else batch
    return int(getattr(first, "size", 0) if not callable(getattr(first, "numel", None)) else first.numel())


def train(model, optimizer, batches, config=None, *, scheduler=None, loss_fn=default_loss, evaluate=None,
          resume=False, model_config=None):
    cfg = config or TrainConfig()
    if cfg.grad_accum < 1 or cfg.max_steps < 0:
        raise ValueError(f"train: grad_accum must be >= 1 and max_steps >= 0, got {cfg.grad_accum}, {cfg.max_steps}")
    ckpt_path = os.path.join(cfg.out_dir, CHECKPOINT) if cfg.out_dir else None
    result = TrainResult(step=0, checkpoint=ckpt_path)
    if resume:
        if not ckpt_path or not os.path.exists(ckpt_path):
            raise FileNotFoundError(f"train(resume=True): no checkpoint at {ckpt_path!r}")
        result.step = _restore(load(ckpt_path), ckpt_path, model, optimizer, scheduler)
    if cfg.out_dir:
        os.makedirs(cfg.out_dir, exist_ok=True)
    log = _MetricsLog(cfg.out_dir, keep_until=result.step if resume else None)
    result.losses, result.evals = log.history()
    next_batch = _batch_source(batches, result.step * cfg.grad_accum)
    bar = _progress(cfg, result.step)
    model.train()
    t_last, tokens = time.perf_counter(), 0
    stop = _StopOnCtrlC()
    try:
        while result.step < cfg.max_steps and not stop.requested:
            loss_sum = 0.0
            for _ in range(cfg.grad_accum):
                batch = next_batch()
                loss = loss_fn(model, batch)
                (loss / cfg.grad_accum).backward()
                loss_sum += float(loss.item())
                tokens += _tokens(batch)
            if cfg.clip_grad_norm:
                clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            result.step += 1
            loss_value = loss_sum / cfg.grad_accum
            if not math.isfinite(loss_value):
                raise FloatingPointError(f"train: the loss is {loss_value} at step {result.step}; "
                                         "lower the learning rate or check the data")
            if result.step % cfg.log_every == 0 or result.step == cfg.max_steps:
                now = time.perf_counter()
                rate = tokens / max(now - t_last, 1e-9)
                t_last, tokens = now, 0
                lr = optimizer.param_groups[0]["lr"]
                log.write({"kind": "train", "step": result.step, "loss": loss_value, "lr": lr, "tokens_per_s": rate})
                result.losses.append((result.step, loss_value))
                if bar is not None:
                    bar.set_postfix(loss=f"{loss_value:.4f}", tok_s=f"{rate:,.0f}", lr=f"{lr:.2e}")
            if bar is not None:
                bar.update(1)
            if evaluate is not None and cfg.eval_every and result.step % cfg.eval_every == 0:
                _evaluate(model, evaluate, result, log, cfg)
            if ckpt_path and cfg.checkpoint_every and result.step % cfg.checkpoint_every == 0:
                _checkpoint(ckpt_path, model, optimizer, scheduler, result.step, cfg, model_config)
    finally:
        stop.restore()
        if bar is not None:
            bar.close()
    if stop.requested:
        result.interrupted = True
        if ckpt_path:
            _checkpoint(ckpt_path, model, optimizer, scheduler, result.step, cfg, model_config)
        print(f"interrupted at step {result.step}" +
              (f"; checkpoint saved to {ckpt_path} (resume=True continues)" if ckpt_path else ""))
        return result
    if evaluate is not None and (not result.evals or result.evals[-1][0] != result.step):
        _evaluate(model, evaluate, result, log, cfg)
    if ckpt_path:
        _checkpoint(ckpt_path, model, optimizer, scheduler, result.step, cfg, model_config)
    if cfg.plot and cfg.out_dir:
        plot_losses(result, os.path.join(cfg.out_dir, "loss.png"))
    return result


class _StopOnCtrlC:
    """The first Ctrl-C asks the loop to stop after the current step, so the
    checkpoint never holds a half-applied optimizer step; a second one raises
    KeyboardInterrupt at once (no checkpoint). Only the main thread can own
    SIGINT; elsewhere Ctrl-C keeps its usual meaning."""

    def __init__(self):
        self.requested = False
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame):
        if self.requested:
            self.restore()
            raise KeyboardInterrupt
        self.requested = True
        print("\nCtrl-C: stopping after this step and saving a checkpoint (Ctrl-C again to quit now)")

    def restore(self):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def _evaluate(model, evaluate, result, log, cfg):
    model.eval()
    with autograd.no_grad():
        metrics = {k: float(v) for k, v in evaluate(model).items()}
    model.train()
    result.evals.append((result.step, metrics))
    log.write({"kind": "eval", "step": result.step, **metrics})
    if cfg.progress:
        print(f"step {result.step}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    if cfg.plot and cfg.out_dir:
        plot_losses(result, os.path.join(cfg.out_dir, "loss.png"))


def _checkpoint(path, model, optimizer, scheduler, step, cfg, model_config):
    # both generators: on cuda, dropout draws from the cuda one (two host ints, no copy)
    from .cuda import get_rng_state as cuda_rng_state
    save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
          "scheduler": scheduler.state_dict() if scheduler is not None else None,
          "step": step, "rng": random.get_rng_state(), "cuda_rng": cuda_rng_state(),
          "train_config": asdict(cfg), "model_config": model_config}, path)


def _restore(ckpt, path, model, optimizer, scheduler):
    for key in ("model", "optimizer", "step", "rng"):
        if key not in ckpt:
            raise ValueError(f"checkpoint {path!r} has no '{key}' entry: not written by tinylm.train")
    model.load_state_dict(ckpt["model"])  # checks every key and shape before changing anything
    optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None:
        if ckpt.get("scheduler") is None:
            raise ValueError(f"checkpoint {path!r} has no scheduler state, but a scheduler was given")
        scheduler.load_state_dict(ckpt["scheduler"])
    random.set_rng_state(ckpt["rng"])
    if ckpt.get("cuda_rng") is not None:  # (absent from checkpoints written before the cuda device)
        from .cuda import set_rng_state as set_cuda_rng_state
        set_cuda_rng_state(ckpt["cuda_rng"])
    return int(ckpt["step"])


def _progress(cfg, start):
    if not cfg.progress:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=cfg.max_steps, initial=start, desc="train", unit="step", dynamic_ncols=True)


class _MetricsLog:
    """metrics.jsonl in out_dir, one JSON object per line. A fresh run starts
    it empty; a resumed run keeps the records up to the checkpoint's step and
    drops later ones (written after that checkpoint, they are redone)."""

    def __init__(self, out_dir, keep_until=None):
        self.path = os.path.join(out_dir, "metrics.jsonl") if out_dir else None
        self.records = []
        if self.path and os.path.exists(self.path):
            if keep_until is not None:
                with open(self.path) as f:
                    self.records = [r for r in map(json.loads, filter(str.strip, f)) if r["step"] <= keep_until]
            with open(self.path, "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in self.records)

    def history(self):
        losses = [(r["step"], r["loss"]) for r in self.records if r["kind"] == "train"]
        evals = [(r["step"], {k: v for k, v in r.items() if k not in ("kind", "step")})
                 for r in self.records if r["kind"] == "eval"]
        return losses, evals

    def write(self, record):
        if self.path:
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")


_warned_no_matplotlib = False


def plot_losses(result, path):
    """Train loss (and every evaluated metric) against step, as a PNG."""
    global _warned_no_matplotlib
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        if not _warned_no_matplotlib:
            print("loss curve not plotted: matplotlib is not installed (pip install 'tinylm[plot]')")
            _warned_no_matplotlib = True
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    if result.losses:
        ax.plot(*zip(*result.losses), label="train loss")
    names = sorted({k for _, m in result.evals for k in m})
    for name in names:
        pts = [(s, m[name]) for s, m in result.evals if name in m]
        ax.plot(*zip(*pts), marker="o", label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
