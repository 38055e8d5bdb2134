"""`tinylm train`: train a language model on a corpus, nanoGPT-style.

Without arguments it trains a small character-level GPT on the built-in
corpus (CPython's help topics, no download) for about three minutes on two
cores, printing a sample before and after, and writes to out/:
ckpt.safetensors (model, optimizer, tokenizer, configs), tokenizer.json,
metrics.jsonl and loss.png.
"""
import argparse
import json
import os
import time
from dataclasses import asdict

from .. import random
from ..data import load_corpus, random_windows
from ..models import GPTConfig, RNNLMConfig, build_model
from ..optim import AdamW
from ..optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR
from ..serialization import load
from ..train import TrainConfig, train
from .lm_common import (CHECKPOINT, add_device_argument, default_prompt, describe, encode_corpus,
                        evaluate_loss, get_device, make_tokenizer,
                        perplexity, sample_text, tokenizer_from_json, tokenizer_to_json)


def add_parsers(sub):
    p = sub.add_parser("train", help="train a language model on a corpus",
                       description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    m = p.add_argument_group("model")
    m.add_argument("--model", choices=["gpt", "lstm", "gru"], default="gpt", help="model type")
    m.add_argument("--n-layer", type=int, default=4, help="transformer blocks / RNN layers")
    m.add_argument("--n-head", type=int, default=4, help="attention heads (gpt)")
    m.add_argument("--n-embd", type=int, default=128, help="embedding width")
    m.add_argument("--hidden-size", type=int, default=256, help="RNN state width (lstm, gru)")
    m.add_argument("--block-size", type=int, default=64, help="context length T in tokens")
    m.add_argument("--dropout", type=float, default=0.0, help="dropout probability")
    m.add_argument("--no-bias", action="store_true", help="no biases in Linear/LayerNorm (gpt)")
    m.add_argument("--tie-weights", action="store_true", help="tie RNN decoder to encoder (needs n_embd == hidden)")
    d = p.add_argument_group("data")
    d.add_argument("--corpus", default="builtin",
                   help="'builtin' (CPython's pydoc help topics) or a UTF-8 text file or folder of .txt files")
    d.add_argument("--tokenizer", choices=["char", "bpe"], default="char", help="character-level or byte-level BPE")
    d.add_argument("--vocab-size", type=int, default=512, help="BPE vocabulary size (bpe only)")
    d.add_argument("--val-fraction", type=float, default=0.1, help="the corpus's last part held out")
    o = p.add_argument_group("optimization")
    o.add_argument("--steps", type=int, default=1200, help="optimizer steps")
    o.add_argument("--batch-size", type=int, default=32, help="windows per micro-batch")
    o.add_argument("--grad-accum", type=int, default=1, help="micro-batches per step")
    o.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (AdamW)")
    o.add_argument("--min-lr", type=float, default=2e-4, help="learning rate at the end of the cosine decay")
    o.add_argument("--warmup", type=int, default=100, help="linear warmup steps")
    o.add_argument("--weight-decay", type=float, default=0.1, help="on matrices and embeddings only")
    o.add_argument("--beta2", type=float, default=0.99, help="AdamW beta2 (beta1 = 0.9)")
    o.add_argument("--grad-clip", type=float, default=1.0, help="max gradient norm (0: off)")
    r = p.add_argument_group("run")
    r.add_argument("--out", default="out", help="output folder")
    r.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.safetensors")
    r.add_argument("--eval-every", type=int, default=200, help="steps between validation losses and checkpoints")
    r.add_argument("--eval-batches", type=int, default=16, help="validation batches per evaluation (0: all)")
    r.add_argument("--sample-tokens", type=int, default=300, help="tokens sampled before and after (0: none)")
    r.add_argument("--seed", type=int, default=1337, help="seed for initialisation, batches, dropout, samples")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_device_argument(r)
    p.set_defaults(run=run)


def _check(args):
    for name in ("n_layer", "n_head", "n_embd", "hidden_size", "block_size", "steps", "batch_size", "grad_accum"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if not 0.0 < args.val_fraction < 1.0:
        raise ValueError(f"--val-fraction must be between 0 and 1, got {args.val_fraction}")


def _model_config(args, vocab_size):
    if args.model == "gpt":
        return GPTConfig(vocab_size=vocab_size, block_size=args.block_size, n_layer=args.n_layer,
                         n_head=args.n_head, n_embd=args.n_embd, dropout=args.dropout, bias=not args.no_bias)
    return RNNLMConfig(vocab_size=vocab_size, n_embd=args.n_embd, hidden_size=args.hidden_size,
                       n_layer=args.n_layer, dropout=args.dropout, tie_weights=args.tie_weights)


def _optimizer(model, args):
    """AdamW with nanoGPT's groups: decay on >= 2-D parameters, none on biases and norms."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": args.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return AdamW([g for g in groups if g["params"]], lr=args.lr, betas=(0.9, args.beta2))


def _scheduler(opt, args):
    """Linear warmup from lr/100, then cosine decay to min_lr at the last step."""
    warmup = max(0, min(args.warmup, args.steps - 1))
    cosine = CosineAnnealingLR(opt, T_max=max(1, args.steps - warmup), eta_min=args.min_lr)
    if warmup == 0:
        return cosine
    return SequentialLR(opt, [LinearLR(opt, start_factor=0.01, total_iters=warmup), cosine], [warmup])


def _resumed_meta(args):
    path = os.path.join(args.out, CHECKPOINT)
    if not os.path.exists(path):
        raise FileNotFoundError(f"--resume: no checkpoint at {path!r}")
    meta = load(path).get("model_config")
    if not isinstance(meta, dict) or "kind" not in meta:
        raise ValueError(f"--resume: {path} was not written by `tinylm train`")
    if meta["kind"] != args.model:
        raise ValueError(f"--resume: {path} holds a {meta['kind']} model, but --model is {args.model}")
    return meta


def run(args):
    _check(args)
    device = get_device(args.device)
    random.manual_seed(args.seed)
    t0 = time.perf_counter()
    text = load_corpus(None if args.corpus == "builtin" else args.corpus)
    meta = _resumed_meta(args) if args.resume else None
    if meta is not None:  # the tokenizer and the model come from the checkpoint, not the flags
        tokenizer = tokenizer_from_json(meta["tokenizer"])
        config = meta["config"]
    else:
        tokenizer = make_tokenizer(args.tokenizer, text, args.vocab_size)
        config = asdict(_model_config(args, tokenizer.vocab_size))
    train_ids, val_ids = encode_corpus(tokenizer, text, args.val_fraction)
    T = config.get("block_size", args.block_size)
    for name, ids in (("training", train_ids), ("validation", val_ids)):
        if len(ids) < T + 1:
            raise ValueError(f"the {name} split has {len(ids)} tokens, fewer than one window of "
                             f"block size + 1 = {T + 1}; use a larger corpus or a smaller --block-size")
    model = build_model(args.model, config).to(device)  # initialised on the host, then moved
    meta = meta or {"kind": args.model, "config": config, "tokenizer": tokenizer_to_json(tokenizer),
                    "corpus": args.corpus, "val_fraction": args.val_fraction}
    print(f"corpus: {args.corpus}, {len(text):,} characters -> {len(train_ids):,} training and "
          f"{len(val_ids):,} validation tokens ({type(tokenizer).__name__}, vocabulary {tokenizer.vocab_size}, "
          f"{time.perf_counter() - t0:.1f} s)")
    print(f"model: {describe(meta)}; {sum(p.numel() for p in model.parameters()):,} parameters")
    prompt = default_prompt(tokenizer, text)
    if args.sample_tokens and not args.resume:
        _print_sample("before training", model, tokenizer, prompt, args)

    opt = _optimizer(model, args)
    sched = _scheduler(opt, args)
    max_batches = args.eval_batches or None
    config_train = TrainConfig(max_steps=args.steps, grad_accum=args.grad_accum, clip_grad_norm=args.grad_clip,
                               eval_every=args.eval_every, checkpoint_every=args.eval_every, log_every=10,
                               out_dir=args.out, progress=not args.no_progress)

    def get_batch():  # drawn on the host, moved to the model's device (one copy each)
        return tuple(t.to(device) for t in random_windows(train_ids, args.batch_size, T))
    result = train(model, opt, get_batch, config_train,
                   scheduler=sched, resume=args.resume, model_config=meta,
                   evaluate=lambda m: {"val_loss": evaluate_loss(m, val_ids, args.batch_size, T, max_batches)})
    with open(os.path.join(args.out, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(meta["tokenizer"])
    val = evaluate_loss(model, val_ids, args.batch_size, T)
    if args.sample_tokens:
        _print_sample(f"after {result.step} steps", model, tokenizer, prompt, args)
    print(f"validation loss {val:.4f} (perplexity {perplexity(val):.2f}) over all {len(val_ids):,} "
          f"validation tokens, after {result.step} steps")
    print(f"wrote {args.out}/: {CHECKPOINT}, tokenizer.json, metrics.jsonl" +
          (", loss.png" if os.path.exists(os.path.join(args.out, "loss.png")) else ""))
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump({"steps": result.step, "val_loss": val, "interrupted": result.interrupted,
                   "seconds": time.perf_counter() - t0}, f)
    return 0


def _print_sample(when, model, tokenizer, prompt, args):
    text = sample_text(model, tokenizer, prompt, args.sample_tokens)[0]
    bar = "-" * 60
    print(f"\nsample {when} (prompt {prompt!r}, temperature 0.8):\n{bar}\n{text}\n{bar}\n")

