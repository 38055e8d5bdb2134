"""Matrix multiply with torch.matmul's rules: 1-D @ 1-D is a dot product,
a 1-D operand gains a dim for the product and loses it after, and leading
(batch) dims broadcast.

Backward for C = A @ B: dA = dC @ B^T and dB = A^T @ dC, then sum_to undoes
any batch broadcasting.

The 2-D and batched 3-D cases run on the matmul kernels (kernels/matmul.py:
BLAS or the Numba GEMM, whichever is faster for the shape); the rest
(1-D operands, broadcast batch dims) on np.matmul.
"""
import numpy as np

from ..autograd import Function, sum_to
from ..backend import kernels_for


def _kernel_layout(a, b):
    """True when the matmul kernels take (a, b) as they are: a (M, K) or
    (Bt, M, K), b (K, N) or (Bt, K, N) with the same Bt, floats."""
    if a.dtype.kind != "f" or a.ndim not in (2, 3):
        return False
    return b.ndim == 2 or (b.ndim == 3 and a.ndim == 3 and a.shape[0] == b.shape[0])


class MatMul(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        if _kernel_layout(a, b):
            return kernels_for(a).matmul_forward(a, b, False)
        return np.matmul(a, b)

    def backward(self, g):
        a, b = self.saved
        if _kernel_layout(a, b):
            return kernels_for(g).matmul_backward(g, a, b, False)
        # view 1-D operands as matrices: a (K,) -> (1, K), b (K,) -> (K, 1)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g = g.reshape(np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2]) + (a2.shape[-2], b2.shape[-1]))
        da = db = None
        if self.needs_input_grad[0]:
            da = sum_to(np.matmul(g, np.swapaxes(b2, -1, -2)), a2.shape).reshape(a.shape)
        if self.needs_input_grad[1]:
            db = sum_to(np.matmul(np.swapaxes(a2, -1, -2), g), b2.shape).reshape(b.shape)
        return da, db


def matmul(a, b):
    from .._tensor import Tensor
    if not isinstance(b, Tensor):
        b = Tensor(np.asarray(b))
    if not isinstance(a, Tensor):
        a = Tensor(np.asarray(a))
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"matmul: both arguments need at least 1 dim, got shapes {a.shape} and {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise RuntimeError(f"matmul: shapes {a.shape} and {b.shape} don't line up: {k_a} != {k_b}")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise RuntimeError(f"matmul: batch dims of {a.shape} and {b.shape} cannot be broadcast") from None
    if a.dtype != b.dtype:
        raise RuntimeError(f"matmul: expected both operands to have the same dtype, got {a.dtype} "
                           f"and {b.dtype}; convert one with .float() or .double()")
    return MatMul.apply(a, b)
