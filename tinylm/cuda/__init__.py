"""tinylm.cuda: the cuda device, as torch.cuda.

    if tl.cuda.is_available():
        model.to("cuda")
    with tl.cuda.transfers.counting() as copies:   # host <-> device copies
        ...

A cuda tensor's data is a CudaArray (array.py) over a numba-cuda device
array; tinylm's ops run on it through NumPy's dispatch protocols
(numpy_api.py, indexing.py) and the fused kernels of the registry
(kernel_table.py). Nothing here imports numba.cuda until the device is
first asked for, so CPU-only programs never load it.

Under NUMBA_ENABLE_CUDASIM=1 (set before anything imports numba), Numba's
CUDA simulator stands in for a GPU: every kernel runs as Python threads,
slowly, which is how the tests check the device on machines without one.
"""
import functools


@functools.lru_cache(maxsize=1)
def _probe():
    """(available, reason): numba-cuda importable and a GPU (or the simulator) present."""
    try:
        from numba import cuda
    except ImportError as e:  # numba without its CUDA package
        return False, f"numba-cuda is not installed ({e})"
    try:
        if cuda.is_available():
            return True, ""
    except Exception as e:  # a broken driver install raises instead of returning False
        return False, f"numba-cuda could not initialise the driver ({e})"
    return False, "numba-cuda found no CUDA driver or NVIDIA GPU on this machine"


def is_available():
    """True when tensors can be put on 'cuda' (a GPU, or the simulator)."""
    return _probe()[0]


def simulated():
    """True under Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1)."""
    from numba import config
    return bool(config.ENABLE_CUDASIM)


def require():
    """Raise a RuntimeError saying why, unless the cuda device can be used."""
    ok, why = _probe()
    if not ok:
        raise RuntimeError(f"CUDA is not available: {why}. Run on device='cpu' (the default), "
                           "or set NUMBA_ENABLE_CUDASIM=1 to use Numba's CUDA simulator (slow)")


def device_count():
    return 1 if is_available() else 0


def synchronize():
    """Wait for every launched kernel to finish (for timing)."""
    require()
    from numba import cuda
    cuda.synchronize()


def get_device_name(device=None):
    require()
    from numba import cuda
    if simulated():
        return "Numba CUDA simulator"
    name = cuda.get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)


def manual_seed(seed):
    """Seed the cuda generator alone (tl.manual_seed seeds both)."""
    from .random import cuda_generator
    cuda_generator().manual_seed(seed)


class _Transfers:
    """tinylm.cuda.transfers: the host <-> device copy counter of
    kernels.cuda.transfers (snapshot, reset, counting), loaded on first use."""

    def __getattr__(self, name):
        from kernels.cuda import transfers
        return getattr(transfers, name)


transfers = _Transfers()


def get_rng_state():
    from .random import get_rng_state
    return get_rng_state()


def set_rng_state(state):
    from .random import set_rng_state
    set_rng_state(state)
