"""Host <-> device copies, counted. Every copy between NumPy and the cuda
device in tinylm goes through to_device / to_host (never cuda.to_device or
.copy_to_host directly), so that a test can assert that a training step
copies nothing it should not:

    from kernels.cuda import transfers
    with transfers.counting() as copies:
        step()
    assert copies.d2h == 1          # the loss, read once

The counter is global to the process and thread-safe; snapshot() reads it,
reset() zeroes it, counting() measures a block (the counts since entry;
frozen on exit). Bytes are the logical size of the array copied
(size * itemsize). A kernel launch never copies: wrappers reject host
arrays, which numba would otherwise copy to the device and back at every
launch, and pass shapes, strides and scalars as kernel arguments."""
import contextlib
import threading
from dataclasses import dataclass

import numpy as np

_lock = threading.Lock()
_counts = {"h2d": 0, "d2h": 0, "h2d_bytes": 0, "d2h_bytes": 0}


@dataclass(frozen=True)
class Transfers:
    h2d: int = 0          # host-to-device copies
    d2h: int = 0          # device-to-host copies
    h2d_bytes: int = 0    # bytes copied to the device
    d2h_bytes: int = 0    # bytes copied to the host

    def __sub__(self, other):
        return Transfers(*(getattr(self, k) - getattr(other, k) for k in _counts))


def _count(direction, nbytes):
    with _lock:
        _counts[direction] += 1
        _counts[direction + "_bytes"] += int(nbytes)


def to_device(host_array):
    """A device copy of a host array (made C-contiguous first), counted."""
    from numba import cuda
    a = np.asarray(host_array, order="C")  # keeps 0-d arrays 0-d, unlike np.ascontiguousarray
    if a.dtype == object:
        raise TypeError("to_device: cannot copy an array of Python objects to the device")
    _count("h2d", a.nbytes)
    return cuda.to_device(a)


def to_host(device_array):
    """A NumPy copy of a device array, counted."""
    if not hasattr(device_array, "copy_to_host"):
        raise TypeError(f"to_host: expected a CUDA device array, got {type(device_array).__name__}")
    _count("d2h", device_array.size * np.dtype(device_array.dtype).itemsize)
    return device_array.copy_to_host()


def snapshot():
    """The counts since the process started (or the last reset)."""
    with _lock:
        return Transfers(**_counts)


def reset():
    with _lock:
        for k in _counts:
            _counts[k] = 0


class _Window:
    """The counts since a `counting()` block began; frozen when it ends."""

    def __init__(self):
        self._start, self._end = snapshot(), None

    def _now(self):
        return (self._end or snapshot()) - self._start

    def __getattr__(self, name):
        if name in _counts:
            return getattr(self._now(), name)
        raise AttributeError(name)

    def __repr__(self):
        return f"counting({self._now()})"


@contextlib.contextmanager
def counting():
    window = _Window()
    try:
        yield window
    finally:
        window._end = snapshot()
