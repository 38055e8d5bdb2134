"""Optimizer: the base class of SGD, Adam and AdamW, as torch.optim.Optimizer.

An optimizer holds parameter groups (each a dict: 'params' plus its own
hyper-parameters, so biases can have no weight decay) and a per-parameter
state dict (momentum buffers, Adam moments). step() reads each p.grad and
updates p.data in place, outside autograd.

state_dict() has PyTorch's layout: parameters are replaced by their index in
the order of the groups,
    {"state": {0: {"step": ..., "exp_avg": ...}, ...},
     "param_groups": [{"lr": ..., ..., "params": [0, 1, ...]}, ...]}
so it can be saved without the parameters and loaded into a fresh optimizer
built over the same model.
"""
import copy

import numpy as np

from .. import autograd
from .._tensor import Tensor
from ..device import DeviceArray
from ..ops.transfer import move


class Optimizer:
    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = {}          # Parameter -> dict of arrays (tensors hash by identity)
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors "
                            f"or dicts, but got {type(params).__name__}")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs; use a list")
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if seen & {id(p) for p in group["params"]} or len({id(p) for p in group["params"]}) < len(group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        p.grad.data[...] = 0

    def step(self, closure=None):
        """One update of every parameter that has a gradient. closure, if
        given, re-evaluates the model and returns the loss (as in PyTorch)."""
        loss = None
        if closure is not None:
            with autograd.enable_grad():
                loss = closure()
        with autograd.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        if p.grad.shape != p.shape:
                            raise RuntimeError(f"{type(self).__name__}: gradient of shape {p.grad.shape} "
                                               f"does not match its parameter's shape {p.shape}")
                        self._update(p, p.grad.data, group, self.state.setdefault(p, {}))
        return loss

    def _update(self, p, grad, group, state):
        raise NotImplementedError

    # ---- state dict ---------------------------------------------------------------
    def state_dict(self):
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: s for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a state_dict() of an optimizer of the same kind over parameters
        of the same shapes. Checks everything before changing anything."""
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError("load_state_dict: expected a dict with keys 'state' and 'param_groups'")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(saved_groups)} parameter groups, "
                             f"the optimizer has {len(self.param_groups)}")
        params = [p for g in self.param_groups for p in g["params"]]
        for i, (ours, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(ours["params"]) != len(saved["params"]):
                raise ValueError(f"loaded state dict contains a parameter group ({i}) that doesn't "
                                 f"match the size of optimizer's group: {len(saved['params'])} != "
                                 f"{len(ours['params'])}")
        by_index = dict(zip((j for g in saved_groups for j in g["params"]), params))
        new_state = {}
        for key, s in state_dict["state"].items():
            key = int(key)
            if key not in by_index:
                raise ValueError(f"loaded optimizer state refers to parameter {key}, which no group lists")
            p = by_index[key]
            entry = {}
            for name, value in s.items():
                value = value.data if isinstance(value, Tensor) else value
                if isinstance(value, (np.ndarray, DeviceArray)) and value.ndim and value.shape != p.shape:
                    raise ValueError(f"loaded optimizer state '{name}' of parameter {key} has shape "
                                     f"{value.shape}, the parameter has {p.shape}")
                if isinstance(value, (np.ndarray, DeviceArray)) and name != "step":
                    if value.dtype.kind == "f":
                        value = value.astype(p.dtype)  # as PyTorch casts state to the param's dtype
                    value = move(value, p.device)      # and moves it to the param's device
                entry[name] = value.copy() if isinstance(value, (np.ndarray, DeviceArray)) else value
            new_state[p] = entry
        self.state = new_state
        for ours, saved in zip(self.param_groups, saved_groups):
            ours.update({k: copy.deepcopy(v) for k, v in saved.items() if k != "params"})

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines + [")"])
