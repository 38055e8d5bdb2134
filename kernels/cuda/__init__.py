"""CUDA twins of the CPU kernels, one module per family, imported on first
use (kernels.validate.lazy_cuda). Wrappers take and return numba device
arrays and accept `launch=(blocks, threads)`; kernels loop grid-stride.
Each module lists PTX = [(python function, float32 signature), ...] for the
sm_90 PTX check in tests/test_kernels_ptx.py."""

# Modules here that hold no kernel and list no PTX: shared pieces.
HELPERS = frozenset({"common", "layout", "transfers"})
