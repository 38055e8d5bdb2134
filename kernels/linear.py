"""Linear layer products: y = x @ W.T + b and its backward, on matmul's GEMMs.

Shapes: x, dx (M, K) rows; W, dW (N, K) (torch's (out, in) layout); b, db
(N,) or None; y, dy (M, N).
    forward:   y = x @ W.T + b
    backward:  dx = dy @ W,  dW = dy.T @ x,  db = dy summed over the rows
References: *_reference below, matching torch.nn.functional.linear and its
gradients.

These are kernels/matmul.py's products (BLAS, or the Numba GEMM for small
ones, split over two threads when large) with the bias folded in: each
thread adds b to the rows it has just computed, and the thread computing dW,
which reads all of dy, sums db. As separate NumPy passes over y and dy they
took 3.7 ms of a 100 ms GPT-d128 training step. The CUDA twins are in
kernels/cuda/linear.py.
"""
import numpy as np

from .matmul import _backward, _forward, matmul_backward_reference
from .registry import Kernel, register
from .validate import lazy_cuda


def linear_forward_reference(x, w, b=None):
    y = x.astype(np.float64) @ w.astype(np.float64).T
    return (y if b is None else y + b).astype(x.dtype)


def linear_backward_reference(dy, x, w, bias):
    dx, dw = matmul_backward_reference(dy, x, w, True)
    return (dx, dw, dy.astype(np.float64).sum(axis=0).astype(dy.dtype)) if bias else (dx, dw)


def check_linear(name, x, w, b=None):
    """x (M, K), w (N, K), b (N,) or None, of one dtype (host or device arrays)."""
    if len(x.shape) != 2 or len(w.shape) != 2:
        raise ValueError(f"{name}: x and w must be 2-D (rows, features), got {tuple(x.shape)} "
                         f"and {tuple(w.shape)}")
    if b is not None and (tuple(b.shape) != (w.shape[0],) or b.dtype != w.dtype):
        raise ValueError(f"{name}: b must have shape ({w.shape[0]},) and dtype {w.dtype}, got "
                         f"{tuple(b.shape)} {b.dtype}")


def linear_forward(x, w, b=None):
    """y = x @ w.T + b for rows x (M, K), w (N, K), b (N,) or None."""
    check_linear("linear_forward", x, w, b)
    return _forward("linear_forward", x, w, True, None, bias=b)


def linear_backward(dy, x, w, bias):
    """(dx, dw), and db when bias, for y = linear_forward(x, w, b)."""
    check_linear("linear_backward", x, w)
    return _backward("linear_backward", dy, x, w, True, None, bias_grad=bool(bias))


# ---- registry ------------------------------------------------------------------


def _example_forward(rng, dtype, M, K, N, bias):
    """w scaled by 1/sqrt(K), as nn.Linear's, so y is about 1 in size."""
    x = rng.standard_normal((M, K)).astype(dtype)
    w = (rng.standard_normal((N, K)) / np.sqrt(max(K, 1))).astype(dtype)
    return x, w, rng.standard_normal(N).astype(dtype) if bias else None


def _example_backward(rng, dtype, M, K, N, bias):
    x, w, _ = _example_forward(rng, dtype, M, K, N, bias)
    # scaled so that dw and db, sums over M rows, are about 1 in size
    dy = (rng.standard_normal((M, N)) / np.sqrt(max(M, 1))).astype(dtype)
    return dy, x, w, bool(bias)


SIZES = {"M": (0, 40), "K": (0, 37), "N": (0, 110), "bias": (0, 1)}
SIM_SIZES = {"M": (0, 9), "K": (0, 9), "N": (0, 9), "bias": (0, 1)}
BENCH = {"M": 2048, "K": 128, "N": 512, "bias": 1}

for _name, _ref, _cpu, _ex in (
        ("linear_forward", linear_forward_reference, linear_forward, _example_forward),
        ("linear_backward", linear_backward_reference, linear_backward, _example_backward)):
    register(Kernel(_name, _ref, _cpu, lazy_cuda("linear", _name), _ex, SIZES, SIM_SIZES, BENCH,
                    rtol=1e-4, atol=1e-5))
