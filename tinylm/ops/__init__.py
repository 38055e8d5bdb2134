"""Every op on tensors, and the one table that makes them Tensor methods.

Where a new op goes: elementwise math in pointwise.py (clamp, maximum and
minimum in clamp.py), device copies in transfer.py, comparisons and
logic in compare.py, reductions in
reduce.py, movement in shape.py, indexing in index.py, in-place writes in
inplace.py. Add it to _METHODS below to make it a method too.
"""
from .._tensor import Tensor
from .index import getitem, setitem
from .inplace import add_, clamp_, copy_, div_, fill_, mul_, normal_, sub_, uniform_, zero_
from .matmul import matmul
from .compare import (all, any, bitwise_and, bitwise_not, bitwise_or, eq, ge, gt, le,
                      logical_and, logical_not, logical_or, lt, ne)
from .clamp import clamp, clip, maximum, minimum
from .pointwise import (abs, add, clone, contiguous, cos, div, exp, log, masked_fill, mul, neg,
                        pow, relu, sigmoid, sin, sqrt, sub, tanh, where)
from .reduce import (amax, amin, argmax, argmin, logsumexp, max, mean, min, std, sum, var)
from .shape import (T, cat, chunk, expand, expand_as, flatten, movedim, permute, repeat,
                    repeat_interleave, reshape,
                    reshape_as, split, squeeze, stack, t, transpose, tril, triu, unsqueeze, view,
                    view_as)


def rsub(a, b):
    return sub(b, a)


def rdiv(a, b):
    return div(b, a)


def rpow(a, b):
    return pow(b, a)


def rmatmul(a, b):
    return matmul(b, a)


def _permute_method(x, *dims):
    return permute(x, *dims)


def _where_method(x, condition, other):
    """x.where(cond, y) is where(cond, x, y), as in PyTorch."""
    return where(condition, x, other)


def _softmax_method(x, dim, dtype=None):
    from ..nn.functional import softmax
    return softmax(x, dim, dtype)


def _log_softmax_method(x, dim, dtype=None):
    from ..nn.functional import log_softmax
    return log_softmax(x, dim, dtype)


_METHODS = {
    # operators
    "__add__": add, "__radd__": add, "__sub__": sub, "__rsub__": rsub,
    "__mul__": mul, "__rmul__": mul, "__truediv__": div, "__rtruediv__": rdiv,
    "__pow__": pow, "__rpow__": rpow, "__matmul__": matmul, "__rmatmul__": rmatmul,
    "__neg__": neg, "__abs__": abs, "__getitem__": getitem, "__setitem__": setitem,
    "__eq__": eq, "__ne__": ne, "__lt__": lt, "__le__": le, "__gt__": gt, "__ge__": ge,
    "__invert__": bitwise_not, "__and__": bitwise_and, "__or__": bitwise_or,
    "__iadd__": add_, "__isub__": sub_, "__imul__": mul_, "__itruediv__": div_,
    # math
    "add": add, "sub": sub, "mul": mul, "div": div, "pow": pow, "neg": neg, "matmul": matmul,
    "exp": exp, "log": log, "sqrt": sqrt, "abs": abs, "tanh": tanh, "sigmoid": sigmoid,
    "relu": relu, "sin": sin, "cos": cos, "clamp": clamp, "clip": clip, "maximum": maximum,
    "minimum": minimum, "where": _where_method, "softmax": _softmax_method,
    "log_softmax": _log_softmax_method, "masked_fill": masked_fill, "clone": clone, "contiguous": contiguous,
    "all": all, "any": any, "eq": eq, "ne": ne, "lt": lt, "le": le, "gt": gt, "ge": ge, "logical_not": logical_not,
    # reductions
    "sum": sum, "mean": mean, "var": var, "std": std, "max": max, "min": min, "amax": amax,
    "amin": amin, "argmax": argmax, "argmin": argmin, "logsumexp": logsumexp,
    # movement
    "reshape": reshape, "view": view, "permute": _permute_method, "transpose": transpose,
    "t": t, "unsqueeze": unsqueeze, "squeeze": squeeze, "flatten": flatten, "expand": expand,
    "expand_as": expand_as, "reshape_as": reshape_as, "view_as": view_as, "split": split,
    "chunk": chunk, "tril": tril, "triu": triu, "repeat": repeat, "movedim": movedim,
    "repeat_interleave": repeat_interleave,
    # in place
    "add_": add_, "sub_": sub_, "mul_": mul_, "div_": div_, "zero_": zero_, "fill_": fill_,
    "copy_": copy_, "clamp_": clamp_, "normal_": normal_, "uniform_": uniform_,
}

for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)
Tensor.T = property(T)
Tensor.mT = property(lambda x: transpose(x, -2, -1))
del _name, _fn
