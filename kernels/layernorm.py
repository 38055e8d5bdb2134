"""LayerNorm over the last axis, forward and backward.

Shapes: x, y, dy, dx are (N, C) after the wrapper flattens leading dims;
weight, bias, dweight, dbias are (C,); mean and rstd are x.shape[:-1],
which is (N,) for a 2-D x.
    forward:   mean = sum(x) / C,  var = sum((x - mean)^2) / C   (biased)
               rstd = 1 / sqrt(var + eps),  xhat = (x - mean) * rstd
               y = xhat * weight + bias
    backward:  dxhat = dy * weight
               dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
               dweight = sum over rows of dy * xhat,  dbias = sum over rows of dy
weight and bias may be None (no affine part). layernorm_backward then still
returns dweight and dbias: the gradients a weight of ones and a bias of
zeros would get, so its outputs are always three arrays.
References: *_reference below, matching torch.nn.functional.layer_norm
(torch.native_layer_norm and its backward, which also return mean and
rstd); with C = 0, mean is 0 and rstd NaN, as in PyTorch.

Rows with a large mean and a small spread (1e4 + noise) lose every digit of
the spread in float32 if the variance is taken as E[x^2] - E[x]^2, and
three of them in x - mean once mean is rounded (its error is up to half an
ulp of 1e4, 5e-4). Both the reference and the kernels therefore shift each
row by its first value k before anything else: x - k is exact for such rows
(Sterbenz's lemma), and
    mean = k + d,  d = sum(x - k) / C,  x - mean = (x - k) - d
keeps the spread's digits. The CUDA twins are in kernels/cuda/layernorm.py.

From THREADED_SIZE elements the rows are split between two threads (the
backward's dweight and dbias as two partial sums, added in a fixed order).
"""
import math

import numpy as np

from .jit import cpu_kernel, in_halves
from .registry import Kernel, register
from .validate import as_float, lazy_cuda

THREADED_SIZE = 1 << 20  # elements from which two threads share the rows (a split costs ~0.1 ms)

# ---- references ------------------------------------------------------------


def layernorm_forward_reference(x, weight=None, bias=None, eps=1e-5):
    x64, C = x.astype(np.float64), x.shape[-1]
    if C == 0:
        nan = np.full(x.shape[:-1], np.nan, x.dtype)
        return x.copy(), np.zeros_like(nan), nan
    k = x64[..., :1]                        # (..., 1) shift: see the module docstring
    d = (x64 - k).mean(axis=-1, keepdims=True)
    xc = (x64 - k) - d                      # x - mean
    rstd = 1 / np.sqrt((xc * xc).mean(axis=-1, keepdims=True) + eps)
    y = xc * rstd
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y.astype(x.dtype), (k + d)[..., 0].astype(x.dtype), rstd[..., 0].astype(x.dtype)


def layernorm_backward_reference(dy, x, weight, mean, rstd):
    dy64, C = dy.astype(np.float64), x.shape[-1]
    r = rstd.astype(np.float64)[..., None]
    xhat = (x.astype(np.float64) - mean.astype(np.float64)[..., None]) * r
    dxhat = dy64 if weight is None else dy64 * weight
    cm = max(C, 1)                          # C = 0: empty rows, nothing to average
    dx = r * (dxhat - dxhat.sum(axis=-1, keepdims=True) / cm
              - xhat * (dxhat * xhat).sum(axis=-1, keepdims=True) / cm)
    rows = tuple(range(x.ndim - 1))
    return (dx.astype(x.dtype), (dy64 * xhat).sum(axis=rows).astype(x.dtype),
            dy64.sum(axis=rows).astype(x.dtype))


# ---- Numba CPU kernels -------------------------------------------------------


@cpu_kernel
def _layernorm_forward(y, mean, rstd, x, weight, bias, eps):
    N, C = x.shape
    t = x.dtype.type                        # float32 or float64, like the rows
    for n in range(N):
        row, out = x[n], y[n]
        # Stage x - k in the output row: written as one expression,
        # ((x - k) - d) would be reassociated by fast-math into x - (k + d),
        # which is the cancellation the shift exists to avoid.
        k = row[0]
        s = t(0)
        for c in range(C):
            out[c] = row[c] - k
            s += out[c]
        d = s / t(C)                        # mean - k
        v = t(0)
        for c in range(C):
            e = out[c] - d                  # x - mean
            v += e * e
        r = t(1) / np.sqrt(v / t(C) + eps)
        mean[n], rstd[n] = k + d, r
        for c in range(C):
            out[c] = (out[c] - d) * r * weight[c] + bias[c]


@cpu_kernel
def _layernorm_backward(dx, dweight, dbias, dy, x, weight, mean, rstd):
    # dweight, dbias: float64 (C,) zeros, accumulated over all N rows (a
    # float32 sum of N terms of either sign would keep too few digits).
    N, C = x.shape
    t = x.dtype.type
    for n in range(N):
        g, row, out = dy[n], x[n], dx[n]
        m, r = mean[n], rstd[n]
        s1 = t(0)                           # sum(dxhat)
        s2 = t(0)                           # sum(dxhat * xhat)
        for c in range(C):
            # dxhat is staged in the dx row so that both passes see the same
            # rounded value (recomputed, fast-math would fuse it into an FMA
            # and dxhat - mean(dxhat) would not cancel exactly when C = 1)
            out[c] = g[c] * weight[c]
            xhat = (row[c] - m) * r
            s1 += out[c]
            s2 += out[c] * xhat
            dweight[c] += g[c] * xhat
            dbias[c] += g[c]
        s1 /= t(C)
        s2 /= t(C)
        for c in range(C):
            out[c] = r * (out[c] - s1 - (row[c] - m) * r * s2)


