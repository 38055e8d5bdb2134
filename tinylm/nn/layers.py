"""The basic layers, as torch.nn: Linear, Embedding, LayerNorm, Dropout and
the activations (Identity, ReLU, GELU, Tanh, Sigmoid, Softmax, LogSoftmax).

Each layer owns its parameters under PyTorch's names and shapes, draws them
with PyTorch's default initialisation (reset_parameters) and runs forward
through the functional API (F.*). Input checks live here so that an error
names the layer and the sizes it was built with.

Parameters are created in tl.get_default_dtype() (float32) unless dtype= is
given; device= accepts only 'cpu' for now.
"""
import math

import numpy as np

from .. import dtypes
from .._tensor import Tensor
from ..creation import empty
from ..device import check_device
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter


def _new_parameter(shape, device, dtype, requires_grad=True):
    """An uninitialised Parameter; reset_parameters() fills it."""
    check_device(device)
    return Parameter(empty(shape, dtype=dtypes.to_dtype(dtype) or dtypes.get_default_dtype()),
                     requires_grad=requires_grad)


def _check_tensor(layer, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer}: expected a tinylm Tensor as input, got {type(x).__name__}")


def _check_floating(layer, x, weight):
    """Float input in the parameters' dtype (model.double() or x.float() fixes a mismatch)."""
    if not x.is_floating_point():
        raise TypeError(f"{layer}: expected a floating point input, got {x.dtype}")
    if weight is not None and x.dtype != weight.dtype:
        raise TypeError(f"{layer}: input dtype {x.dtype} doesn't match the parameters' dtype "
                        f"{weight.dtype}; convert one (x.to(...) or module.to(...))")


class Identity(Module):
    """y = x. Takes and ignores any constructor arguments, as torch.nn.Identity."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """y = x @ W.T + b, as torch.nn.Linear.

    x (*, in_features) -> y (*, out_features); weight (out_features,
    in_features), bias (out_features,). Both start as U(-1/sqrt(in), 1/sqrt(in))."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = _new_parameter((out_features, in_features), device, dtype)
        if bias:
            self.bias = _new_parameter((out_features,), device, dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        # kaiming_uniform_ with a=sqrt(5) gives gain sqrt(1/3), so bound = sqrt(3) * gain / sqrt(in) = 1/sqrt(in)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        _check_tensor("Linear", input)
        if input.ndim == 0 or input.shape[-1] != self.in_features:
            raise RuntimeError(f"Linear: expected input of size {self.in_features} in the last dim "
                               f"(in_features), got shape {tuple(input.shape)}")
        _check_floating("Linear", input, self.weight)
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table, as torch.nn.Embedding: y = weight[ids].

    ids (*) of integers in [0, num_embeddings) -> y (*, embedding_dim);
    weight (num_embeddings, embedding_dim) starts as N(0, 1). The row
    padding_idx (negative counts from the end) starts at zero and gets no
    gradient, so it stays what it is. PyTorch's max_norm, scale_grad_by_freq
    and sparse options are not supported and raise NotImplementedError."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False, device=None,
                 dtype=None):
        super().__init__()
        unsupported = (("max_norm", max_norm, None), ("scale_grad_by_freq", scale_grad_by_freq, False),
                       ("sparse", sparse, False))
        for option, value, default in unsupported:
            if value != default:
                raise NotImplementedError(f"Embedding: {option}={value!r} is not supported by tinylm; "
                                          f"leave it at {default!r}")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} must be within "
                                 f"[{-num_embeddings}, {num_embeddings})")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is None:
            self.weight = _new_parameter((num_embeddings, embedding_dim), device, dtype, not _freeze)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight of shape {tuple(_weight.shape)} doesn't match "
                                 f"(num_embeddings, embedding_dim) = ({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(_weight, requires_grad=not _freeze)  # shares memory, as in PyTorch

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None, max_norm=None, norm_type=2.0,
                        scale_grad_by_freq=False, sparse=False):
        """An Embedding whose weight is `embeddings` (num, dim), sharing its
        memory; frozen (requires_grad=False) unless freeze=False. The
        padding_idx row is kept as given, not zeroed."""
        if embeddings.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D (num_embeddings, "
                             f"embedding_dim), got shape {tuple(embeddings.shape)}")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
                   scale_grad_by_freq=scale_grad_by_freq, sparse=sparse, _weight=embeddings, _freeze=freeze)

    def forward(self, input):
        _check_tensor("Embedding", input)
        if input.dtype == np.bool_ or not np.issubdtype(input.dtype, np.integer):
            raise TypeError(f"Embedding: expected integer ids (int64 or int32), got {input.dtype}")
        ids = input.data
        # (on cuda the kernel checks, raising at the next copy to the host: no sync here)
        if isinstance(ids, np.ndarray) and ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            bad = ids.min() if ids.min() < 0 else ids.max()
            raise IndexError(f"Embedding({self.num_embeddings}, {self.embedding_dim}): id {bad} is out of "
                             f"range [0, {self.num_embeddings})")
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        return s


class LayerNorm(Module):
    """Layer normalisation over the last dims, as torch.nn.LayerNorm.

    For x (*, *normalized_shape), over those last dims:
        y = (x - mean) / sqrt(var + eps) * weight + bias     (var is biased)
    weight and bias have shape normalized_shape and start at ones and zeros;
    elementwise_affine=False drops both, bias=False drops the bias."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        if elementwise_affine:
            self.weight = _new_parameter(self.normalized_shape, device, dtype)
            if bias:
                self.bias = _new_parameter(self.normalized_shape, device, dtype)
            else:
                self.register_parameter("bias", None)
        else:
            check_device(device)
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input):
        _check_tensor("LayerNorm", input)
        k = len(self.normalized_shape)
        if input.ndim < k or tuple(input.shape[input.ndim - k:]) != self.normalized_shape:
            raise RuntimeError(f"LayerNorm: expected input whose last dims are {self.normalized_shape} "
                               f"(normalized_shape), got shape {tuple(input.shape)}")
        _check_floating("LayerNorm", input, self.weight)
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class Dropout(Module):
    """Zero each element with probability p and scale the rest by 1/(1-p)
    while training; the identity in eval mode. As torch.nn.Dropout, except
    that inplace=True still returns a new tensor and leaves the input as it
    was (tinylm's autograd does not record in-place ops)."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"Dropout: dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input):
        _check_tensor("Dropout", input)
        return F.dropout(input, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class ReLU(Module):
    """y = max(x, 0). inplace=True is accepted but, as in Dropout, computes out of place."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.relu(input)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class GELU(Module):
    """y = x * Phi(x) (approximate='none', the exact erf form) or the tanh
    approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Tanh(Module):
    def forward(self, input):
        return F.tanh(input)


class Sigmoid(Module):
    """y = 1 / (1 + exp(-x))."""

    def forward(self, input):
        return F.sigmoid(input)


class Softmax(Module):
    """y = exp(x) / sum(exp(x)) along `dim`. dim=None picks PyTorch's
    deprecated implicit dim (0 for 0-, 1- and 3-d input, else 1) and warns."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.softmax(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """y = x - log(sum(exp(x))) along `dim` (dim=None as in Softmax)."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.log_softmax(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"
