"""Elementwise ops: arithmetic with broadcasting, math functions, comparisons.

Each op is a Function with its forward and backward together. Binary ops
broadcast as NumPy does; their backward reduces each gradient back to its
operand's shape with autograd.sum_to, the one place that undoes broadcasting.
Gradients at kinks follow PyTorch: abs'(0) = relu'(0) = 0; clamp, maximum
and minimum, whose kinks need more care, are in clamp.py.
"""
import numpy as np

from .. import dtypes
from .._tensor import Tensor
from ..autograd import Function, sum_to
from ..backend import asarray, is_array


def as_operand(x, dtype):
    """A Tensor of `dtype` from a Tensor (cast differentiably), array or scalar."""
    if isinstance(x, Tensor):
        return x if x.dtype == dtype else x.to(dtype)
    if is_array(x):  # a raw array (NumPy or device) stays where it lives
        return Tensor(x.astype(dtype, copy=False))
    return Tensor(np.asarray(x, dtype=dtype))


def _raw(x):
    if isinstance(x, Tensor):
        return x.data
    if isinstance(x, (list, tuple)):
        return np.asarray(x)
    return x  # Python scalars stay scalars: they promote weakly


def binary(cls, a, b, floating=False):
    """Promote a and b as PyTorch does, then apply `cls` to the pair."""
    if (type(a) is Tensor and type(b) is Tensor and a.shape == b.shape and a.dtype == b.dtype
            and (a.dtype.kind == "f" or not floating)):
        return cls.apply(a, b)  # nothing to promote or check (a residual x + y)
    dtype = dtypes.result_type(_raw(a), _raw(b))
    if floating and not dtypes.is_floating(dtype):
        dtype = dtypes.get_default_dtype()
    a, b = as_operand(a, dtype), as_operand(b, dtype)
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{cls.__name__.lower()}: shapes {a.shape} and {b.shape} "
                         "cannot be broadcast together") from None
    return cls.apply(a, b)


def floating(x):
    """Unary math on an integer tensor computes in the default float dtype."""
    if not isinstance(x, Tensor):
        x = Tensor(np.asarray(x, dtype=dtypes.infer_dtype(x)))
    return x if x.is_floating_point() else x.to(dtypes.get_default_dtype())


class Cast(Function):
    def forward(self, x, dtype):
        self.in_dtype = x.dtype
        return x.astype(dtype)

    def backward(self, g):
        return g.astype(self.in_dtype)


class Clone(Function):
    def forward(self, x):
        return x.copy()

    def backward(self, g):
        return g


class Add(Function):
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, g):
        return sum_to(g, self.shapes[0]), sum_to(g, self.shapes[1])


class Sub(Function):
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a - b

    def backward(self, g):
        return sum_to(g, self.shapes[0]), sum_to(-g, self.shapes[1])


