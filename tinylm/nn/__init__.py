"""tinylm.nn: modules and layers with PyTorch's names, arguments and semantics.

module.py      Module (parameters, state_dict, train/eval, hooks)
parameter.py   Parameter
containers.py  Sequential, ModuleList, ModuleDict
init.py        weight initialisation (nn.init)
functional/    the functional API, imported as F
"""
from . import functional, init
from .containers import ModuleDict, ModuleList, Sequential
from .module import Module
from .parameter import Parameter
from . import utils
from .layers import GELU, Dropout, Embedding, Identity, LayerNorm, Linear, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .loss import CrossEntropyLoss, MSELoss, NLLLoss
from .rnn import GRU, LSTM, GRUCell, LSTMCell, PeepholeLSTM
from .attention import MultiheadAttention

__all__ = ["functional", "init", "Module", "Parameter", "Sequential", "ModuleList", "ModuleDict"]
__all__ += ["utils", "Linear", "Embedding", "LayerNorm", "Dropout", "Identity", "ReLU", "GELU", "Tanh",
            "Sigmoid", "Softmax", "LogSoftmax", "CrossEntropyLoss", "NLLLoss", "MSELoss"]
__all__ += ["LSTM", "GRU", "LSTMCell", "GRUCell", "PeepholeLSTM"]
__all__ += ["MultiheadAttention"]
