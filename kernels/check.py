"""python -m kernels.check: every kernel on every available backend against
its NumPy reference, at realistic sizes, with timings.

Prints one row per (kernel, backend, dtype): the max absolute and relative
error and the time per call (best of a few), and exits non-zero if any
kernel disagrees with its reference. CUDA runs on a GPU, or under the
simulator with NUMBA_ENABLE_CUDASIM=1 (then at the small simulator sizes).
"""
import argparse
import sys
import time

import numpy as np

from . import KERNELS
from .harness import available_backends, as_tuple, compare, kernels_named, run, simulator


def best_time(fn, repeats):
    fn()  # compile / warm up
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kernels", nargs="*", help=f"kernel names (default: all of {len(KERNELS)})")
    parser.add_argument("--backend", choices=["cpu", "cuda"], action="append")
    parser.add_argument("--dtype", choices=["float32", "float64"], action="append")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    backends = args.backend or available_backends()
    dtypes = args.dtype or ["float32", "float64"]
    rng = np.random.default_rng(0)
    failures = 0
    print(f"{'kernel':28s} {'backend':7s} {'dtype':7s} {'max abs err':>11s} {'max rel err':>11s} "
          f"{'ref ms':>8s} {'kernel ms':>9s}  ok")
    for k in kernels_named(args.kernels):
        sizes = {d: hi for d, (lo, hi) in k.sim_sizes.items()} if simulator() else k.bench
        for backend in backends:
            if backend == "cuda" and k.cuda is None:
                continue
            for dtype in dtypes:
                inputs = k.example(rng, np.dtype(dtype), **sizes)
                expected = as_tuple(k.reference(*inputs))
                got = run(k, backend, inputs)
                err_abs, err_rel, ok = compare(k, expected, got, dtype)
                reps = 1 if simulator() else args.repeats
                t_ref = best_time(lambda: k.reference(*inputs), reps)
                t_k = best_time(lambda: run(k, backend, inputs), reps)
                failures += not ok
                print(f"{k.name:28s} {backend:7s} {dtype:7s} {err_abs:11.2e} {err_rel:11.2e} "
                      f"{t_ref * 1e3:8.3f} {t_k * 1e3:9.3f}  {'ok' if ok else 'MISMATCH'}")
    print(f"{failures} mismatches" if failures else "all kernels match their references")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
