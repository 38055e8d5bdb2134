"""`tinylm generate` and `tinylm eval`: use a checkpoint written by `tinylm train`."""
import argparse

import numpy as np

from .. import random
from ..data import load_corpus
from .lm_common import (add_device_argument, encode_corpus, evaluate_loss, get_device, load_lm,
                        perplexity, sample_text)


def add_parsers(sub):
    g = sub.add_parser("generate", help="sample text from a checkpoint",
                       description="Continue a prompt with text sampled from a trained model.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g.add_argument("--ckpt", default="out", help="checkpoint file, or the folder `tinylm train --out` wrote")
    g.add_argument("--prompt", default="\n", help="text to continue (every character must be in the vocabulary)")
    g.add_argument("--max-new-tokens", type=int, default=300, help="tokens to generate per sample")
    g.add_argument("--temperature", type=float, default=0.8, help="0: greedy; higher: more random")
    g.add_argument("--top-k", type=int, default=None, help="sample only among the k most likely tokens")
    g.add_argument("--top-p", type=float, default=None, help="nucleus sampling: smallest set with probability >= p")
    g.add_argument("--num-samples", type=int, default=1, help="independent samples")
    g.add_argument("--seed", type=int, default=1337, help="sampling seed")
    add_device_argument(g)
    g.set_defaults(run=run_generate)

    e = sub.add_parser("eval", help="validation loss and perplexity of a checkpoint",
                       description="Mean cross-entropy per token (nats) and perplexity of a trained model "
                                   "over every window of a corpus split.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    e.add_argument("--ckpt", default="out", help="checkpoint file, or the folder `tinylm train --out` wrote")
    e.add_argument("--corpus", default=None, help="corpus to score (default: the one the model was trained on)")
    e.add_argument("--split", choices=["val", "train", "all"], default="val",
                   help="which part of the corpus (val/train use the training run's --val-fraction)")
    e.add_argument("--batch-size", type=int, default=32, help="windows per batch")
    e.add_argument("--block-size", type=int, default=None, help="window length (default: the model's)")
    add_device_argument(e)
    e.set_defaults(run=run_eval)


def run_generate(args):
    if args.max_new_tokens < 0 or args.num_samples < 1:
        raise ValueError("--max-new-tokens must be >= 0 and --num-samples >= 1")
    model, tokenizer, _ = load_lm(args.ckpt, get_device(args.device))
    random.manual_seed(args.seed)
    texts = sample_text(model, tokenizer, args.prompt, args.max_new_tokens, args.temperature, args.top_k,
                        args.top_p, args.num_samples)
    for i, text in enumerate(texts):
        if len(texts) > 1:
            print(f"--- sample {i + 1}")
        print(text)
    return 0


def run_eval(args):
    model, tokenizer, meta = load_lm(args.ckpt, get_device(args.device))
    model_block = meta["config"].get("block_size")
    T = args.block_size or model_block or 64
    if model_block is not None and T > model_block:
        raise ValueError(f"--block-size {T} is larger than the model's block size {model_block}")
    if T < 1 or args.batch_size < 1:
        raise ValueError("--block-size and --batch-size must be at least 1")
    corpus = args.corpus or meta.get("corpus", "builtin")
    text = load_corpus(None if corpus == "builtin" else corpus)
    if args.split == "all":
        ids = np.asarray(tokenizer.encode(text), dtype=np.int64)
    else:
        train_ids, val_ids = encode_corpus(tokenizer, text, meta.get("val_fraction", 0.1))
        ids = val_ids if args.split == "val" else train_ids
    loss = evaluate_loss(model, ids, args.batch_size, T)
    print(f"{args.split} loss {loss:.4f} nats/token, perplexity {perplexity(loss):.2f} "
          f"({len(ids):,} tokens of {corpus}, windows of {T})")
    return 0
