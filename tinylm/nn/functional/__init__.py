"""tinylm.nn.functional, imported as F: PyTorch's functional API.

activation.py: relu, gelu, sigmoid, tanh, softmax, log_softmax
layers.py:     linear, embedding, dropout, layer_norm
loss.py:       mse_loss, nll_loss, cross_entropy
attention.py:  scaled_dot_product_attention
rnn.py:        lstm_cell, gru_cell (one step of torch.nn.LSTMCell / GRUCell)
"""
from .activation import gelu, log_softmax, relu, sigmoid, softmax, tanh
from .attention import scaled_dot_product_attention
from .layers import dropout, embedding, layer_norm, linear
from .loss import cross_entropy, mse_loss, nll_loss
from .rnn import gru_cell, lstm_cell

__all__ = ["relu", "gelu", "sigmoid", "tanh", "softmax", "log_softmax", "linear", "embedding",
           "dropout", "layer_norm", "mse_loss", "nll_loss", "cross_entropy",
           "scaled_dot_product_attention", "lstm_cell", "gru_cell"]
