"""The skip mark of the tests that need the cuda device: Numba's CUDA
simulator (NUMBA_ENABLE_CUDASIM=1, the second process of `make test`) or a
real GPU. Elsewhere those tests skip, saying why."""
import re

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


def nvvm_available():
    """True when numba-cuda can compile PTX here (its cu12 extras bring NVVM)."""
    try:
        from numba import cuda, float32
        cuda.compile_ptx(lambda a: None, (float32[::1],), cc=(9, 0))
        return True
    except Exception:  # numba-cuda without its cu12 extras
        return False


# a PTX instruction on float64 values (a float32 kernel should have none)
F64_INSTRUCTION = re.compile(r"^\s*[a-z.0-9]*\.f64\b", re.M)
