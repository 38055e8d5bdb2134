import os
import sys
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Examples are kept few and deadlines off: the machines are shared and slow,
# and every gradcheck example runs many forward/backward passes.
settings.register_profile("default", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True, scope="session")
def simulator_fixes():
    """Two fixes to Numba's CUDA simulator for the test process that runs
    under NUMBA_ENABLE_CUDASIM=1 (nothing changes elsewhere, or on a GPU):

    - FakeCUDAShared.array (numba-cuda 0.30) is not thread-safe: a block's
      threads each look a shared array up and create it when missing, so two
      of them can make their own, and a thread then writes its part of a
      reduction where the others never read it; they read np.empty's
      leftovers. A few percent of launches of a kernel with shared memory
      gave wrong sums that way (cross-entropy's denominator NaN, 5 of 100
      launches measured). Here the look-up and the creation are one step,
      under a lock. (The kernels themselves were checked clean: every launch
      re-run from the same inputs, simulated memory pre-filled with NaN.)
    - Its launcher polls the block's threads in a loop that holds the GIL;
      with Python's default 5 ms switch interval each launch waits for it. A
      0.1 ms interval makes simulated launches about 4x faster."""
    from kernels.harness import simulator
    if not simulator():
        yield
        return
    from numba.core import types
    from numba.cuda.simulator import kernelapi
    from numba.np import numpy_support
    old_interval, old_array = sys.getswitchinterval(), kernelapi.FakeCUDAShared.array
    lock = threading.Lock()

    def array(self, shape, dtype, alignment=None):
        if shape == 0 or alignment is not None:  # dynamic shared memory, or the simulator's error
            return old_array(self, shape, dtype, alignment)
        if isinstance(dtype, types.Type):
            dtype = numpy_support.as_dtype(dtype)
        caller = sys._getframe(1)  # one array per source line of the kernel, as the simulator keys them
        key = (caller.f_code.co_filename, caller.f_lineno)
        with lock:
            if key not in self._allocations:
                self._allocations[key] = np.empty(shape, dtype)
            return self._allocations[key]

    sys.setswitchinterval(1e-4)
    kernelapi.FakeCUDAShared.array = array
    try:
        yield
    finally:
        kernelapi.FakeCUDAShared.array = old_array
        sys.setswitchinterval(old_interval)


def pytest_configure(config):
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        # the simulator computes a kernel's IEEE inf and NaN (x / 0 where the
        # kernel means it) with NumPy scalars, which warn; a GPU does not
        config.addinivalue_line("filterwarnings", "ignore:.*encountered in scalar:RuntimeWarning")
