"""Running a registered kernel on a backend and comparing it with its
reference: shared by `python -m kernels.check` and tests/test_kernels.py."""
import os

import numpy as np

from .registry import KERNELS


def simulator():
    return os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def available_backends():
    """cpu always; cuda on a GPU or under the simulator (then alone: the
    simulator replaces the real CUDA target in that process)."""
    from numba import cuda
    if simulator():
        return ["cuda"]
    return ["cpu", "cuda"] if cuda.is_available() else ["cpu"]


def as_tuple(out):
    return out if isinstance(out, tuple) else (out,)


def run(kernel, backend, args, launch=None):
    """Outputs of `kernel` on `backend` as host arrays (a tuple)."""
    if backend == "cpu":
        # copies: in-place kernels (adam_step) must not change the caller's inputs
        args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        return tuple(np.asarray(o) for o in as_tuple(kernel.cpu(*args)))
    from numba import cuda

    from .cuda.transfers import to_device, to_host  # counted copies, as tinylm's
    dargs = [to_device(a) if isinstance(a, np.ndarray) else a for a in args]
    if launch is None and simulator():
        launch = kernel.sim_launch
    kw = {} if launch is None else {"launch": launch}
    out = as_tuple(kernel.cuda(*dargs, **kw))
    cuda.synchronize()
    return tuple(to_host(o) if hasattr(o, "copy_to_host") else np.asarray(o) for o in out)


def compare(kernel, expected, got, dtype):
    """(max abs error, max relative error, ok) of got against the reference."""
    rtol, atol = (kernel.rtol, kernel.atol) if np.dtype(dtype) == np.float32 else (1e-9, 1e-12)
    worst_abs = worst_rel = 0.0
    ok = len(expected) == len(got)
    for e, g in zip(expected, got):
        e, g = np.asarray(e), np.asarray(g)
        if e.shape != g.shape or e.dtype != g.dtype:
            return np.inf, np.inf, False
        if not e.size:
            continue
        e64, g64 = e.astype(np.float64), g.astype(np.float64)
        same_nan = np.isnan(e64) == np.isnan(g64)
        with np.errstate(all="ignore"):
            diff = np.where(np.isnan(e64) | (e64 == g64), 0.0, np.abs(e64 - g64))
            rel = diff / np.maximum(np.abs(e64), np.finfo(np.float64).tiny)
        worst_abs, worst_rel = max(worst_abs, diff.max()), max(worst_rel, rel.max())
        # an expected NaN that came back NaN is a match (diff is 0 there)
        ok &= bool(same_nan.all() and (diff <= atol + rtol * np.abs(np.nan_to_num(e64))).all())
    return worst_abs, worst_rel, ok


def kernels_named(names=None):
    names = sorted(KERNELS) if not names else names
    return [KERNELS[n] for n in names]
