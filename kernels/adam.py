"""One fused Adam / AdamW parameter update, in place.

Shapes: param, grad, exp_avg, exp_avg_sq (and max_exp_avg_sq with amsgrad)
all have param's shape (any); the kernels see them flattened to (n,). For
step t (1-based, already incremented), elementwise:
    g = -grad if maximize else grad
    Adam  (weight_decay != 0):  g = g + weight_decay * param          (L2 penalty in the gradient)
    AdamW (weight_decay != 0):  param = param * (1 - lr * weight_decay)   (decoupled decay)
    exp_avg    = exp_avg + (g - exp_avg) * (1 - beta1)                 (torch's lerp_)
    exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) * g * g
    amsgrad:     max_exp_avg_sq = maximum(max_exp_avg_sq, exp_avg_sq), used below for exp_avg_sq
    denom = sqrt(exp_avg_sq) / sqrt(1 - beta2^t) + eps
    param = param - lr / (1 - beta1^t) * exp_avg / denom
Must match one step of torch.optim.Adam / AdamW(foreach=False), i.e.
torch/optim/adam.py _single_tensor_adam; weight_decay adds to the already
negated gradient when maximize is set, as there.

adam_step_reference computes in float64 and is the specification that the
tests compare against. The CPU kernel also repeats torch's float32
arithmetic operation by operation: the bias corrections and step size are
Python floats rounded once to the param dtype (as torch rounds a Python
scalar for a float32 tensor); lerp_, addcmul_ and add(alpha=) round a*b + c
once (torch's loops use fused multiply-add there); every other operation
rounds on its own, in torch's order. It then agrees with torch bit for bit,
except that torch's float32 sqrt on CPU comes from MKL and is 1 ulp off for
some inputs, which moves param by a few ulps. The CUDA twin is in
kernels/cuda/adam.py.
"""
import numbers

import numpy as np
from numba import types
from numba.core.extending import intrinsic

from .jit import precise_cpu_kernel
from .registry import Kernel, register
from .validate import FLOATS, lazy_cuda

NAME = "adam_step"

# ---- reference ---------------------------------------------------------------


def adam_step_reference(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1,
                        beta2, eps, weight_decay, decoupled, amsgrad, maximize):
    """New arrays (param, exp_avg, exp_avg_sq, max_exp_avg_sq or empty); inputs untouched."""
    p, g = param.astype(np.float64), grad.astype(np.float64)
    m, v = exp_avg.astype(np.float64), exp_avg_sq.astype(np.float64)
    if maximize:
        g = -g
    if weight_decay != 0:
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
    m = m + (g - m) * (1 - beta1)
    v = v * beta2 + (1 - beta2) * g * g
    vmax = np.maximum(max_exp_avg_sq.astype(np.float64), v) if amsgrad else np.empty(0)
    denom = np.sqrt(vmax if amsgrad else v) / (1 - beta2 ** step) ** 0.5 + eps
    p = p - lr / (1 - beta1 ** step) * m / denom
    return tuple(a.astype(param.dtype) for a in (p, m, v, vmax))


