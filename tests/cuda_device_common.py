"""What the cuda device tests share (test_cuda_device.py, test_cuda_training.py):
the skip mark, the tiny models and their batch, and helpers that compare a
cuda result with the CPU's. (tests/conftest.py fixes the simulator.)"""

import numpy as np

import tinylm as tl
from tinylm.models import GPT, GRULM, LSTMLM, GPTConfig, RNNLMConfig
from device_marks import on_device  # noqa: F401  (the test files take it from here)


V, B, T = 11, 2, 4
RTOL, ATOL = 1e-5, 1e-6   # float32, cuda against cpu


def host(t):
    """A NumPy copy of t's values (on the cpu too: later in-place updates don't reach it)."""
    return t.detach().cpu().numpy().copy()


def close(a, b, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


MODELS = {
    "gpt": lambda: GPT(GPTConfig(block_size=T, vocab_size=V, n_layer=1, n_head=2, n_embd=8, dropout=0.0)),
    "lstm": lambda: LSTMLM(RNNLMConfig(vocab_size=V, n_embd=8, hidden_size=8, n_layer=1)),
    "gru": lambda: GRULM(RNNLMConfig(vocab_size=V, n_embd=8, hidden_size=8, n_layer=1)),
}


def batch(device):
    """(x, y) token ids (B, T) on `device`: y is a next-token target of x."""
    x = np.array([[1, 4, 2, 9], [0, 10, 3, 3]])
    y = np.array([[4, 2, 9, 5], [10, 3, 3, 7]])
    return tl.tensor(x, device=device), tl.tensor(y, device=device)
