"""What `tinylm train`, `generate` and `eval` share: the tokenizer of a corpus,
a checkpoint's model and tokenizer, the validation loss and text samples.

A language-model checkpoint (out/ckpt.safetensors, written by tinylm.train)
stores in its `model_config` entry everything needed to rebuild the model
without the command line that trained it:
    {"kind": "gpt" | "lstm" | "gru", "config": {...the model config...},
     "tokenizer": "<the tokenizer's JSON>", "corpus": "<what it was trained on>",
     "val_fraction": 0.1}
"""
import json
import math
import os
import tempfile

import numpy as np

from .. import autograd
from .._tensor import Tensor
from ..data import sequential_windows, split_ids
from ..models import build_model
from ..nn import functional as F
from ..serialization import load
from ..tokenizers import ByteBPETokenizer, CharTokenizer, load_tokenizer

CHECKPOINT = "ckpt.safetensors"


def make_tokenizer(kind, text, vocab_size=None):
    if kind == "char":
        return CharTokenizer.from_text(text)
    if kind == "bpe":
        if not vocab_size or vocab_size < 257:
            raise ValueError(f"--vocab-size for a byte-level BPE must be at least 257 (256 bytes + merges), "
                             f"got {vocab_size}")
        tokenizer = ByteBPETokenizer()
        tokenizer.train(text, vocab_size)
        return tokenizer
    raise ValueError(f"unknown tokenizer {kind!r}: choose char or bpe")


def tokenizer_to_json(tokenizer):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "tokenizer.json")
        tokenizer.save(path)
        with open(path, encoding="utf-8") as f:
            return f.read()


def tokenizer_from_json(text):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "tokenizer.json")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return load_tokenizer(path)


def encode_corpus(tokenizer, text, val_fraction):
    """The corpus as token ids, split into (train, val) like nanoGPT: the last part is validation."""
    ids = np.asarray(tokenizer.encode(text), dtype=np.int64)
    return split_ids(ids, val_fraction)


def checkpoint_path(path):
    """A checkpoint file, or the training folder that holds ckpt.safetensors."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, CHECKPOINT)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path!r} (train one with `tinylm train --out DIR`)")
    return path


def add_device_argument(group):
    group.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                       help="where the model runs: cpu (default) or cuda (an NVIDIA GPU through numba-cuda)")


def get_device(name):
    """The device for --device, or a ValueError (a one-line CLI error) saying why
    cuda cannot be used here."""
    from ..device import check_device
    try:
        return check_device(name)
    except RuntimeError as e:
        raise ValueError(f"--device {name}: {e}") from None


def load_lm(path, device="cpu"):
    """(model in eval mode, tokenizer, meta) from a checkpoint written by `tinylm train`,
    on `device` (a checkpoint holds host arrays: it loads on either device)."""
    path = checkpoint_path(path)
    ckpt = load(path)
    meta = ckpt.get("model_config") if isinstance(ckpt, dict) else None
    if not isinstance(meta, dict) or "kind" not in meta or "tokenizer" not in meta:
        raise ValueError(f"{path} is not a language-model checkpoint written by `tinylm train` "
                         "(it has no model kind and tokenizer)")
    model = build_model(meta["kind"], meta["config"])
    model.load_state_dict(ckpt["model"])
    model.to(device)
    model.eval()
    return model, tokenizer_from_json(meta["tokenizer"]), meta


def evaluate_loss(model, ids, batch_size, block_size, max_batches=None):
    """Mean cross-entropy per token over consecutive (B, T) windows of ids (all of them, or
    the first max_batches batches), in eval mode without gradients."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    device = next(model.parameters()).device
    with autograd.no_grad():
        for i, (x, y) in enumerate(sequential_windows(ids, batch_size, block_size)):
            if max_batches is not None and i >= max_batches:
                break
            x, y = x.to(device), y.to(device)
            logits, _ = model(x, y)
            V = logits.shape[-1]
            total += float(F.cross_entropy(logits.view(-1, V), y.view(-1), reduction="sum").item())
            count += int(np.prod(y.shape))
    model.train(was_training)
    if count == 0:
        raise ValueError(f"no evaluation window: {len(ids)} tokens cannot fill one window of {block_size + 1}")
    return total / count


def perplexity(loss):
    return math.exp(min(loss, 700.0))


def sample_text(model, tokenizer, prompt, max_new_tokens, temperature=0.8, top_k=None, top_p=None,
                num_samples=1):
    """Text continuations of `prompt` (the prompt included), one string per sample."""
    ids = tokenizer.encode(prompt)
    if not ids:
        raise ValueError("the prompt is empty after tokenizing; give at least one character")
    idx = Tensor(np.tile(np.asarray(ids, dtype=np.int64), (num_samples, 1)))
    was_training = model.training
    model.eval()
    out = model.generate(idx, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p)
    model.train(was_training)
    data = out.data if isinstance(out, Tensor) else np.asarray(out)
    return [tokenizer.decode(row.tolist()) for row in data]


def default_prompt(tokenizer, text):
    """A newline when the vocabulary has one, else the corpus's first character."""
    for candidate in ("\n", text[:1]):
        try:
            if candidate and tokenizer.encode(candidate):
                return candidate
        except ValueError:
            continue
    raise ValueError("cannot find a prompt the tokenizer can encode")


def describe(meta):
    cfg = meta["config"]
    return f"{meta['kind']} " + json.dumps(cfg, separators=(", ", "="))[1:-1].replace('"', "")

