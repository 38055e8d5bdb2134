"""Gradient clipping, as torch.nn.utils: clip_grad_norm_ and clip_grad_value_.

clip_grad_norm_ treats all gradients as one long vector g and scales it in
place so that its p-norm is at most max_norm:
    total = || (||g_1||_p, ||g_2||_p, ...) ||_p        (= ||g||_p)
    coef  = min(max_norm / (total + 1e-6), 1)           g_i *= coef
with PyTorch's formula exactly: the 1e-6 keeps the division finite and the
gradients are multiplied even when coef is 1. p = inf takes max |g|.
"""
import math
import types
import warnings

import numpy as np

from .. import dtypes
from .._tensor import Tensor
from ..backend import asarray


def _grads(parameters):
    """The .grad arrays of the parameters that have one (a single Tensor is a list of one)."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        was_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)  # a generator would be used up by a second pass
        if was_generator and not parameters:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.", stacklevel=3)
    return [p.grad.data for p in parameters if p.grad is not None]


def _vector_norm(x, p):
    """torch.linalg.vector_norm of a flat float64 array."""
    a = np.abs(x)  # (written with methods every array type has: it runs on cuda too)
    if p == math.inf:
        return a.max() if a.size else np.zeros_like(a, shape=())
    if p == -math.inf:
        return a.min() if a.size else np.full_like(a, math.inf, shape=())
    if p == 0:
        return (a != 0).sum().astype(np.float64)
    return (a ** p).sum() ** (1.0 / p)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale the gradients in place so that their joint p-norm is at most
    max_norm; returns that norm (before clipping) as a 0-d Tensor in the
    gradients' dtype. `foreach` is accepted for compatibility and ignored."""
    grads = _grads(parameters)
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not grads:
        return Tensor(np.array(0.0, dtypes.get_default_dtype()))
    dtype = np.result_type(*grads)
    # each gradient's norm, then the norm of those norms, as PyTorch does; in
    # float64, rounded once to the gradients' dtype
    norms = np.stack([_vector_norm(g.astype(np.float64).reshape(-1), norm_type) for g in grads])
    total = asarray(_vector_norm(norms, norm_type)).astype(dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
                           "so it cannot be clipped. To disable this error and scale the gradients by the "
                           "non-finite norm anyway, set `error_if_nonfinite=False`")
    coef = np.minimum(dtype.type(max_norm) / (total + dtype.type(1e-6)), dtype.type(1.0))  # in `dtype`
    for g in grads:
        g *= coef.astype(g.dtype)
    return Tensor(total)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient element into [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        np.clip(g, -clip_value, clip_value, out=g)
