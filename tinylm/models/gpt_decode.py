"""GPT generation on the fused kernel (kernels/gpt_decode.py): one call runs new
tokens through the whole model and fills the KV cache, with no autograd graph.

The autograd forward with a KVCache spends ~90 Python-level ops per generated
token: at batch 1, ~3 ms a step against ~0.1 ms of arithmetic. GPT.generate
therefore hands its KVCache and the weights, packed here into the kernel's
layout, to the kernel for every step (prefill, decode and the refill after
the window slides). The cache layout (L, B, nh, block, hs) is KVCache's, so
the two paths can take turns on one cache.
"""
import weakref

import numpy as np

import kernels

_K = kernels.backend("cpu")  # the Numba kernel, or its NumPy reference under TINYLM_KERNELS=reference


# model -> its packed per-layer weights: refilled by each pack_weights call (the weights may
# have changed since), reused so that each call copies ~3 MB instead of also paging in
# fresh memory (3.5 ms -> 0.5 ms for the benchmark's model). Two threads generating with
# one model at once would share them: harmless unless the weights change in between.
_buffers = weakref.WeakKeyDictionary()


def pack_weights(model):
    """The model's weights as the kernel's arguments (kernels.gpt_decode.WEIGHTS order), or
    None when the fused path cannot stand in for model.forward: weights that are not float32
    or float64 NumPy arrays of one dtype, or dropout that is active (training mode). The
    per-layer weights are stacked (L, ...), with zeros for absent biases."""
    tr, cfg = model.transformer, model.config
    if model.training and cfg.dropout > 0:
        return None
    params = [p.data for p in model.parameters()]
    dtype = params[0].dtype
    if dtype not in (np.float32, np.float64) or \
            not all(isinstance(a, np.ndarray) and a.dtype == dtype for a in params):
        return None
    layers = [(b.ln_1, b.attn.c_attn, b.attn.c_proj, b.ln_2, b.mlp.c_fc, b.mlp.c_proj) for b in tr.h]
    per_layer = []  # [ln_1.weight of every layer, ln_1.bias of every layer, c_attn.weight, ...]
    for i in range(6):
        mods = [layer[i] for layer in layers]
        per_layer.append([m.weight.data for m in mods])
        per_layer.append([np.zeros(m.weight.shape[0], dtype) if m.bias is None else m.bias.data
                          for m in mods])
    shapes = [(len(a),) + a[0].shape for a in per_layer]
    bufs = _buffers.get(model)
    if bufs is None or [b.shape for b in bufs] != shapes or bufs[0].dtype != dtype:
        bufs = _buffers[model] = [np.empty(shape, dtype) for shape in shapes]
    for buf, arrays in zip(bufs, per_layer):
        np.stack(arrays, out=buf)
    ln_f_b = np.zeros(cfg.n_embd, dtype) if tr.ln_f.bias is None else tr.ln_f.bias.data
    return (tr.wte.weight.data, tr.wpe.weight.data, *bufs, tr.ln_f.weight.data, ln_f_b)


def fused_forward(cache, weights, idx):
    """model(Tensor(idx), kv_cache=cache)'s last-position logits (B, V) from the kernel:
    idx (B, T) int array at positions cache.pos..; fills the cache and advances cache.pos."""
    logits, _, _ = _K.gpt_decode(cache.k, cache.v, idx, cache.pos, *weights)
    cache.pos += idx.shape[1]
    return logits
