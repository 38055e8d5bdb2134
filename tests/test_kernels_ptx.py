"""Every CUDA kernel compiles to PTX for sm_90 (H100/H200) without a GPU,
and its float32 variant contains no float64 instruction (an untyped Python
constant silently promotes a whole expression to float64)."""
import importlib
import pkgutil
import re

import pytest

import kernels.cuda
from kernels.harness import simulator

pytestmark = pytest.mark.skipif(simulator(), reason="the simulator cannot compile PTX")

MODULES = sorted(m.name for m in pkgutil.iter_modules(kernels.cuda.__path__)
                 if m.name not in kernels.cuda.HELPERS)
F64 = re.compile(r"^\s*[a-z.0-9]*\.f64\b", re.M)  # an instruction on float64 values


def _nvvm_available():
    try:
        from numba import cuda, float32
        cuda.compile_ptx(lambda a: None, (float32[::1],), cc=(9, 0))
        return True
    except Exception:  # numba-cuda without its cu12 extras
        return False


@pytest.mark.skipif(not _nvvm_available(), reason="needs numba-cuda[cu12] (NVVM) to compile PTX")
@pytest.mark.parametrize("module", MODULES)
def test_cuda_kernels_compile_to_float32_ptx(module):
    from numba import cuda, float32
    mod = importlib.import_module(f"kernels.cuda.{module}")
    assert mod.PTX, f"kernels.cuda.{module} lists no kernels in PTX"
    for factory, signature in mod.PTX:
        ptx, _ = cuda.compile_ptx(factory(float32), signature, cc=(9, 0))
        f64 = F64.findall(ptx)
        assert not f64, f"{module}.{factory.__name__}: float64 instructions in a float32 kernel: {f64[:3]}"
