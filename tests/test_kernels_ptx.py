"""Every CUDA kernel compiles to PTX for sm_90 (H100/H200) without a GPU,
and its float32 variant contains no float64 instruction (an untyped Python
constant silently promotes a whole expression to float64)."""
import importlib
import pkgutil

import pytest

import kernels.cuda
from kernels.harness import simulator
from device_marks import F64_INSTRUCTION, nvvm_available

pytestmark = pytest.mark.skipif(simulator(), reason="the simulator cannot compile PTX")

MODULES = sorted(m.name for m in pkgutil.iter_modules(kernels.cuda.__path__)
                 if m.name not in kernels.cuda.HELPERS)


@pytest.mark.skipif(not nvvm_available(), reason="needs numba-cuda[cu12] (NVVM) to compile PTX")
@pytest.mark.parametrize("module", MODULES)
def test_cuda_kernels_compile_to_float32_ptx(module):
    from numba import cuda, float32
    mod = importlib.import_module(f"kernels.cuda.{module}")
    assert mod.PTX, f"kernels.cuda.{module} lists no kernels in PTX"
    for factory, signature in mod.PTX:
        ptx, _ = cuda.compile_ptx(factory(float32), signature, cc=(9, 0))
        f64 = F64_INSTRUCTION.findall(ptx)
        assert not f64, f"{module}.{factory.__name__}: float64 instructions in a float32 kernel: {f64[:3]}"
