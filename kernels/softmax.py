"""Softmax and log-softmax over the last axis, forward and backward.

Shapes: x, y, dy, dx are (N, C) after the wrapper flattens leading dims.
    softmax:      y = exp(x - m) / sum(exp(x - m)),  m = max(x)   (per row)
                  dx = y * (dy - sum(dy * y))
    log_softmax:  y = x - m - log(sum(exp(x - m)))
                  dx = dy - exp(y) * sum(dy)
References: *_reference below, matching torch.softmax / torch.log_softmax
(a row of all -inf gives NaN, as in PyTorch). The CPU kernels make two
passes over each row with the vectorisable fast_exp; the CUDA twins are in
kernels/cuda/softmax.py.
"""
import math

import numpy as np

from .fastmath import fast_exp
from .jit import cpu_kernel
from .registry import Kernel, register
from .validate import as_rows, lazy_cuda

# ---- references ------------------------------------------------------------


def softmax_forward_reference(x):
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=-1, keepdims=True)) if x.size else x64
    return (e / e.sum(axis=-1, keepdims=True)).astype(x.dtype)


def softmax_backward_reference(dy, y):
    dy64, y64 = dy.astype(np.float64), y.astype(np.float64)
    return (y64 * (dy64 - (dy64 * y64).sum(axis=-1, keepdims=True))).astype(y.dtype)


def log_softmax_forward_reference(x):
    x64 = x.astype(np.float64)
    if not x.size:
        return x.copy()
    z = x64 - x64.max(axis=-1, keepdims=True)
    return (z - np.log(np.exp(z).sum(axis=-1, keepdims=True))).astype(x.dtype)


def log_softmax_backward_reference(dy, y):
    dy64, y64 = dy.astype(np.float64), y.astype(np.float64)
    return (dy64 - np.exp(y64) * dy64.sum(axis=-1, keepdims=True)).astype(y.dtype)


# ---- Numba CPU kernels -------------------------------------------------------


@cpu_kernel
def _softmax_forward(y, x, log):
    N, C = x.shape
    for n in range(N):
        row, out = x[n], y[n]
        m = row[0]
        for c in range(1, C):
            m = max(m, row[c])
        s = np.float32(0)  # unifies to float64 for float64 rows
        if log:
            # store z = x - m first: with fast-math reassociation allowed,
            # (x - m) - log s written in one expression may be evaluated as
            # x - (m + log s), which rounds away small z when m is ~1e4
            for c in range(C):
                out[c] = row[c] - m
                s += fast_exp(out[c])
            log_s = math.log(s)
            for c in range(C):
                out[c] -= log_s
        else:
            for c in range(C):
                e = fast_exp(row[c] - m)
                out[c] = e
                s += e
            inv = 1 / s
            for c in range(C):
                out[c] *= inv


@cpu_kernel
def _softmax_backward(dx, dy, y, log):
    N, C = y.shape
    for n in range(N):
        g, p, d = dy[n], y[n], dx[n]
        s = np.float32(0)
        if log:
            for c in range(C):
                s += g[c]
            for c in range(C):
                d[c] = g[c] - fast_exp(p[c]) * s
        else:
            for c in range(C):
                s += g[c] * p[c]
            for c in range(C):
                d[c] = p[c] * (g[c] - s)


def _forward(x, log, name):
    x2 = as_rows(name, x)
    y = np.empty_like(x2)
    if x2.size:
        _softmax_forward(y, x2, log)
    return y.reshape(x.shape)


def _backward(dy, y, log, name):
    y2 = as_rows(name, y)
    dy2 = as_rows(name, dy, like=y2, what="dy")
    dx = np.empty_like(y2)
    if y2.size:
        _softmax_backward(dx, dy2, y2, log)
    return dx.reshape(y.shape)


def softmax_forward(x):
    return _forward(x, False, "softmax_forward")


def softmax_backward(dy, y):
    return _backward(dy, y, False, "softmax_backward")


def log_softmax_forward(x):
    return _forward(x, True, "log_softmax_forward")


def log_softmax_backward(dy, y):
    return _backward(dy, y, True, "log_softmax_backward")


# ---- registry ------------------------------------------------------------------


def _example_forward(rng, dtype, N, C):
    return ((rng.standard_normal((N, C)) * 3).astype(dtype),)


def _example_backward(rng, dtype, N, C, log=False):
    y = _example_forward(rng, np.float64, N, C)[0]
    y = log_softmax_forward_reference(y) if log else softmax_forward_reference(y)
    return rng.standard_normal((N, C)).astype(dtype), y.astype(dtype)


SIZES = {"N": (1, 40), "C": (1, 130)}
SIM_SIZES = {"N": (1, 5), "C": (1, 9)}
BENCH = {"N": 2048, "C": 96}

for _name, _ref, _cpu, _ex in (
        ("softmax_forward", softmax_forward_reference, softmax_forward, _example_forward),
        ("softmax_backward", softmax_backward_reference, softmax_backward, _example_backward),
        ("log_softmax_forward", log_softmax_forward_reference, log_softmax_forward, _example_forward),
        ("log_softmax_backward", log_softmax_backward_reference, log_softmax_backward,
         lambda rng, dtype, N, C: _example_backward(rng, dtype, N, C, log=True))):
    register(Kernel(_name, _ref, _cpu, lazy_cuda("softmax", _name), _ex, SIZES, SIM_SIZES, BENCH))
