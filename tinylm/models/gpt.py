"""GPT, written like nanoGPT's model.py (and with its parameter names, so a
state dict moves between the two): token + position embeddings, n_layer
pre-LayerNorm blocks of causal self-attention and an MLP, a final LayerNorm
and a language-model head tied to the token embedding.

    transformer.wte        Embedding(vocab_size, n_embd)   token embedding, shared with lm_head
    transformer.wpe        Embedding(block_size, n_embd)   position embedding
    transformer.h.{i}      Block: ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj
    transformer.ln_f       LayerNorm(n_embd)
    lm_head                Linear(n_embd, vocab_size, bias=False), weight IS transformer.wte.weight

Generation keeps a KV cache (KVCache below): the prompt runs once (prefill),
then each new token attends to the keys and values cached for every earlier
position, so a step costs O(T) instead of a full forward.
"""
import math
from dataclasses import dataclass

import numpy as np

from .. import autograd
from .._tensor import Tensor
from ..creation import arange
from .. import nn
from ..nn import functional as F
from ..optim import AdamW
from .generation import check_generate_args, generate_tokens, last_logits, on_device
from .gpt_decode import fused_forward, pack_weights


@dataclass
class GPTConfig:
    vocab_size: int         # number of token ids (65 for Shakespeare's characters, 50257 for GPT-2)
    block_size: int         # the longest context: position embeddings exist for 0..block_size-1
    n_layer: int            # transformer blocks
    n_head: int             # attention heads per block; n_embd must divide evenly among them
    n_embd: int             # width of the residual stream (C)
    dropout: float = 0.0    # on embeddings, attention weights and residual branches; 0 for pretraining
    bias: bool = True       # biases in Linear and LayerNorm layers (GPT-2 has them; False is a bit faster)

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GPTConfig: {name} must be an int >= 1, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"GPTConfig: n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig: dropout must be in [0, 1), got {self.dropout!r}")


class KVCache:
    """Keys and values of every layer for the positions seen so far, for generation.

    k, v: (n_layer, B, nh, block_size, hs) preallocated; positions 0..pos-1 are
    filled. A forward with kv_cache=cache takes only the new tokens, places them
    at positions pos, pos+1, ..., and advances pos. It runs under tl.no_grad():
    the cache holds plain arrays, so no gradient could flow through it."""

    def __init__(self, config, batch_size, dtype=np.float32, like=None):
        hs = config.n_embd // config.n_head
        shape = (config.n_layer, batch_size, config.n_head, config.block_size, hs)
        # like: an array of the model's, so that the cache lives on its device
        like = np.empty(0) if like is None else like
        self.k, self.v = np.zeros(shape, dtype, like=like), np.zeros(shape, dtype, like=like)
        self.pos = 0

    def update(self, layer, k, v):
        """Store the new k, v (B, nh, T, hs) of `layer`; returns all keys and values so far
        (B, nh, pos + T, hs) as Tensors (views of the buffers)."""
        end = self.pos + k.shape[2]
        self.k[layer, :, :, self.pos:end] = k.data
        self.v[layer, :, :, self.pos:end] = v.data
        return Tensor(self.k[layer, :, :, :end]), Tensor(self.v[layer, :, :, :end])

    def attention_kwargs(self, T):
        """The mask for T new queries at positions pos..pos+T-1 over keys 0..pos+T-1.
        Not is_causal=True in general: its mask is top-left aligned (query i sees
        keys 0..i), right only when the cache was empty."""
        if T == 1:
            return {}                                  # the newest query sees every key
        if self.pos == 0:
            return {"is_causal": True}                 # prefill: plain causal attention
        mask = np.tri(T, self.pos + T, self.pos, dtype=bool, like=self.k)
        return {"attn_mask": Tensor(mask)}  # (T, pos + T)