def _rows(name, a, what="x"):
    """a checked and viewed as (N, C) rows; C may be 0 (np.reshape(-1, 0) fails)."""
    c = as_float(name, a, what)
    if a.ndim == 0:  # checked on a: as_float made it 1-d
        raise ValueError(f"{name}: {what} needs at least 1 dim, got a 0-d array")
    return c.reshape(math.prod(a.shape[:-1]), a.shape[-1])


def _like(name, a, what, shape, x):
    """a checked to have `shape` and x's dtype, C-contiguous."""
    c = as_float(name, a, what)  # np.ascontiguousarray makes a 0-d array 1-d: check a
    if a.shape != shape or a.dtype != x.dtype:
        raise ValueError(f"{name}: {what} must have shape {shape} and dtype {x.dtype} for x of "
                         f"shape {x.shape}, got {a.shape} {a.dtype}")
    return c


def layernorm_forward(x, weight=None, bias=None, eps=1e-5):
    name = "layernorm_forward"
    x2 = _rows(name, x)
    N, C = x2.shape
    w = np.ones(C, x2.dtype) if weight is None else _like(name, weight, "weight", (C,), x)
    b = np.zeros(C, x2.dtype) if bias is None else _like(name, bias, "bias", (C,), x)
    y, mean, rstd = np.empty_like(x2), np.zeros(N, x2.dtype), np.full(N, np.nan, x2.dtype)
    eps = x2.dtype.type(eps)
    if x2.size >= THREADED_SIZE:  # rows i..j-1 on each of two threads
        in_halves(lambda i, j: _layernorm_forward(y[i:j], mean[i:j], rstd[i:j], x2[i:j], w, b, eps), N)
    elif x2.size:
        _layernorm_forward(y, mean, rstd, x2, w, b, eps)
    lead = x.shape[:-1]
    return y.reshape(x.shape), mean.reshape(lead), rstd.reshape(lead)


def layernorm_backward(dy, x, weight, mean, rstd):
    name = "layernorm_backward"
    x2 = _rows(name, x)
    N, C = x2.shape
    dy2 = _like(name, dy, "dy", x.shape, x).reshape(N, C)
    w = np.ones(C, x2.dtype) if weight is None else _like(name, weight, "weight", (C,), x)
    m = _like(name, mean, "mean", x.shape[:-1], x).reshape(N)
    r = _like(name, rstd, "rstd", x.shape[:-1], x).reshape(N)
    dx, dweight, dbias = np.empty_like(x2), np.zeros((2, C)), np.zeros((2, C))
    if x2.size >= THREADED_SIZE:  # each thread sums its own rows' dweight and dbias
        def half(i, j):
            p = 0 if i == 0 else 1
            _layernorm_backward(dx[i:j], dweight[p], dbias[p], dy2[i:j], x2[i:j], w, m[i:j], r[i:j])
        in_halves(half, N)
    elif x2.size:
        _layernorm_backward(dx, dweight[0], dbias[0], dy2, x2, w, m, r)
    dweight, dbias = dweight[0] + dweight[1], dbias[0] + dbias[1]
    return dx.reshape(x.shape), dweight.astype(x2.dtype), dbias.astype(x2.dtype)


# ---- registry ------------------------------------------------------------------


def _example_forward(rng, dtype, N, C):
    """Random rows, a quarter of them 1e4 + noise (the cancellation case),
    with weight and bias each left out now and then."""
    x = rng.standard_normal((N, C)) * rng.choice([0.1, 1.0, 3.0])
    x[rng.random(N) < 0.25] += 1e4
    weight = rng.standard_normal(C).astype(dtype) if rng.random() < 0.75 else None
    bias = rng.standard_normal(C).astype(dtype) if rng.random() < 0.75 else None
    return x.astype(dtype), weight, bias, float(rng.choice([1e-5, 1e-3]))


def _example_backward(rng, dtype, N, C):
    x, weight, _, eps = _example_forward(rng, dtype, N, C)
    _, mean, rstd = layernorm_forward_reference(x, weight, None, eps)
    return rng.standard_normal((N, C)).astype(dtype), x, weight, mean, rstd


SIZES = {"N": (0, 40), "C": (1, 130)}
SIM_SIZES = {"N": (1, 5), "C": (1, 9)}
BENCH = {"N": 2048, "C": 128}

# float32 tolerances: the CPU kernels' worst error was 0.2x (forward) and 0.3x
# (backward) of rtol = atol = 1e-5. The GPU sums dweight and dbias over the N
# rows in float32 (the CPU in float64): emulating its order at N = 2048 gave
# errors up to 1.5x of atol = 1e-5 on sums near 0, hence atol = 1e-4 there.
for _name, _ref, _cpu, _ex, _atol in (
        ("layernorm_forward", layernorm_forward_reference, layernorm_forward,
         _example_forward, 1e-5),
        ("layernorm_backward", layernorm_backward_reference, layernorm_backward,
         _example_backward, 1e-4)):
    register(Kernel(_name, _ref, _cpu, lazy_cuda("layernorm", _name), _ex, SIZES, SIM_SIZES, BENCH,
                    rtol=1e-5, atol=_atol))
