"""The benchmark models written in PyTorch, for timing tinylm against (and for
benchmarks/compare_demo_torch.py). They have tinylm.models' parameter names,
so `load_tinylm_state(torch_model, tinylm_model)` gives both the same weights.
Only benchmarks import this file; tinylm never imports torch.

    TorchGPT(cfg)            nanoGPT's architecture: pre-LN blocks, exact GELU,
                             causal SDPA, lm_head tied to wte
    TorchRNNLM(cfg, "lstm")  encoder (Embedding) -> rnn (LSTM/GRU, batch_first) -> decoder (Linear)
    gpt_generate_kv(...)     a hand-written KV cache: prefill once, then one
                             token per step attending to the cached K, V
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_head, self.n_embd = cfg.n_head, cfg.n_embd
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.attn_dropout, self.resid_dropout = nn.Dropout(cfg.dropout), nn.Dropout(cfg.dropout)
        self.dropout = cfg.dropout

    def heads(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        return [t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v)]  # (B, nh, T, hs)

    def forward(self, x, cache=None):
        B, T, C = x.shape
        q, k, v = self.heads(x)
        if cache is None:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0,
                                               is_causal=True)
        else:  # cache = [K, V, filled]: (B, nh, block, hs) buffers
            K, V, n = cache
            K[:, :, n:n + T], V[:, :, n:n + T] = k, v
            cache[2] = n + T
            # a prefill (n == 0) is causal; a 1-token step sees every cached key
            y = F.scaled_dot_product_attention(q, K[:, :, :n + T], V[:, :, :n + T], is_causal=(n == 0 and T > 1))
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x, cache=None):
        x = x + self.attn(self.ln_1(x), cache)
        return x + self.mlp(self.ln_2(x))


class TorchGPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(cfg.vocab_size, cfg.n_embd), wpe=nn.Embedding(cfg.block_size, cfg.n_embd),
            drop=nn.Dropout(cfg.dropout), h=nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)]),
            ln_f=nn.LayerNorm(cfg.n_embd, bias=cfg.bias)))
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, idx, targets=None, caches=None, start=0):
        B, T = idx.shape
        tr = self.transformer
        x = tr.drop(tr.wte(idx) + tr.wpe(torch.arange(start, start + T, device=idx.device)))
        for i, block in enumerate(tr.h):
            x = block(x, None if caches is None else caches[i])
        x = tr.ln_f(x)
        if targets is None:
            return self.lm_head(x[:, [-1], :]), None
        logits = self.lm_head(x)
        return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)


class TorchRNNLM(nn.Module):
    def __init__(self, cfg, cell):
        super().__init__()
        self.encoder = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(cfg.n_embd, cfg.hidden_size, cfg.n_layer, batch_first=True,
                       dropout=cfg.dropout if cfg.n_layer > 1 else 0.0)
        self.drop = nn.Dropout(cfg.dropout)
        self.decoder = nn.Linear(cfg.hidden_size, cfg.vocab_size)
        if cfg.tie_weights:
            self.decoder.weight = self.encoder.weight

    def forward(self, idx, targets=None, state=None):
        out, state = self.rnn(self.drop(self.encoder(idx)), state)
        logits = self.decoder(self.drop(out))
        loss = None if targets is None else F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss, state


@torch.no_grad()
def gpt_generate_kv(model, idx, max_new_tokens):
    """Greedy decoding with a KV cache (the prompt plus new tokens fit in block_size)."""
    cfg = model.cfg
    B, T = idx.shape
    assert T + max_new_tokens <= cfg.block_size, "gpt_generate_kv: prompt + new tokens exceed block_size"
    hs = cfg.n_embd // cfg.n_head
    caches = [[torch.empty(B, cfg.n_head, cfg.block_size, hs, device=idx.device),
               torch.empty(B, cfg.n_head, cfg.block_size, hs, device=idx.device), 0]
              for _ in range(cfg.n_layer)]
    logits, _ = model(idx, caches=caches)
    out = [idx]
    for t in range(max_new_tokens):
        nxt = logits[:, -1].argmax(-1, keepdim=True)  # (B, 1)
        out.append(nxt)
        if t + 1 < max_new_tokens:
            logits, _ = model(nxt, caches=caches, start=T + t)
    return torch.cat(out, dim=1)


def load_tinylm_state(torch_model, tinylm_model):
    """Copy tinylm's weights into the PyTorch model (same names and shapes)."""
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tinylm_model.state_dict().items()}
    missing, unexpected = torch_model.load_state_dict(state, strict=False)
    tied = ("lm_head.weight", "transformer.wte.weight", "decoder.weight", "encoder.weight")
    extra = [k for k in missing if k not in tied]
    if extra or unexpected:
        raise ValueError(f"weights do not match: missing {extra}, unexpected {unexpected}")