class CausalSelfAttention(nn.Module):

    def __init__(self, config):
        super().__init__()
        # key, query, value projections for all heads, in one matrix
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        # output projection
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)  # (F.sdpa applies it; kept for nanoGPT's layout)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head, self.n_embd, self.dropout = config.n_head, config.n_embd, config.dropout

    def forward(self, x, kv_cache=None, layer=0):
        B, T, C = x.size()  # batch size, sequence length, embedding dimensionality (n_embd)
        # query, key, values for all heads, then the head forward to be the batch dim
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        dropout_p = self.dropout if self.training else 0.0
        if kv_cache is None:
            # causal self-attention; self-attend: (B, nh, T, hs) x (B, nh, hs, T) -> (B, nh, T, T)
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        else:
            mask = kv_cache.attention_kwargs(T)
            k, v = kv_cache.update(layer, k, v)  # (B, nh, pos + T, hs)
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, **mask)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # re-assemble all head outputs side by side
        # output projection
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()  # exact (erf) GELU, as nanoGPT
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, kv_cache=None, layer=0):
        x = x + self.attn(self.ln_1(x), kv_cache, layer)  # pre-LN residual branches
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):

    def __init__(self, config):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"GPT: expected a GPTConfig, got {type(config).__name__}")
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # weight tying: one Parameter under two names (state_dict lists both keys, parameters()
        # yields it once, and its gradient sums the embedding's and the head's)
        self.transformer.wte.weight = self.lm_head.weight
        # init all weights, then the special scaled init of the residual projections (GPT-2 paper)
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def get_num_params(self, non_embedding=True):
        """The number of parameters; by default without the position embeddings (the token
        embedding counts, as it is also the head's weight)."""
        n_params = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n_params -= self.transformer.wpe.weight.numel()
        return n_params

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def _check_input(self, idx, targets, kv_cache):
        if not isinstance(idx, Tensor):
            raise TypeError(f"GPT: idx must be a tinylm Tensor of token ids, got {type(idx).__name__}")
        if not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"GPT: idx must hold integer token ids, got dtype {idx.dtype}")
        if idx.ndim != 2 or idx.shape[1] == 0:
            raise ValueError(f"GPT: idx must be (B, T) with T >= 1, got shape {tuple(idx.shape)}")
        t, start = idx.shape[1], 0 if kv_cache is None else kv_cache.pos
        if start + t > self.config.block_size:
            where = f"positions {start}..{start + t - 1} (cache holds {start})" if start else f"length {t}"
            raise ValueError(f"GPT: cannot forward sequence of {where}: longer than block_size "
                             f"{self.config.block_size}")
        if targets is not None:
            if not isinstance(targets, Tensor) or not np.issubdtype(targets.dtype, np.integer):
                raise TypeError("GPT: targets must be a tinylm Tensor of integer token ids")
            if tuple(targets.shape) != tuple(idx.shape):
                raise ValueError(f"GPT: targets shape {tuple(targets.shape)} must equal idx shape "
                                 f"{tuple(idx.shape)}")
        if kv_cache is not None:
            if autograd.is_grad_enabled():
                raise RuntimeError("GPT: a forward with kv_cache must run under tl.no_grad() "
                                   "(the cache holds plain arrays that carry no gradient)")
            if kv_cache.k.shape[1] != idx.shape[0]:
                raise ValueError(f"GPT: kv_cache was made for batch {kv_cache.k.shape[1]}, idx has "
                                 f"batch {idx.shape[0]}")

    def forward(self, idx, targets=None, kv_cache=None):
        """idx (B, T) int -> (logits, loss). With targets (B, T): logits (B, T, V) and the mean
        cross-entropy over positions whose target is not -1. Without: logits of the last
        position only (B, 1, V), loss None. kv_cache: see KVCache (generation only)."""
        self._check_input(idx, targets, kv_cache)
        b, t = idx.size()
        start = 0 if kv_cache is None else kv_cache.pos
        pos = arange(start, start + t, device=idx.device)  # (t,) absolute positions

        # forward the GPT model itself
        tok_emb = self.transformer.wte(idx)  # token embeddings of shape (b, t, n_embd)
        pos_emb = self.transformer.wpe(pos)  # position embeddings of shape (t, n_embd)
        x = self.transformer.drop(tok_emb + pos_emb)
        for layer, block in enumerate(self.transformer.h):
            x = block(x, kv_cache, layer)
        if kv_cache is not None:
            kv_cache.pos += t
        x = self.transformer.ln_f(x)

        if targets is not None:
            # if we are given some desired targets also calculate the loss
            logits = self.lm_head(x)  # (b, t, vocab_size)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        else:
            # inference-time mini-optimization: only forward the lm_head on the very last position
            logits = self.lm_head(x[:, -1:, :])  # (b, 1, vocab_size)
            loss = None
        return logits, loss

    def crop_block_size(self, block_size):
        """Model surgery: keep the first block_size position embeddings (to fine-tune or
        sample with a shorter context than the checkpoint was trained with)."""
        if not 1 <= block_size <= self.config.block_size:
            raise ValueError(f"crop_block_size: {block_size} must be in [1, {self.config.block_size}]")
        self.config.block_size = block_size
        wpe = self.transformer.wpe
        wpe.weight = nn.Parameter(Tensor(wpe.weight.data[:block_size].copy()))
        wpe.num_embeddings = block_size

    def configure_optimizers(self, weight_decay, learning_rate, betas, device_type=None):
        """AdamW with nanoGPT's two groups: weight decay on every parameter of 2 or more dims
        (matmul weights and embeddings), none on biases and LayerNorm weights."""
        param_dict = {pn: p for pn, p in self.named_parameters() if p.requires_grad}
        decay_params = [p for n, p in param_dict.items() if p.dim() >= 2]
        nodecay_params = [p for n, p in param_dict.items() if p.dim() < 2]
        optim_groups = [
            {"params": decay_params, "weight_decay": weight_decay},
            {"params": nodecay_params, "weight_decay": 0.0},
        ]
        return AdamW(optim_groups, lr=learning_rate, betas=betas)

    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, eos=None,
                 use_cache=True):
        """Continue each row of idx (B, T) by max_new_tokens sampled tokens -> (B, T + n)
        (see models/generation.py for the sampling options and eos). Call model.eval() first
        when the model has dropout.

        use_cache: the prompt runs once, then each step feeds only the newest token. Once the
        sequence is longer than block_size, every step instead runs the last block_size tokens
        from an empty cache (the window slides, so every position shifts and no cached key is
        valid): the same cost and the same result as use_cache=False, which crops the context
        to the last block_size tokens and runs the full forward at every step, as nanoGPT.
        The cached steps run on one fused kernel (models/gpt_decode.py) unless the weights are
        not float32/float64 NumPy arrays or dropout is active: then on forward(kv_cache=...)."""
        ids = check_generate_args(idx, max_new_tokens, temperature, top_k, top_p, eos,
                                  self.config.vocab_size)
        block_size = self.config.block_size
        seq = ids[:, :0]  # every token so far (B, L)
        weight = self.lm_head.weight
        cache = KVCache(self.config, ids.shape[0], weight.dtype, like=weight.data) if use_cache else None
        # the fused kernel (models/gpt_decode.py) runs every cached step when the weights allow
        weights = pack_weights(self) if use_cache else None

        def step(new):
            nonlocal seq
            seq = np.concatenate([seq, new], axis=1)
            if cache is None:
                return last_logits(self(on_device(seq[:, -block_size:], weight.device))[0])
            if cache.pos + new.shape[1] > block_size:
                cache.pos, new = 0, seq[:, -block_size:]  # window slid past block_size: refill from scratch
            if weights is not None:
                return fused_forward(cache, weights, new)
            return last_logits(self(on_device(new, weight.device), kv_cache=cache)[0])  # (B, V)

        with autograd.no_grad():
            return generate_tokens(step, ids, max_new_tokens, temperature, top_k, top_p, eos,
                                   device=weight.device)
