"""CUDA fused Adam / AdamW update, in place, one grid-stride elementwise
kernel; see kernels/adam.py for the maths, the NumPy reference and how the
scalars are rounded (kernel_scalars, shared with the CPU wrapper).

Each thread updates elements i, i + gridsize, ... of the flattened (n,)
arrays. cuda.fma rounds a*b + c once where torch's kernels do (lerp_,
addcmul_, add(alpha=)); sqrt and division are IEEE-exact (no fast-math).
One difference from torch's separate kernels may remain: the PTX multiply
for AdamW's param * decay carries no rounding mode, so ptxas may fuse it
into the final add (at most an ulp of param)."""
import math

import numpy as np
from numba import boolean, cuda, float32

from ..adam import NAME, kernel_scalars
from ..jit import grid
from .common import NB_TYPES, per_dtype


def _step_factory(T):
    HALF, ONE, ZERO = T(0.5), T(1.0), T(0.0)

    def kernel(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad,
               w1, beta2, w2, neg_step_size, bc2_sqrt, eps, l2, decay, amsgrad, maximize):
        # Arrays (n,), max_exp_avg_sq (0,) without amsgrad; scalars as in
        # kernels/adam.py _adam_step (l2 = 0: no L2 term, decay = 1: no decoupled decay).
        small = abs(w1) < HALF
        w1_minus_1 = w1 - ONE
        for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
            p, m = param[i], exp_avg[i]
            g = -grad[i] if maximize else grad[i]
            if l2 != ZERO:
                g = cuda.fma(l2, p, g)
            if decay != ONE:
                p = p * decay
            m = cuda.fma(w1, g - m, m) if small else cuda.fma(w1_minus_1, g - m, g)
            v = cuda.fma(w2 * g, g, exp_avg_sq[i] * beta2)
            exp_avg[i] = m
            exp_avg_sq[i] = v
            if amsgrad:
                vmax = max_exp_avg_sq[i]
                if v > vmax or v != v:  # NaN propagates, as in torch.maximum (fmaxf would drop it)
                    vmax = v
                max_exp_avg_sq[i] = vmax
                v = vmax
            denom = math.sqrt(v) / bc2_sqrt + eps
            param[i] = p + neg_step_size * m / denom
    return kernel


_STEP = per_dtype(_step_factory)


def _check(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, amsgrad):
    named = {"param": param, "grad": grad, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}
    if amsgrad:
        if max_exp_avg_sq is None:
            raise ValueError(f"{NAME}: amsgrad=True needs a max_exp_avg_sq array, got None")
        named["max_exp_avg_sq"] = max_exp_avg_sq
    for what, a in named.items():
        if not hasattr(a, "copy_to_host"):  # a numba device array (real or simulated)
            raise TypeError(f"{NAME}: {what} must be a CUDA device array (numba.cuda.to_device)")
        if what == "param" and np.dtype(a.dtype) not in NB_TYPES:
            raise TypeError(f"{NAME}: param must be float32 or float64, got {a.dtype}")
        if a.shape != param.shape or a.dtype != param.dtype:
            raise ValueError(f"{NAME}: {what} has shape {a.shape} and dtype {a.dtype}, expected "
                             f"param's {param.shape} and {param.dtype}")
        if not a.is_c_contiguous():  # updated in place through a flat view
            raise ValueError(f"{NAME}: {what} must be C-contiguous")


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
              weight_decay, decoupled, amsgrad, maximize, launch=None):
    """Updates the device arrays param, exp_avg, exp_avg_sq (and max_exp_avg_sq
    with amsgrad) in place and returns them; the last is an empty device
    array without amsgrad."""
    _check(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, amsgrad)
    dtype = np.dtype(param.dtype)
    scalars = kernel_scalars(NAME, dtype, step, lr, beta1, beta2, eps, weight_decay, decoupled)
    if not amsgrad:
        max_exp_avg_sq = cuda.device_array(0, dtype)
    n = param.size
    if n:
        flat = [a.reshape(a.size) for a in (param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad)]
        blocks, threads = grid(n, launch)
        _STEP[dtype][blocks, threads](*flat, *scalars, bool(amsgrad), bool(maximize))
    return param, exp_avg, exp_avg_sq, max_exp_avg_sq


_FLAT = float32[::1]
PTX = [(_step_factory, (_FLAT,) * 5 + (float32,) * 8 + (boolean, boolean))]
