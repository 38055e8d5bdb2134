"""Optimizer steps and learning-rate schedules from PyTorch, for
tests/test_optim_reference.py (imported by make_fixtures.py, which runs it
with torch installed; see README.md here).

Optimizer cases (optim_<name>.npz): two parameters (a 4x3 matrix and a bias
of 3, or two groups holding one each), STEPS steps with seeded random
gradients. The file holds the initial values, every step's gradients, the
parameters after every step, the final optimizer state and the learning
rates a StepLR scheduler gave each group.
    meta               JSON: optimizer class, groups (kwargs per group), defaults, steps
    init/<p>           p's values before the first step
    grad/<t>/<p>       the gradient given at step t
    param/<t>/<p>      p after step t
    state/<p>/<key>    the final state (momentum_buffer, exp_avg, exp_avg_sq, max_exp_avg_sq, step)
Scheduler cases (sched_<name>.npz): lr/<group> = the lr each group holds
after construction and after each of SCHED_STEPS scheduler.step() calls.
"""
import json

import numpy as np
import torch

from make_fixtures import save_npz

STEPS, SCHED_STEPS = 6, 40
PARAMS = {"w": (4, 3), "b": (3,)}

# name -> (optimizer class, defaults, per-group kwargs or None for one group)
OPTIMIZERS = {
    "sgd_plain": ("SGD", dict(lr=0.1), None),
    "sgd_momentum": ("SGD", dict(lr=0.1, momentum=0.9), None),
    "sgd_dampening_decay": ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01), None),
    "sgd_nesterov": ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3), None),
    "adam_default": ("Adam", dict(), None),
    "adam_decay": ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05), None),
    "adam_amsgrad": ("Adam", dict(lr=0.01, amsgrad=True), None),
    "adamw_default": ("AdamW", dict(), None),
    "adamw_amsgrad": ("AdamW", dict(lr=0.02, betas=(0.9, 0.95), weight_decay=0.1, amsgrad=True), None),
    # nanoGPT's two groups: decay on matrices, none on biases, and a group with its own lr
    "adamw_groups": ("AdamW", dict(lr=6e-4, betas=(0.9, 0.95)),
                     [dict(params=["w"], weight_decay=0.1), dict(params=["b"], weight_decay=0.0, lr=1e-3)]),
    "sgd_groups": ("SGD", dict(lr=0.1, momentum=0.9),
                   [dict(params=["w"], weight_decay=0.01), dict(params=["b"], lr=0.5, nesterov=True)]),
}

# name -> description of the schedule, built on an SGD optimizer (lr 0.1) with two groups (lr 0.1, 0.02).
# LambdaLR takes a Python function, so its cases name one of these (the test defines the same ones).
LAMBDAS = {"warmup10": lambda s: min(1.0, (s + 1) / 10), "inverse_sqrt": lambda s: 1.0 / (1 + s) ** 0.5}
SCHEDULERS = {
    "step": [("StepLR", dict(step_size=7, gamma=0.5))],
    "lambda_warmup": [("LambdaLR", dict(lr_lambda="warmup10"))],
    "lambda_inverse_sqrt": [("LambdaLR", dict(lr_lambda="inverse_sqrt"))],
    "linear": [("LinearLR", dict(start_factor=0.25, end_factor=1.0, total_iters=8))],
    "linear_decay": [("LinearLR", dict(start_factor=1.0, end_factor=0.1, total_iters=30))],
    "cosine": [("CosineAnnealingLR", dict(T_max=15, eta_min=0.001))],  # past T_max it rises again
    "warmup_cosine": [("LinearLR", dict(start_factor=1e-3, total_iters=5)),
                      ("CosineAnnealingLR", dict(T_max=30, eta_min=1e-4))],
    "warmup_step_cosine": [("LinearLR", dict(start_factor=0.1, total_iters=4)), ("StepLR", dict(step_size=5)),
                           ("CosineAnnealingLR", dict(T_max=10))],
}
MILESTONES = {"warmup_cosine": [5], "warmup_step_cosine": [4, 15]}


def write_optimizer(out_dir, name):
    cls, defaults, groups = OPTIMIZERS[name]
    gen = torch.Generator().manual_seed(len(name) * 7919 + sum(map(ord, name)))
    params = {p: torch.randn(shape, generator=gen).requires_grad_() for p, shape in PARAMS.items()}
    arrays = {f"init/{p}": t.detach().numpy().copy() for p, t in params.items()}
    if groups is None:
        opt = getattr(torch.optim, cls)(list(params.values()), **defaults)
    else:
        opt = getattr(torch.optim, cls)([{**g, "params": [params[p] for p in g["params"]]} for g in groups],
                                        **defaults)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for t in range(STEPS):
        for p, tensor in params.items():
            tensor.grad = torch.randn(tensor.shape, generator=gen)
            arrays[f"grad/{t}/{p}"] = tensor.grad.numpy().copy()
        opt.step()
        lrs.append([g["lr"] for g in opt.param_groups])
        sched.step()
        for p, tensor in params.items():
            arrays[f"param/{t}/{p}"] = tensor.detach().numpy().copy()
    for p, tensor in params.items():
        for key, value in opt.state[tensor].items():
            arrays[f"state/{p}/{key}"] = value.numpy().copy()
    meta = dict(optimizer=cls, defaults=defaults, groups=groups, steps=STEPS, lrs=lrs,
                torch_version=torch.__version__)
    save_npz(out_dir / f"optim_{name}.npz", {"meta": np.array(json.dumps(meta)), **arrays})


def write_scheduler(out_dir, name):
    w = torch.zeros(1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.02}], lr=0.1)
    parts = []
    for cls, kwargs in SCHEDULERS[name]:
        kw = {k: LAMBDAS[v] if k == "lr_lambda" else v for k, v in kwargs.items()}
        parts.append(getattr(torch.optim.lr_scheduler, cls)(opt, **kw))
    sched = parts[0] if len(parts) == 1 else torch.optim.lr_scheduler.SequentialLR(opt, parts, MILESTONES[name])
    lrs = [[g["lr"] for g in opt.param_groups]]
    for _ in range(SCHED_STEPS):
        opt.step()
        sched.step()
        lrs.append([g["lr"] for g in opt.param_groups])
    lrs = np.array(lrs, dtype=np.float64)
    meta = dict(schedulers=SCHEDULERS[name], milestones=MILESTONES.get(name), group_lrs=[0.1, 0.02],
                steps=SCHED_STEPS, torch_version=torch.__version__)
    save_npz(out_dir / f"sched_{name}.npz", {"meta": np.array(json.dumps(meta)), "lr": lrs})


def write(out_dir):
    for name in OPTIMIZERS:
        write_optimizer(out_dir, name)
    for name in SCHEDULERS:
        write_scheduler(out_dir, name)
    return len(OPTIMIZERS) + len(SCHEDULERS)
