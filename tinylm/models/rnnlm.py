"""Recurrent language models, LSTMLM and GRULM, laid out like PyTorch's
word_language_model example (so its state dicts load):

    encoder   Embedding(vocab_size, n_embd)
    drop      Dropout(dropout), on the embeddings and on the last layer's output
    rnn       LSTM or GRU(n_embd, hidden_size, n_layer, batch_first=True, dropout between layers)
    decoder   Linear(hidden_size, vocab_size); with tie_weights its weight IS encoder.weight

forward(idx, targets=None, state=None) -> (logits (B, T, V), loss), the same
(logits, loss) pair GPT returns, so one training loop serves both. Unlike GPT
the logits cover every position even without targets (the RNN computes them
all anyway).

Hidden state across windows (truncated backpropagation through time): after
each forward, model.last_state holds the final state, detached from the
graph: (h, c) for the LSTM, h for the GRU, each (n_layer, B, hidden_size).
Passing it as the next window's `state` continues the sequence, and the
gradient stops at the window boundary:

    state = None
    for x, y in consecutive_windows:          # x, y (B, T); row b continues row b
        logits, loss = model(x, y, state=state)
        loss.backward(); opt.step(); opt.zero_grad()
        state = model.last_state
With tinylm.train.train, the same is loss_fn=lambda m, b: m(*b, state=m.last_state)[1]
(after model.reset_state(), and with batches of one size).
"""
from dataclasses import dataclass

import numpy as np

from .. import autograd, nn
from .._tensor import Tensor
from ..nn import functional as F
from .generation import check_generate_args, generate_tokens, last_logits, on_device


@dataclass
class RNNLMConfig:
    vocab_size: int             # number of token ids
    n_embd: int = 128           # embedding width (the RNN's input size)
    hidden_size: int = 256      # RNN state width per layer
    n_layer: int = 2            # stacked RNN layers
    dropout: float = 0.0        # on embeddings, between RNN layers and on the RNN output
    tie_weights: bool = False   # decoder.weight = encoder.weight (Press & Wolf 2017); needs n_embd == hidden_size

    def __post_init__(self):
        for name in ("vocab_size", "n_embd", "hidden_size", "n_layer"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"RNNLMConfig: {name} must be an int >= 1, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"RNNLMConfig: dropout must be in [0, 1), got {self.dropout!r}")
        if self.tie_weights and self.n_embd != self.hidden_size:
            raise ValueError(f"RNNLMConfig: tie_weights needs n_embd == hidden_size (the decoder's weight is "
                             f"the embedding), got n_embd={self.n_embd}, hidden_size={self.hidden_size}")


class RNNLM(nn.Module):
    """What LSTMLM and GRULM share; a subclass names its recurrent layer in RNN."""
    RNN = None

    def __init__(self, config):
        super().__init__()
        if not isinstance(config, RNNLMConfig):
            raise TypeError(f"{type(self).__name__}: expected an RNNLMConfig, got {type(config).__name__}")
        self.config = config
        self.encoder = nn.Embedding(config.vocab_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        # between-layer dropout only exists with 2+ layers (torch warns otherwise)
        self.rnn = self.RNN(config.n_embd, config.hidden_size, config.n_layer, batch_first=True,
                            dropout=config.dropout if config.n_layer > 1 else 0.0)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)
        if config.tie_weights:
            self.decoder.weight = self.encoder.weight
        # word_language_model's init: U(-0.1, 0.1) for the embedding and the decoder, decoder bias 0;
        # the RNN keeps PyTorch's U(-1/sqrt(H), 1/sqrt(H))
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        self.last_state = None

    def reset_state(self):
        """Forget the carried state (the next window starts from zeros)."""
        self.last_state = None

    def forward(self, idx, targets=None, state=None):
        """idx (B, T) int -> (logits (B, T, V), loss or None); see the module docstring for state."""
        name = type(self).__name__
        if not isinstance(idx, Tensor) or not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"{name}: idx must be a tinylm Tensor of integer token ids, got "
                            f"{getattr(idx, 'dtype', type(idx).__name__)}")
        if idx.ndim != 2 or idx.shape[1] == 0:
            raise ValueError(f"{name}: idx must be (B, T) with T >= 1, got shape {tuple(idx.shape)}")
        if targets is not None and (not isinstance(targets, Tensor) or not np.issubdtype(targets.dtype, np.integer)):
            raise TypeError(f"{name}: targets must be a tinylm Tensor of integer token ids")
        if targets is not None and tuple(targets.shape) != tuple(idx.shape):
            raise ValueError(f"{name}: targets shape {tuple(targets.shape)} must equal idx shape "
                             f"{tuple(idx.shape)}")
        emb = self.drop(self.encoder(idx))        # (B, T, n_embd)
        output, state = self.rnn(emb, state)      # (B, T, H); state (n_layer, B, H) or a pair of them
        self.last_state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        logits = self.decoder(self.drop(output))  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss

    def get_num_params(self):
        return sum(p.numel() for p in self.parameters())

    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, eos=None,
                 use_cache=True):
        """Continue each row of idx (B, T) by max_new_tokens sampled tokens -> (B, T + n); the
        same options as GPT.generate (see models/generation.py). The prompt runs once, then
        each new token advances the carried state by one step. use_cache=False reruns the
        whole sequence at every step instead (a check; the result is the same). Call
        model.eval() first when the model has dropout. Leaves last_state at the end state."""
        ids = check_generate_args(idx, max_new_tokens, temperature, top_k, top_p, eos,
                                  self.config.vocab_size)
        seq, state = ids[:, :0], None
        device = self.decoder.weight.device

        def step(new):
            nonlocal seq, state
            seq = np.concatenate([seq, new], axis=1)
            if use_cache:
                logits, _ = self(on_device(new, device), state=state)
                state = self.last_state
            else:
                logits, _ = self(on_device(seq, device))
            return last_logits(logits)  # (B, V) on the host

        with autograd.no_grad():
            return generate_tokens(step, ids, max_new_tokens, temperature, top_k, top_p, eos,
                                   device=device)


class LSTMLM(RNNLM):
    """Language model on a multi-layer LSTM; state = (h, c), each (n_layer, B, hidden_size)."""
    RNN = nn.LSTM


class GRULM(RNNLM):
    """Language model on a multi-layer GRU; state = h (n_layer, B, hidden_size)."""
    RNN = nn.GRU
