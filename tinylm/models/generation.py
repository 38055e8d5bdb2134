"""Sampling and the generation loop that GPT, LSTMLM and GRULM share.

    sample_next(logits (B, V), temperature, top_k, top_p) -> ids (B,)
        temperature 0   greedy: the argmax of each row (top_k and top_p play no part)
        temperature t   logits / t, then
        top_k k         keep the k largest logits (and every logit tied with the k-th,
                        as nanoGPT's `logits[logits < v[:, [-1]]] = -inf` does)
        top_p p         nucleus: after top_k, keep the smallest set of the most likely
                        tokens whose probabilities sum to >= p (the most likely token is
                        always kept), as Hugging Face's TopPLogitsWarper
        then one draw per row from softmax(logits) with tinylm's seeded generator,
        so tl.manual_seed(s) repeats the samples.

    generate_tokens(step, idx, max_new_tokens, ...) -> idx (B, T + n)
        step(new_ids (B, t) int64) -> next-token logits (B, V): the model-specific part.
        It is called first with the whole prompt, then with each sampled column, and
        keeps whatever it needs between calls (a KV cache, an RNN state, the sequence).
        With eos: a row that has produced eos is finished and keeps getting eos; the
        loop stops early once every row is finished (so n <= max_new_tokens).

Sampling runs in float64 NumPy on the logits the model returns: it is a few
small arrays per token, and float64 keeps the top_p cumulative sums exact
enough that the kept set does not depend on summation order.
"""
import numbers

import numpy as np

from .. import random as _random
from .._tensor import Tensor


def check_generate_args(idx, max_new_tokens, temperature, top_k, top_p, eos, vocab_size=None):
    """Validate generate()'s arguments at the public entry point; returns idx as an int64 array (B, T)."""
    data = idx.cpu().data if isinstance(idx, Tensor) else np.asarray(idx)
    if data.ndim != 2:
        raise ValueError(f"generate: idx must be (B, T) token ids, got shape {data.shape}")
    if not np.issubdtype(data.dtype, np.integer):
        raise TypeError(f"generate: idx must hold integer token ids, got {data.dtype}")
    if data.shape[1] == 0:
        raise ValueError("generate: the prompt is empty (idx has T = 0); give at least one token")
    if vocab_size is not None and data.size and (data.min() < 0 or data.max() >= vocab_size):
        raise ValueError(f"generate: token ids must be in [0, {vocab_size}), got values in "
                         f"[{data.min()}, {data.max()}]")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, numbers.Integral) or max_new_tokens < 0:
        raise ValueError(f"generate: max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
    _check_sampling(temperature, top_k, top_p)
    if eos is not None and (isinstance(eos, bool) or not isinstance(eos, numbers.Integral)
                            or (vocab_size is not None and not 0 <= eos < vocab_size)):
        raise ValueError(f"generate: eos must be a token id in [0, {vocab_size}), got {eos!r}")
    return data.astype(np.int64)


def _check_sampling(temperature, top_k, top_p):
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not temperature >= 0:
        raise ValueError(f"temperature must be a number >= 0 (0 = greedy), got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 1):
        raise ValueError(f"top_k must be an int >= 1 or None, got {top_k!r}")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, numbers.Real)
                              or not 0 < top_p <= 1):
        raise ValueError(f"top_p must be a number in (0, 1] or None, got {top_p!r}")


def top_k_filter(logits, k):
    """Set every logit below the row's k-th largest to -inf (ties with the k-th stay). (B, V) -> (B, V)"""
    k = min(k, logits.shape[-1])
    kth = np.partition(logits, -k, axis=-1)[:, [-k]]  # (B, 1): the k-th largest
    return np.where(logits < kth, -np.inf, logits)


def top_p_filter(logits, p):
    """Nucleus filter: keep the most likely tokens until their probabilities sum to >= p. (B, V) -> (B, V)"""
    order = np.argsort(-logits, axis=-1, kind="stable")       # (B, V) most likely first
    sorted_logits = np.take_along_axis(logits, order, axis=-1)
    probs = _softmax(sorted_logits)
    before = np.cumsum(probs, axis=-1) - probs                # mass of the tokens ranked above each
    remove_sorted = before >= p
    remove_sorted[:, 0] = False                               # the top token always stays
    remove = np.empty_like(remove_sorted)
    np.put_along_axis(remove, order, remove_sorted, axis=-1)  # back to vocabulary order
    return np.where(remove, -np.inf, logits)


def _softmax(x):
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def sample_next(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    """One token id per row of logits (B, V) -> (B,) int64; see the module docstring."""
    _check_sampling(temperature, top_k, top_p)
    logits = np.asarray(logits.data if isinstance(logits, Tensor) else logits, dtype=np.float64)
    if logits.ndim != 2:
        raise ValueError(f"sample_next: logits must be (B, V), got shape {logits.shape}")
    if temperature == 0:
        return logits.argmax(axis=-1).astype(np.int64)
    logits = logits / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None and top_p < 1:
        logits = top_p_filter(logits, top_p)
    probs = _softmax(logits)                                  # (B, V)
    gen = _random.generator() if generator is None else generator
    u = gen.random(logits.shape[0])                           # (B,) one uniform per row
    cdf = np.cumsum(probs, axis=-1)
    # inverse-CDF sampling: the first index whose cumulative probability exceeds u * total; a
    # token of probability 0 (filtered out) never does, as its cdf equals its predecessor's.
    ids = (cdf <= (u * cdf[:, -1])[:, None]).sum(axis=-1)
    # u * total can round up to total: clamp to the last token that has any mass
    last = probs.shape[-1] - 1 - np.argmax(probs[:, ::-1] > 0, axis=-1)
    return np.minimum(ids, last).astype(np.int64)


def on_device(ids, device):
    """Host token ids (B, T) as a Tensor on the model's device (on cuda: one
    counted copy a step; the sampling loop stays on the host)."""
    t = Tensor(ids)
    return t if device.type == "cpu" else t.to(device)


def last_logits(logits):
    """The newest position's logits (B, V) on the host, where sampling runs:
    one counted copy of B * V numbers a step when the model is on cuda."""
    last = logits.data[:, -1, :]
    return last if isinstance(last, np.ndarray) else last.to_host()


def generate_tokens(step, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, eos=None,
                    generator=None, device=None):
    """The loop behind every model's generate(); idx (B, T) int64 array -> tinylm Tensor
    (B, T + n), on `device` (the model's) if given."""
    B = idx.shape[0]
    out = [idx]
    finished = np.zeros(B, dtype=bool)
    new = idx
    for _ in range(max_new_tokens):
        logits = step(new)                                    # (B, V) for the next position
        ids = sample_next(logits, temperature, top_k, top_p, generator)
        if eos is not None:
            ids = np.where(finished, eos, ids)                # finished rows keep emitting eos
            finished |= ids == eos
        new = ids[:, None]                                    # (B, 1)
        out.append(new)
        if eos is not None and finished.all():
            break
    result = Tensor(np.concatenate(out, axis=1))
    return result if device is None else result.to(device)
