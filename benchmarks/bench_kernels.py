"""Time every CPU kernel against NumPy and PyTorch in one process.

    python benchmarks/bench_kernels.py [kernel ...] [--repeats N]

For each kernel, at a fixed realistic float32 size (benchmarks/kernel_cases.py):
  reference  the kernel's NumPy specification (float64 accumulation)
  numpy      the same maths as plain float32 NumPy, as a NumPy user writes it
  numba      the Numba CPU kernel (what tinylm runs)
  torch      the PyTorch CPU equivalent, when torch is installed
    (pip install -e '.[bench]'; torch is never needed by tinylm itself)
Variants run round-robin, best of --repeats, so that a noisy shared machine
slows all of them alike. The last columns are speed-ups of numba over numpy
and over torch (> 1 means the kernel is faster).

Then the whole-step targets: an LSTM cell step with its GEMMs, forward and
backward (input 128, hidden 256, batch 32), against torch.nn.LSTMCell, and
the Numba GEMM against OpenBLAS at n = 512.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kernels  # noqa: E402
from kernel_cases import CASES  # noqa: E402

try:
    import torch
except ImportError:
    torch = None


def best_times(fns, repeats):
    """Best time of each callable, calling them round-robin `repeats` times."""
    for f in fns.values():
        f()  # compile and warm up
    best = {k: np.inf for k in fns}
    inner = {k: max(1, int(0.02 / max(_once(f), 1e-7))) for k, f in fns.items()}
    for _ in range(repeats):
        for k, f in fns.items():
            t0 = time.perf_counter()
            for _ in range(inner[k]):
                f()
            best[k] = min(best[k], (time.perf_counter() - t0) / inner[k])
    return best


def _once(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def kernel_table(names, repeats):
    rng = np.random.default_rng(0)
    print(f"{'kernel':22s} {'reference':>10s} {'numpy':>10s} {'numba':>10s} {'torch':>10s}"
          f" {'vs numpy':>9s} {'vs torch':>9s}   (microseconds per call)")
    for name in names:
        k = kernels.KERNELS[name]
        args, composite, torch_builder = CASES[name](rng)
        # (adam_step updates its arrays in place: repeated steps cost the same)
        fns = {"reference": lambda: k.reference(*args), "numba": lambda: k.cpu(*args)}
        if composite is not None:
            fns["numpy"] = composite
        if torch is not None and torch_builder is not None:
            fns["torch"] = torch_builder(torch)
        t = best_times(fns, repeats)
        cell = lambda key: f"{t[key] * 1e6:10.1f}" if key in t else f"{'-':>10s}"
        ratio = lambda key: f"{t[key] / t['numba']:8.2f}x" if key in t else f"{'-':>9s}"
        print(f"{name:22s} {cell('reference')} {cell('numpy')} {cell('numba')} {cell('torch')}"
              f" {ratio('numpy')} {ratio('torch')}")


def lstm_step_target(repeats):
    """gates = x W_ih^T + h W_hh^T + b, the fused cell, and every gradient."""
    rng = np.random.default_rng(0)
    B, I, H = 32, 128, 256
    x, h, c = (rng.standard_normal(s).astype(np.float32) for s in ((B, I), (B, H), (B, H)))
    w_ih, w_hh = (rng.standard_normal(s).astype(np.float32) * 0.05 for s in ((4 * H, I), (4 * H, H)))
    b = np.zeros(4 * H, np.float32)
    dh, dc = (rng.standard_normal((B, H)).astype(np.float32) for _ in range(2))
    K = kernels.backend("cpu")

    def ours():
        gates = x @ w_ih.T + h @ w_hh.T + b
        h2, c2, acts = K.lstm_cell_forward(gates, c)
        dgates, dc_prev = K.lstm_cell_backward(dh, dc, c, c2, acts)
        return dgates.T @ x, dgates.T @ h, dgates.sum(0), dgates @ w_ih, dgates @ w_hh, dc_prev

    fns = {"numba": ours}
    if torch is not None:
        cell = torch.nn.LSTMCell(I, H)
        xt, ht, ct = (torch.from_numpy(a) for a in (x, h, c))
        ht.requires_grad_(), ct.requires_grad_(), xt.requires_grad_()
        dht, dct = torch.from_numpy(dh), torch.from_numpy(dc)

        def theirs():
            h2, c2 = cell(xt, (ht, ct))
            torch.autograd.backward([h2, c2], [dht, dct])
        fns["torch"] = theirs
    t = best_times(fns, repeats)
    line = f"LSTM cell step fwd+bwd with GEMMs (B=32, in=128, H=256): numba+BLAS {t['numba'] * 1e6:.0f} us"
    if "torch" in t:
        line += f", torch.nn.LSTMCell {t['torch'] * 1e6:.0f} us, ratio {t['torch'] / t['numba']:.2f}x"
    print(line)


def gemm_target(repeats):
    if "gemm_numba" not in kernels.KERNELS:
        return
    rng = np.random.default_rng(0)
    gemm = kernels.KERNELS["gemm_numba"].cpu
    for n in (64, 128, 256, 512):
        a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
        t = best_times({"blas": lambda: a @ b.T, "numba": lambda: gemm(a, b, True)}, repeats)
        print(f"GEMM n={n:4d}: OpenBLAS {t['blas'] * 1e6:8.1f} us, Numba {t['numba'] * 1e6:8.1f} us, "
              f"Numba reaches {t['blas'] / t['numba']:.2f}x of OpenBLAS")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kernels", nargs="*")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    names = args.kernels or [n for n in CASES if n in kernels.KERNELS]
    print(f"numpy {np.__version__}, torch {torch.__version__ if torch else 'not installed'}, "
          f"{os.cpu_count()} cores")
    kernel_table(names, args.repeats)
    if not args.kernels:
        print()
        lstm_step_target(args.repeats)
        gemm_target(args.repeats)


if __name__ == "__main__":
    main()
