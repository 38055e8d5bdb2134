"""Loss modules, as torch.nn: CrossEntropyLoss, NLLLoss, MSELoss.

Each holds its options and calls the functional form (F.cross_entropy,
F.nll_loss, F.mse_loss), which documents the shapes and the equations. As in
PyTorch, a class `weight` is a buffer: it appears in the state dict and
follows module.to(dtype).

The deprecated size_average and reduce arguments are kept in their
positions and mapped to `reduction` with a warning, as PyTorch does.
"""
import warnings

from .._tensor import Tensor
from . import functional as F
from .module import Module

_REDUCTIONS = ("mean", "sum", "none")


def _reduction(name, size_average, reduce, reduction):
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "none" if not reduce else "mean" if size_average else "sum"
        warnings.warn(f"{name}: size_average and reduce are deprecated; use reduction='{reduction}' instead",
                      stacklevel=3)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return reduction


class _WeightedLoss(Module):
    def __init__(self, weight, size_average, reduce, reduction):
        super().__init__()
        name = type(self).__name__
        if weight is not None and not isinstance(weight, Tensor):
            raise TypeError(f"{name}: weight must be a tinylm Tensor of shape (C,), got {type(weight).__name__}")
        if weight is not None and weight.ndim != 1:
            raise ValueError(f"{name}: weight must be 1-D, one value per class, got shape {tuple(weight.shape)}")
        self.register_buffer("weight", weight)
        self.reduction = _reduction(name, size_average, reduce, reduction)


class CrossEntropyLoss(_WeightedLoss):
    """log_softmax over the class dim, then the negative log-likelihood, as
    torch.nn.CrossEntropyLoss.

    input (N, C), (N, C, d1, ...) or unbatched (C,) logits; target of class
    indices (N,), (N, d1, ...) or (), or class probabilities shaped like
    input. weight (C,) rescales classes, rows whose target is ignore_index
    count for nothing, label_smoothing mixes the target with uniform."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                 label_smoothing=0.0):
        super().__init__(weight, size_average, reduce, reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got {label_smoothing}")
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """The negative log-likelihood of log-probabilities `input` (N, C, ...)
    at class `target` (N, ...), as torch.nn.NLLLoss: -weight[t] * input[n, t]."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class MSELoss(Module):
    """(input - target)^2, averaged, summed or kept per element, as torch.nn.MSELoss."""

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        self.reduction = _reduction("MSELoss", size_average, reduce, reduction)

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)
