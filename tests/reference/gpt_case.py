"""A tiny GPT in PyTorch, llm.c-style, for tests/test_gpt_reference.py
(imported by make_fixtures.py as the `gpt` group; needs torch).

The model below is nanoGPT's model.py, trimmed to what tinylm's GPT does
(same parameter names, pre-LN blocks, exact GELU, flash attention, tied
lm_head, N(0, 0.02) init with the scaled c_proj). For each case it writes
gpt_<name>.npz:
    meta               JSON: config, batch shape, optimizer settings, state_dict keys and
                       shapes (in order), parameters (named_parameters order), torch version
    param/<key>        the state dict (both keys of the tied weight)
    input/idx, input/targets   the batch (B, T) int64; a few targets are -1 (ignored)
    output/logits      (B, T, V) and output/loss (0-d) of forward(idx, targets)
    grad_param/<name>  d loss / d parameter, for every parameter (the tied one once)
    train/loss         (STEPS,) the loss before each AdamW step (nanoGPT's two groups,
                       clip_grad_norm_ 1.0, the same batch every step)
    train/grad_norm    (STEPS,) the total norm clip_grad_norm_ returned at each step
    final/<name>       every parameter after the STEPS steps

The LayerNorm parameters and biases are moved off their ones/zeros start (by
0.1 * N(0, 1)) so that a swapped weight and bias cannot go unnoticed.
"""
import json
import math

import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F

from make_fixtures import save_npz

STEPS = 10
OPTIM = dict(lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1, clip=1.0)
CASES = {
    "tiny": dict(vocab_size=37, block_size=16, n_layer=2, n_head=2, n_embd=16, dropout=0.0, bias=True),
    "tiny_nobias": dict(vocab_size=37, block_size=16, n_layer=2, n_head=2, n_embd=16, dropout=0.0, bias=False),
}
B, T = 2, 8


class CausalSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_attn = nn.Linear(c["n_embd"], 3 * c["n_embd"], bias=c["bias"])
        self.c_proj = nn.Linear(c["n_embd"], c["n_embd"], bias=c["bias"])
        self.n_head, self.n_embd = c["n_head"], c["n_embd"]

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = nn.Linear(c["n_embd"], 4 * c["n_embd"], bias=c["bias"])
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * c["n_embd"], c["n_embd"], bias=c["bias"])

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_1 = nn.LayerNorm(c["n_embd"], bias=c["bias"])
        self.attn = CausalSelfAttention(c)
        self.ln_2 = nn.LayerNorm(c["n_embd"], bias=c["bias"])
        self.mlp = MLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(c["vocab_size"], c["n_embd"]),
            wpe=nn.Embedding(c["block_size"], c["n_embd"]),
            drop=nn.Dropout(c["dropout"]),
            h=nn.ModuleList([Block(c) for _ in range(c["n_layer"])]),
            ln_f=nn.LayerNorm(c["n_embd"], bias=c["bias"]),
        ))
        self.lm_head = nn.Linear(c["n_embd"], c["vocab_size"], bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c["n_layer"]))

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets):
        pos = torch.arange(0, idx.size(1), dtype=torch.long)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss

    def configure_optimizers(self, weight_decay, learning_rate, betas):
        params = [(n, p) for n, p in self.named_parameters() if p.requires_grad]
        groups = [{"params": [p for _, p in params if p.dim() >= 2], "weight_decay": weight_decay},
                  {"params": [p for _, p in params if p.dim() < 2], "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas)


def write_case(out_dir, name, config):
    torch.manual_seed(1337 + len(name))
    model = GPT(config)
    with torch.no_grad():
        for pn, p in model.named_parameters():
            if p.dim() == 1:  # LayerNorm weights and biases off their ones / zeros
                p.add_(0.1 * torch.randn(p.shape))
    idx = torch.randint(0, config["vocab_size"], (B, T))
    targets = torch.randint(0, config["vocab_size"], (B, T))
    targets[0, 2] = targets[1, 5] = -1  # ignored positions
    state = model.state_dict()
    arrays = {f"param/{k}": v.numpy().copy() for k, v in state.items()}
    arrays["input/idx"], arrays["input/targets"] = idx.numpy(), targets.numpy()

    params = dict(model.named_parameters())
    opt = model.configure_optimizers(OPTIM["weight_decay"], OPTIM["lr"], OPTIM["betas"])
    losses, norms = [], []
    for step in range(STEPS):
        logits, loss = model(idx, targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if step == 0:
            arrays["output/logits"] = logits.detach().numpy().copy()
            arrays["output/loss"] = loss.detach().numpy().copy()
            for n, p in params.items():
                arrays[f"grad_param/{n}"] = p.grad.numpy().copy()
        norms.append(torch.nn.utils.clip_grad_norm_(model.parameters(), OPTIM["clip"]).item())
        opt.step()
        losses.append(loss.item())
    arrays["train/loss"] = np.array(losses, np.float32)
    arrays["train/grad_norm"] = np.array(norms, np.float32)
    for n, p in params.items():
        arrays[f"final/{n}"] = p.detach().numpy().copy()
    meta = dict(config=config, batch=[B, T], steps=STEPS, optim=OPTIM,
                state_dict=[[k, list(v.shape)] for k, v in state.items()], parameters=list(params),
                torch_version=torch.__version__)
    save_npz(out_dir / f"gpt_{name}.npz", {"meta": np.array(json.dumps(meta)), **arrays})


def write(out_dir):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same float32 summation order on every machine
    try:
        for name, config in CASES.items():
            write_case(out_dir, name, config)
    finally:
        torch.set_num_threads(threads)
    return len(CASES)


if __name__ == "__main__":
    import pathlib
    write(pathlib.Path(__file__).parent / "fixtures")
