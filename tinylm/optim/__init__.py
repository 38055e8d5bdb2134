"""tinylm.optim: optimizers and learning-rate schedules, as torch.optim.

optimizer.py     Optimizer (param groups, zero_grad, state_dict)
sgd.py           SGD
adam.py          Adam, AdamW (fused update kernel)
lr_scheduler.py  StepLR, LambdaLR, LinearLR, CosineAnnealingLR, SequentialLR
"""
from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler"]
