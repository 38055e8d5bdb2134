"""Copies between devices: t.to("cuda"), t.cpu(), and the `move` that
Module.to, optimizers, checkpoints and creation functions use. The copies
themselves are CudaArray.from_host / to_host, counted by
kernels.cuda.transfers (tinylm.cuda.transfers)."""
from ..autograd import Function
from ..device import device_of


class ToDevice(Function):
    """t.to(device) across devices: a counted copy (tinylm.cuda.transfers);
    the gradient is copied back to where the input lives."""

    def forward(self, x, device):
        self.source = device_of(x)
        return move(x, device)

    def backward(self, g):
        return move(g, self.source)


def move(array, device):
    """`array` copied to `device` (a tinylm.device); itself if already there."""
    if device_of(array) == device:
        return array
    if device.type == "cuda":
        from ..cuda.array import CudaArray
        return CudaArray.from_host(array)
    return array.to_host()
