"""Devices, named as PyTorch names them: tl.device('cpu') == 'cpu'."""


class device:
    """Where a tensor's data lives. Only 'cpu' is available so far."""

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


def check_device(spec):
    """Validate a device argument and return it as a device; tensors can only
    live on the CPU until the CUDA backend lands."""
    d = device(spec) if spec is not None else CPU
    if d.type != "cpu":
        raise RuntimeError(f"device {str(d)!r} is not available: this build of tinylm runs on the CPU only")
    return d