# ---- Numba CPU kernel ----------------------------------------------------------


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c with one rounding (llvm.fma, a vector instruction on AVX2/AVX-512)."""
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)
    return a(a, b, c), codegen


# precise_cpu_kernel, not cpu_kernel: fast-math's `arcp` would turn the division
# by bc2_sqrt into a multiply by its reciprocal and `contract` would fuse
# multiply-adds that torch rounds twice; either changes the last bit.
@precise_cpu_kernel
def _adam_step(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad,
               w1, beta2, w2, neg_step_size, bc2_sqrt, eps, l2, decay, amsgrad, maximize):
    # All arrays are (n,), max_exp_avg_sq (0,) without amsgrad. Scalars come in
    # the arrays' dtype: w1 = 1 - beta1, w2 = 1 - beta2, neg_step_size =
    # -lr / (1 - beta1^t), bc2_sqrt = sqrt(1 - beta2^t); l2 is Adam's weight decay
    # (0 for none or AdamW), decay AdamW's factor 1 - lr * weight_decay (1 for none or Adam).
    # The flags are loop-invariant: LLVM hoists the tests out of the loop and vectorises.
    small = abs(w1) < 0.5                  # torch's lerp picks its formula by the weight
    w1_minus_1 = w1 - np.float32(1)        # exact for w1 in [0.5, 1]
    for i in range(param.size):
        p, m = param[i], exp_avg[i]
        g = -grad[i] if maximize else grad[i]
        if l2 != 0:
            g = _fma(l2, p, g)             # torch: grad.add(param, alpha=weight_decay)
        if decay != 1:
            p = p * decay                  # torch: param.mul_(1 - lr * weight_decay)
        # lerp(m, g, w) = m + w (g - m), written from whichever end is nearer
        m = _fma(w1, g - m, m) if small else _fma(w1_minus_1, g - m, g)
        # torch: exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        v = _fma(w2 * g, g, exp_avg_sq[i] * beta2)
        exp_avg[i], exp_avg_sq[i] = m, v
        if amsgrad:
            vmax = max_exp_avg_sq[i]
            if v > vmax or v != v:         # NaN propagates, as in torch.maximum
                vmax = v
            max_exp_avg_sq[i] = vmax
            v = vmax
        denom = np.sqrt(v) / bc2_sqrt + eps
        param[i] = p + neg_step_size * m / denom  # torch: addcdiv_(m, denom, value=-step_size)


# ---- wrapper -------------------------------------------------------------------


def kernel_scalars(name, dtype, step, lr, beta1, beta2, eps, weight_decay, decoupled):
    """The kernel's scalar arguments after _adam_step's arrays, checked like
    torch.optim.Adam's constructor: computed in Python floats as torch does,
    then rounded once to `dtype` (shared with the CUDA wrapper)."""
    if isinstance(step, bool) or not isinstance(step, numbers.Real) or step < 1:
        raise ValueError(f"{name}: step must be a number >= 1 (steps count from 1), got {step!r}")
    for what, value, lo, hi in (("lr", lr, 0, np.inf), ("eps", eps, 0, np.inf),
                                ("beta1", beta1, 0, 1), ("beta2", beta2, 0, 1),
                                ("weight_decay", weight_decay, 0, np.inf)):
        if not isinstance(value, numbers.Real) or not lo <= value < hi:
            raise ValueError(f"{name}: {what} must be a number in [{lo}, {hi}), got {value!r}")
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    step_size = lr / bias_correction1
    l2 = weight_decay if weight_decay != 0 and not decoupled else 0.0
    decay = 1 - lr * weight_decay if weight_decay != 0 and decoupled else 1.0
    T = np.dtype(dtype).type
    return tuple(T(s) for s in (1 - beta1, beta2, 1 - beta2, -step_size, bias_correction2 ** 0.5,
                                eps, l2, decay))


def _check_arrays(name, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, amsgrad):
    """[param, exp_avg, exp_avg_sq (, max_exp_avg_sq with amsgrad)], checked."""
    if not isinstance(param, np.ndarray) or param.dtype not in FLOATS:
        raise TypeError(f"{name}: param must be a float32 or float64 numpy.ndarray, got "
                        f"{getattr(param, 'dtype', type(param).__name__)}")
    if amsgrad and max_exp_avg_sq is None:
        raise ValueError(f"{name}: amsgrad=True needs a max_exp_avg_sq array, got None")
    named = {"param": param, "grad": grad, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}
    if amsgrad:
        named["max_exp_avg_sq"] = max_exp_avg_sq
    for what, a in named.items():
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{name}: {what} must be a numpy.ndarray, got {type(a).__name__}")
        if a.shape != param.shape or a.dtype != param.dtype:
            raise ValueError(f"{name}: {what} has shape {a.shape} and dtype {a.dtype}, expected "
                             f"param's {param.shape} and {param.dtype}")
        if what != "grad" and not a.flags.writeable:
            raise ValueError(f"{name}: {what} is updated in place and must be writeable")
    return [a for what, a in named.items() if what != "grad"]


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
              weight_decay, decoupled, amsgrad, maximize):
    """Updates param, exp_avg, exp_avg_sq (and max_exp_avg_sq with amsgrad) in
    place and returns them; the last is an empty array without amsgrad."""
    state = _check_arrays(NAME, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, amsgrad)
    scalars = kernel_scalars(NAME, param.dtype, step, lr, beta1, beta2, eps, weight_decay,
                             decoupled)
    # A non-contiguous array is updated through a contiguous copy written back after.
    work = [np.ascontiguousarray(a) for a in state]
    if not amsgrad:
        work.append(np.empty(0, param.dtype))
    if param.size:
        flat = [a.reshape(-1) for a in work]
        _adam_step(*flat, np.ascontiguousarray(grad).reshape(-1), *scalars,
                   bool(amsgrad), bool(maximize))
    for a, w in zip(state, work):
        if w is not a:
            a[...] = w
    return tuple(state) if amsgrad else (*state, work[-1])


# ---- registry --------------------------------------------------------------------


def _example(rng, dtype, N, C):
    """A (N, C) parameter with a plausible optimizer state, and a random choice
    of the variant: Adam or AdamW, amsgrad, maximize, weight decay, and betas
    that take either branch of torch's lerp."""
    decoupled, amsgrad, maximize = (bool(b) for b in rng.integers(0, 2, 3))
    shape = (N, C)
    param, grad = rng.standard_normal(shape), rng.standard_normal(shape)
    exp_avg = 0.1 * rng.standard_normal(shape)
    exp_avg_sq = 0.01 * (rng.standard_normal(shape) ** 2 + 0.1)
    max_exp_avg_sq = exp_avg_sq * rng.uniform(0.5, 2.0, shape) if amsgrad else None
    arrays = [None if a is None else a.astype(dtype)
              for a in (param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq)]
    step = int(rng.integers(1, 30))
    lr = float(10 ** rng.uniform(-4, -1))
    beta1 = float(rng.choice([0.9, 0.5, 0.0]))
    beta2 = float(rng.choice([0.999, 0.99, 0.9]))
    eps = float(rng.choice([1e-8, 1e-6]))
    weight_decay = float(rng.choice([0.0, 0.01, 0.1]))
    return (*arrays, step, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize)


register(Kernel(NAME, adam_step_reference, adam_step, lazy_cuda("adam", NAME), _example,
                sizes={"N": (0, 40), "C": (1, 37)}, sim_sizes={"N": (0, 3), "C": (1, 5)},
                bench={"N": 1024, "C": 1024}))
