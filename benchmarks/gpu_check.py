"""One script for a machine with an NVIDIA GPU: check and time every CUDA
kernel, then whole training steps on the cuda device.

    python benchmarks/gpu_check.py [--repeats N] [--no-pytest] [--no-training]

First the device tests (tests/test_cuda_*.py, test_kernels.py), which run
under the simulator in `make test`, run on the real GPU (a time limit of
--pytest-timeout seconds).

For each kernel with a CUDA version, at the realistic float32 sizes of
benchmarks/kernel_cases.py: run it on the GPU, compare with the NumPy
reference (max abs / rel error, ok or MISMATCH), and time it with CUDA events
against PyTorch's CUDA equivalent when torch with CUDA is importable. Then
compile every kernel to PTX for this GPU's compute capability. Exits non-zero
on any mismatch. Inputs are copied to the device once; times exclude copies.
Last, benchmarks/gpu_training.py: training steps of the four benchmark models
and a larger GPT on the GPU, tokens/s next to PyTorch CUDA, the host-device
copies of one step (expected: none) and the first step's loss against the CPU.
"""
import argparse
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kernel_cases  # noqa: E402
import kernels  # noqa: E402
from kernels.harness import as_tuple, compare  # noqa: E402


def cuda_time(fn, repeats):
    """Milliseconds per call, from CUDA events around `repeats` calls."""
    from numba import cuda
    fn()
    cuda.synchronize()
    start, end = cuda.event(), cuda.event()
    start.record()
    for _ in range(repeats):
        fn()
    end.record()
    end.synchronize()
    return cuda.event_elapsed_time(start, end) / repeats


def torch_time(fn, repeats, torch):
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / repeats


DEVICE_TESTS = ["tests/test_cuda_primitives.py", "tests/test_cuda_errors.py", "tests/test_cuda_random.py",
                "tests/test_cuda_ops.py", "tests/test_cuda_layers.py", "tests/test_cuda_device.py",
                "tests/test_kernels.py"]


def device_tests(timeout):
    """The device tests on this GPU; True if they passed."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tests = [t for t in DEVICE_TESTS if os.path.exists(os.path.join(root, t))]
    print(f"pytest on the GPU: {' '.join(tests)}", flush=True)
    t0 = time.perf_counter()
    try:
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
                             cwd=root, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"  stopped after {timeout} s (raise --pytest-timeout)")
        return False
    print("\n".join("  " + line for line in run.stdout.strip().splitlines()[-15:]))
    print(f"  {time.perf_counter() - t0:.0f} s", flush=True)
    return run.returncode == 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--no-pytest", action="store_true", help="skip the device tests")
    parser.add_argument("--pytest-timeout", type=int, default=300)
    parser.add_argument("--no-training", action="store_true", help="skip the training steps")
    parser.add_argument("--training-repeats", type=int, default=5)
    args = parser.parse_args(argv)
    from numba import cuda
    if not cuda.is_available():
        print("no CUDA GPU is available here; run this on a machine with one")
        return 2
    try:
        import torch
        torch = torch if torch.cuda.is_available() else None
    except ImportError:
        torch = None
    failures = 0
    if not args.no_pytest:
        failures += not device_tests(args.pytest_timeout)
    kernel_cases.DEVICE = "cuda"
    dev = cuda.get_current_device()
    print(f"GPU: {dev.name.decode() if isinstance(dev.name, bytes) else dev.name}, "
          f"compute capability {dev.compute_capability}; torch: {torch.__version__ if torch else 'none'}")
    print(f"{'kernel':22s} {'max abs':>9s} {'max rel':>9s} {'ours ms':>9s} {'torch ms':>9s} {'ratio':>7s}  ok")
    rng = np.random.default_rng(0)
    for name, case in kernel_cases.CASES.items():
        k = kernels.KERNELS.get(name)
        if k is None or k.cuda is None:
            continue
        host_args, _, torch_builder = case(rng)
        expected = as_tuple(k.reference(*host_args))
        dargs = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in host_args]
        out = as_tuple(k.cuda(*dargs))
        got = tuple(o.copy_to_host() if hasattr(o, "copy_to_host") else np.asarray(o) for o in out)
        if name == "adam_step":  # in place: compare the first step only
            dargs = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in host_args]
        err_abs, err_rel, ok = compare(k, expected, got, np.float32)
        failures += not ok
        ours = cuda_time(lambda: k.cuda(*dargs), args.repeats)
        theirs = torch_time(torch_builder(torch), args.repeats, torch) if torch and torch_builder else None
        ratio = f"{theirs / ours:6.2f}x" if theirs else f"{'-':>7s}"
        print(f"{name:22s} {err_abs:9.2e} {err_rel:9.2e} {ours:9.3f} "
              f"{(f'{theirs:9.3f}' if theirs else f'{chr(45):>9s}')} {ratio}  {'ok' if ok else 'MISMATCH'}")
    cc = dev.compute_capability
    print(f"\nPTX for sm_{cc[0]}{cc[1]}:")
    import importlib
    import pkgutil

    from numba import float32
    import kernels.cuda as kc
    for m in sorted(m.name for m in pkgutil.iter_modules(kc.__path__) if m.name not in kc.HELPERS):
        mod = importlib.import_module(f"kernels.cuda.{m}")
        for factory, signature in mod.PTX:
            cuda.compile_ptx(factory(float32), signature, cc=cc)
        print(f"  kernels.cuda.{m}: {len(mod.PTX)} kernels compile")
    if not args.no_training:
        import gpu_training
        print(flush=True)
        rows = gpu_training.run(list(gpu_training.bench.MODELS) + list(gpu_training.LARGE),
                                args.training_repeats, 3)
        failures += sum(1 for r in rows if r["h2d"] or r["d2h"] or r["loss_diff"] > 1e-4)
    print(f"{failures} failures" if failures else "all device tests pass, all CUDA kernels match their "
          "references, and training steps copy nothing")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
