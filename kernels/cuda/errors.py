"""The device-side error register: index checks that cost no copy until
someone asks, as PyTorch's device-side asserts.

A kernel that validates indices (cross-entropy targets, embedding ids,
take/gather/index_add_/scatter_add_ indices) gets the register, a small
int64 device array

    reg = [code, value, limit, extra]

and a `code` naming the calling wrapper (CODES; 0: record nothing). The
first bad element to reach it claims the register with
cuda.atomic.cas(reg, CODE, 0, code) and, alone, writes the bad value, the
valid range and any extra: one writer, so the four slots always describe
one error. Later errors, from the same launch or any later one, find the
code slot taken and leave it alone: the register keeps the FIRST error
until it is read. (Which of several bad elements of one launch comes first
is up to the GPU; cross-entropy, whose check runs in one block, records
the lowest bad row, as the CPU kernel does.)

raise_if_set() reads the register with one counted device-to-host copy
(which waits for the queued kernels), and if it is set zeroes it on the
device (no upload) and raises the IndexError the wrapper would have raised,
e.g. "cross_entropy_forward: target 7 is out of bounds for 5 classes ...".

Every checking wrapper takes a keyword-only `check`:
  True     read the register after the launch and raise now (one copy and
           a wait per call; an earlier deferred error surfaces here too);
  "defer"  record only: no copy, no wait; call raise_if_set() later, e.g.
           once per training step when the loss is read;
  False    record nothing; a bad index reads 0 or is skipped, silently;
  None     the process-wide default: set_default_check(mode), or
           `with deferred():` (True until changed).

The register is created on first use with cuda.device_array and zeroed by
a kernel, so it never costs a host-to-device copy. It belongs to the CUDA
context that was current then (one per process, as tinylm uses one GPU)."""
import contextlib
import threading

import numpy as np
from numba import cuda, int64

from ..cross_entropy import bad_target_error
from ..embedding import bad_id_error
from ..jit import cuda_kernel
from .transfers import to_host

CODE, VALUE, LIMIT, EXTRA = range(4)   # the register's slots
SIZE = 4


def index_error(name, index, size):
    """movement.py's message for an index outside an axis."""
    return IndexError(f"{name}: index {index} is out of bounds for an axis of size {size}")


# code -> (the wrapper that records it, its error from (value, limit, extra)).
# Codes are stable small integers; 0 means "no error" and "record nothing".
KERNELS = {
    1: ("cross_entropy_forward", lambda v, n, extra: bad_target_error(
        "cross_entropy_forward", v, n, extra)),
    2: ("embedding_forward", lambda v, n, _: bad_id_error("embedding_forward", v, n)),
    3: ("embedding_backward", lambda v, n, _: bad_id_error("embedding_backward", v, n)),
    4: ("take", lambda v, n, _: index_error("take", v, n)),
    5: ("gather", lambda v, n, _: index_error("gather", v, n)),
    6: ("index_add_", lambda v, n, _: index_error("index_add_", v, n)),
    7: ("scatter_add_", lambda v, n, _: index_error("scatter_add_", v, n)),
}
CODES = {name: code for code, (name, _) in KERNELS.items()}


def error_for(code, value, limit, extra=0):
    """The IndexError that register contents [code, value, limit, extra] stand for."""
    try:
        _, build = KERNELS[code]
    except KeyError:
        raise RuntimeError(f"the CUDA error register holds unknown code {code} "
                           f"(value {value}, limit {limit}, extra {extra})") from None
    return build(value, limit, extra)


# -- check modes ----------------------------------------------------------------

_default = True


def _mode(check, what="check"):
    if isinstance(check, (bool, np.bool_)):
        return bool(check)
    if isinstance(check, str) and check == "defer":
        return "defer"
    raise ValueError(f"{what} must be True, False or 'defer', got {check!r}")


def set_default_check(check):
    """The mode of every wrapper called with check=None; returns the old one."""
    global _default
    old, _default = _default, _mode(check)
    return old


def default_check():
    return _default


def resolve(check):
    """True, False or "defer": the mode a wrapper called with `check` runs in."""
    return _default if check is None else _mode(check)


@contextlib.contextmanager
def deferred(check_at_exit=True):
    """Every wrapper called with check=None records its errors instead of
    reading them, inside the block. On a clean exit (check_at_exit) the
    register is read once and the first error recorded raises there."""
    old = set_default_check("defer")
    try:
        yield
    finally:
        set_default_check(old)
    if check_at_exit:
        raise_if_set()


def code_for(name, mode):
    """The code a kernel of wrapper `name` records under, 0 in mode False.
    A recording launch arms the register: the next raise_if_set reads it."""
    global _armed
    if mode:
        _armed = True
    return CODES[name] if mode else 0


# -- the register ----------------------------------------------------------------

def _clear_factory(T):
    def kernel(reg):
        # reg (SIZE,) int64 = 0; one thread
        if cuda.grid(1) == 0:
            for k in range(reg.shape[0]):
                reg[k] = 0
    return kernel


_CLEAR = cuda_kernel(_clear_factory(int64))
_lock = threading.Lock()
_register = None
_armed = False   # True when a launch may have recorded since the last read


def register():
    """The process-wide error register, created (zeroed on the device) on first use."""
    global _register
    with _lock:
        if _register is None:
            reg = cuda.device_array(SIZE, np.int64)
            _CLEAR[1, 1](reg)
            _register = reg
        return _register


def raise_if_set():
    """Read the register (one counted device-to-host copy, which waits for
    the GPU); if an error was recorded, clear the register on the device and
    raise it. Does nothing, and copies nothing, if no checking launch ran
    since the last read (so copying many arrays to the host after a step
    reads the register once, not once per array)."""
    global _armed
    reg = _register
    if reg is None or not _armed:
        return
    _armed = False
    code, value, limit, extra = (int(v) for v in to_host(reg))
    if code:
        _CLEAR[1, 1](reg)
        raise error_for(code, value, limit, extra)


def check_now(mode):
    """What a wrapper does after its launches: in mode True, raise_if_set()."""
    if mode is True:
        raise_if_set()


PTX = [(_clear_factory, (int64[::1],))]
