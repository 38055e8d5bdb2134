"""The fused kernels of the registry (softmax, cross-entropy, layernorm,
attention, LSTM/GRU cells, embedding, GELU, Adam, matmul) for CudaArrays.

tinylm's ops ask `kernels_for(x)` for a table and call `K.softmax_forward(x)`
whatever the device. For a CudaArray, this table unwraps the arguments to
C-contiguous numba device arrays (the layout the CUDA kernels take, as the
CPU ones do), runs the kernel's cuda version and wraps the device arrays it
returns. A kernel without a cuda version raises NotImplementedError naming
it (kernels.registry.lookup), never runs on the host.
"""
import math

import numpy as np

from .array import CudaArray, _full


def _unwrap(a):
    if isinstance(a, CudaArray):
        return a.contiguous().dev
    if isinstance(a, np.ndarray) and a.ndim > 0:
        from ..device import mixed_devices
        raise mixed_devices()
    return a


def _wrap(out):
    if isinstance(out, tuple):
        return tuple(_wrap(o) for o in out)
    return CudaArray(out) if hasattr(out, "copy_to_host") else out


class CudaKernels:
    """kernels.backend('cuda') for CudaArrays: K.name(*args) -> CudaArrays."""

    def __getattr__(self, name):
        import inspect

        import kernels
        fn = kernels.registry.lookup(name, "cuda")
        # index checks (embedding ids, cross-entropy targets) are recorded on the
        # device and raised at the next copy to the host: no sync per call
        target = fn
        if hasattr(fn, "target"):  # kernels.validate.lazy_cuda: the wrapper it calls
            import importlib
            module, attr = fn.target
            target = getattr(importlib.import_module(f"kernels.cuda.{module}"), attr)
        extra = {"check": "defer"} if "check" in inspect.signature(target).parameters else {}

        def run(*args, **kwargs):
            out = fn(*[_unwrap(a) for a in args],
                     **{k: _unwrap(v) for k, v in kwargs.items()}, **extra)
            return _wrap(out)
        run.__name__ = name
        setattr(self, name, run)  # looked up once per name
        return run


TABLE = CudaKernels()


def matmul(a, b):
    """np.matmul for CudaArrays: 1-D operands and broadcast batch dims as
    NumPy, on the tiled CUDA matmul kernel."""
    from .numpy_api import _check_operands
    _check_operands([a, b])
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: operands need at least 1 dim")
    dt = np.result_type(a.dtype, b.dtype)
    if dt.kind != "f":
        raise NotImplementedError(f"matmul of {dt} arrays has no cuda implementation in tinylm")
    a, b = a.astype(dt, copy=False), b.astype(dt, copy=False)
    a2 = a.reshape(1, -1) if a.ndim == 1 else a
    b2 = b.reshape(-1, 1) if b.ndim == 1 else b
    (M, K), (K2, N) = a2.shape[-2:], b2.shape[-2:]
    if K != K2:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} don't line up: {K} != {K2}")
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    if b2.ndim == 2:  # every row of a against one b: one tall product
        rows = a2.contiguous().reshape(math.prod(a2.shape[:-1]), K)  # (-1 fails when K is 0)
        c = TABLE.matmul_forward(rows, b2, False) if rows.size and b2.size else \
            _full((rows.shape[0], N), 0, dt)
        c = c.reshape(batch + (M, N))
    else:
        nb = math.prod(batch)
        A = np.broadcast_to(a2, batch + (M, K)).contiguous().reshape(nb, M, K)
        B = np.broadcast_to(b2, batch + (K, N)).contiguous().reshape(nb, K, N)
        c = TABLE.matmul_forward(A, B, False) if A.size and B.size else \
            _full((A.shape[0], M, N), 0, dt)
        c = c.reshape(batch + (M, N))
    if a.ndim == 1:
        c = c.squeeze(-2)
    if b.ndim == 1:
        c = c.squeeze(-1)
    return c
