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

__all__ = ["functional", "init", "Module", "Parameter", "Sequential", "ModuleList", "ModuleDict"]
