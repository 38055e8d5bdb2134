"""The skip mark of the tests that need the cuda device: Numba's CUDA
simulator (NUMBA_ENABLE_CUDASIM=1, the second process of `make test`) or a
real GPU. Elsewhere those tests skip, saying why."""
import pytest

from kernels.harness import simulator


def device_present():
    if simulator():
        return True
    try:
        from numba import cuda
        return cuda.is_available()
    except Exception:  # numba without numba-cuda, or a broken driver
        return False


on_device = pytest.mark.skipif(not device_present(), reason="needs NUMBA_ENABLE_CUDASIM=1 or a CUDA GPU")
