"""Parameter: a leaf Tensor that a Module registers as something to train.

As in PyTorch, assigning a Parameter to a Module attribute registers it
(`self.weight = Parameter(...)` puts it in `module.parameters()`), and a
Parameter requires grad unless told otherwise. Ops on a Parameter return
plain Tensors.
"""
import numpy as np

from .. import dtypes
from .._tensor import Tensor


class Parameter(Tensor):
    def __init__(self, data=None, requires_grad=True):
        if data is None:
            array = np.empty(0, dtypes.get_default_dtype())
        elif isinstance(data, Tensor):
            array = data.data  # shares memory, as torch.nn.Parameter(t) does
        else:
            array = np.asarray(data)
        super().__init__(array)
        self.requires_grad = requires_grad

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