class Mul(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def backward(self, g):
        a, b = self.saved
        da = sum_to(g * b, a.shape) if self.needs_input_grad[0] else None
        db = sum_to(g * a, b.shape) if self.needs_input_grad[1] else None
        return da, db


class Div(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a / b

    def backward(self, g):
        a, b = self.saved
        da = sum_to(g / b, a.shape) if self.needs_input_grad[0] else None
        db = sum_to(-g * a / (b * b), b.shape) if self.needs_input_grad[1] else None
        return da, db


class Pow(Function):
    def forward(self, a, b):
        out = a ** b
        self.save_for_backward(a, b, out)
        return out

    def backward(self, g):
        a, b, out = self.saved
        da = db = None
        if self.needs_input_grad[0]:
            # PyTorch: the gradient is 0 where the exponent is 0, even at a = 0
            da = sum_to(np.where(b == 0, 0, g * b * a ** (b - 1)), a.shape)
        if self.needs_input_grad[1]:
            # d(a^b)/db = a^b log a, taken as 0 where a = 0 and b >= 0
            db = sum_to(np.where((a == 0) & (b >= 0), 0, g * out * np.log(a)), b.shape)
        return da, db


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, g):
        return -g


class Exp(Function):
    def forward(self, x):
        y = np.exp(x)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        return g * self.saved[0]


class Log(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return np.log(x)

    def backward(self, g):
        return g / self.saved[0]


class Sqrt(Function):
    def forward(self, x):
        y = np.sqrt(x)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        return g / (2 * self.saved[0])


class Abs(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return np.abs(x)

    def backward(self, g):
        return g * np.sign(self.saved[0])


class Tanh(Function):
    def forward(self, x):
        y = np.tanh(x)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        y = self.saved[0]
        return g * (1 - y * y)


class Sigmoid(Function):
    def forward(self, x):
        # exp(-x) overflows to inf for very negative x, giving exactly 0
        y = 1 / (1 + np.exp(-x))
        self.save_for_backward(y)
        return y

    def backward(self, g):
        y = self.saved[0]
        return g * y * (1 - y)


class Relu(Function):
    def forward(self, x):
        self.save_for_backward(~(x <= 0))  # NaN passes its gradient, as in PyTorch
        return np.maximum(x, 0)  # keeps NaN, as torch.relu does

    def backward(self, g):
        return g * self.saved[0]


class Sin(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return np.sin(x)

    def backward(self, g):
        return g * np.cos(self.saved[0])


class Cos(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return np.cos(x)

    def backward(self, g):
        return -g * np.sin(self.saved[0])


class Where(Function):
    def forward(self, cond, a, b):
        self.save_for_backward(cond)
        self.shapes = a.shape, b.shape
        return np.where(cond, a, b)

    def backward(self, g):
        cond = self.saved[0]
        zero = np.zeros((), dtype=g.dtype)
        return (None, sum_to(np.where(cond, g, zero), self.shapes[0]),
                sum_to(np.where(cond, zero, g), self.shapes[1]))


# ---- the functions behind tl.* and Tensor methods ---------------------------
def add(a, b, alpha=1):
    return binary(Add, a, b if alpha == 1 else mul(b, alpha))


def sub(a, b, alpha=1):
    return binary(Sub, a, b if alpha == 1 else mul(b, alpha))


def mul(a, b):
    return binary(Mul, a, b)


def div(a, b):
    return binary(Div, a, b, floating=True)


def pow(a, b):
    return binary(Pow, a, b)


def neg(x):
    return Neg.apply(x)


def _unary(cls):
    def op(x):
        return cls.apply(floating(x))
    op.__name__ = cls.__name__.lower()
    op.__doc__ = f"Elementwise {op.__name__}; integer inputs compute in the default float dtype."
    return op


exp, log, sqrt, tanh, sigmoid, sin, cos = map(_unary, (Exp, Log, Sqrt, Tanh, Sigmoid, Sin, Cos))


def abs(x):
    return Abs.apply(x)


def relu(x):
    return Relu.apply(x)


def where(condition, input, other):
    cond = condition.data if isinstance(condition, Tensor) else asarray(condition)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: condition must be a bool tensor, got {cond.dtype}")
    dtype = dtypes.result_type(_raw(input), _raw(other))
    a, b = as_operand(input, dtype), as_operand(other, dtype)
    try:
        np.broadcast_shapes(cond.shape, a.shape, b.shape)
    except ValueError:
        raise ValueError(f"where: condition {cond.shape}, input {a.shape} and other {b.shape} "
                         "cannot be broadcast together") from None
    return Where.apply(cond, a, b)


def masked_fill(x, mask, value):
    """x with `value` where `mask` is True; mask broadcasts to x's shape."""
    m = mask.data if isinstance(mask, Tensor) else asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"masked_fill: mask must be a bool tensor, got {m.dtype}")
    if np.broadcast_shapes(m.shape, x.shape) != x.shape:
        raise ValueError(f"masked_fill: mask of shape {m.shape} does not broadcast to {x.shape}")
    if isinstance(value, Tensor) and value.ndim != 0:
        raise ValueError(f"masked_fill: value must be a 0-d tensor or a number, got shape {value.shape}")
    return where(m, as_operand(value, x.dtype), x)


def clone(x):
    return Clone.apply(x)


def contiguous(x):
    return x if x.data.flags.c_contiguous else Clone.apply(x)
