"""Which kernels run an op: tinylm asks here for the kernel table of the
device its data lives on, and never branches on the device inside an op.

    K = kernels_for(x)         # x: the array inside a tensor
    y = K.softmax_forward(x)

Set TINYLM_KERNELS=reference (or use `with kernels.use("reference"):`) to run
the whole engine on the kernels' NumPy references."""
import numpy as np

import kernels

_CPU = kernels.backend("cpu")


def kernels_for(array):
    """The kernel table for the device holding `array` (a NumPy array: CPU)."""
    if isinstance(array, np.ndarray):
        return _CPU
    raise TypeError(f"no kernels for arrays of type {type(array).__name__}")
