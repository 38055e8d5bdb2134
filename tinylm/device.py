"""Devices, named as PyTorch names them: tl.device('cpu') == 'cpu'.

A cpu tensor's data is a NumPy array; a cuda tensor's a tinylm.cuda.CudaArray
(a DeviceArray), whose `.device` says where it lives."""


class DeviceArray:
    """Base of the arrays that live off the host (tinylm.cuda.array.CudaArray);
    here so that Tensor can recognise them without importing numba.cuda."""
    device = None


class device:
    """Where a tensor's data lives: 'cpu', or 'cuda' / 'cuda:0' (one GPU)."""

    _known = ("cpu", "cuda")

    def __init__(self, spec="cpu"):
        if isinstance(spec, device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise TypeError(f"device: expected a string such as 'cpu', got {type(spec).__name__}")
        kind, _, index = spec.partition(":")
        if kind not in self._known:
            raise RuntimeError(f"device: unknown device type {kind!r}; expected one of {self._known}")
        self.type = kind
        self.index = int(index) if index else None

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        return f"device(type='{self.type}'" + ("" if self.index is None else f", index={self.index}") + ")"


CPU = device("cpu")


CUDA = device("cuda:0")


def check_device(spec):
    """Validate a device argument and return it as a device ('cuda' means
    cuda:0); asking for cuda where it is not available raises, saying why."""
    d = device(spec) if spec is not None else CPU
    if d.type == "cuda":
        if d.index not in (None, 0):
            raise RuntimeError(f"device {str(d)!r} is not available: tinylm uses one GPU, cuda:0")
        from . import cuda
        cuda.require()
        return CUDA
    return d


def mixed_devices(op=None):
    """PyTorch's error for an op whose tensors live on different devices."""
    prefix = f"{op}: e" if op else "E"
    return RuntimeError(f"{prefix}xpected all tensors to be on the same device, but found at least "
                        "two devices, cuda:0 and cpu! (move one with .to('cuda') or .cpu())")


def device_of(array):
    """The device of a tensor's data array."""
    return array.device if isinstance(array, DeviceArray) else CPU
