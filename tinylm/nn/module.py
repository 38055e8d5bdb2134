"""Module: the base class of every layer, as torch.nn.Module.

A Module keeps three ordered registries, filled by plain attribute
assignment in __init__:
    _parameters  name -> Parameter   (self.weight = Parameter(...))
    _buffers     name -> Tensor      (self.register_buffer("mask", t))
    _modules     name -> Module      (self.fc = Linear(...))
Everything else (names, state_dict keys, train/eval, zero_grad, apply)
walks these registries recursively. State-dict keys are dotted paths in
PyTorch's order: a module's own parameters, then its persistent buffers,
then each child's keys under "child.", so `h.0.attn.c_attn.weight` names the
same tensor in tinylm and in PyTorch.
"""
from collections import OrderedDict, namedtuple

import numpy as np

from .. import autograd, dtypes
from .._tensor import Tensor, cuda_device
from ..backend import asarray
from ..device import DeviceArray, check_device
from ..ops.transfer import move
from .parameter import Parameter


class IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def _addindent(text, spaces):
    """Indent every line but the first (blank lines stay empty), as PyTorch's repr does."""
    first, *rest = text.split("\n")
    return "\n".join([first] + [" " * spaces + line if line.strip() else "" for line in rest])


class Module:
    training: bool

    def __init__(self):
        # object.__setattr__: our own __setattr__ needs these registries to exist
        for name in ("_parameters", "_buffers", "_modules", "_forward_pre_hooks", "_forward_hooks"):
            object.__setattr__(self, name, OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "training", True)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward(); subclasses define it")

    def __call__(self, *args, **kwargs):
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out

    # ---- registration -----------------------------------------------------------
    def _registries(self):
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(f"cannot assign to {type(self).__name__} before Module.__init__() call")
        return d["_parameters"], d["_buffers"], d["_modules"]

    def __setattr__(self, name, value):
        params, buffers, modules = self.__dict__.get("_parameters"), self.__dict__.get("_buffers"), \
            self.__dict__.get("_modules")
        if isinstance(value, Parameter):
            self.__dict__.pop(name, None)  # a plain attribute becomes a parameter
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter '{name}' "
                                "(tinylm.nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            self.__dict__.pop(name, None)
            self.add_module(name, value)
        elif modules is not None and name in modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module '{name}' "
                                "(tinylm.nn.Module or None expected)")
            modules[name] = None
        elif buffers is not None and name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer '{name}' "
                                "(tinylm.Tensor or None expected)")
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # only called when normal lookup fails: look in the registries
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in d and name in d[registry]:
                return d[registry][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def _check_name(self, name, kind):
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if "." in name or name == "":
            raise KeyError(f"{kind} name can't contain \".\" or be empty, got {name!r}")
        # a method or property of the class would shadow the registered value
        if name in self.__dict__ or hasattr(type(self), name):
            raise KeyError(f"attribute '{name}' already exists")

    def _forget(self, name, keep):
        """Drop `name` from the registries other than `keep`: re-registering
        a name keeps its place, so state-dict order doesn't change."""
        for registry in self._registries():
            if registry is not keep:
                registry.pop(name, None)

    def register_parameter(self, name, param):
        params = self._registries()[0]
        self._check_name(name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__} as parameter '{name}' "
                            "(tinylm.nn.Parameter or None expected)")
        self._forget(name, params)
        params[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        buffers = self._registries()[1]
        self._check_name(name, "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign {type(tensor).__name__} as buffer '{name}' "
                            "(tinylm.Tensor or None expected)")
        self._forget(name, buffers)
        buffers[name] = tensor
        (self._non_persistent.discard if persistent else self._non_persistent.add)(name)

    def add_module(self, name, module):
        modules = self._registries()[2]
        self._check_name(name, "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._forget(name, modules)
        modules[name] = module

    register_module = add_module

    def register_forward_pre_hook(self, hook):
        """hook(module, args) before forward; a non-None result replaces args."""
        handle = autograd.RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    def register_forward_hook(self, hook):
        """hook(module, args, output) after forward; a non-None result replaces output."""
        handle = autograd.RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    # ---- walking the tree --------------------------------------------------------
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self):
        for _, child in self.named_children():
            yield child

    def _named_members(self, registry, prefix, recurse, remove_duplicate):
        seen = set()
        walk = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse \
            else [(prefix, self)]
        for module_prefix, module in walk:
            for name, value in getattr(module, registry).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(name, Parameter) pairs; a parameter shared by two modules (tied
        weights) is listed once, under its first name."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target):
        module = self
        for part in target.split(".") if target else []:
            if part not in module._modules:
                raise AttributeError(f"{type(module).__name__} has no submodule '{part}' (looking up '{target}')")
            module = module._modules[part]
        return module

    def apply(self, fn):
        """fn(module) on every submodule (children first), then on self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ---- modes and gradients -----------------------------------------------------
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError(f"train(mode): mode is expected to be a bool, got {type(mode).__name__}")
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.data[...] = 0

    # ---- dtype and device --------------------------------------------------------
    def _convert(self, fn):
        """Replace every parameter's and buffer's array by fn(array), in place
        (the Parameter objects stay the same, so optimizers keep them)."""
        for module in self.modules():
            for p in module._parameters.values():
                if p is not None:
                    p.data = fn(p.data)
                    if p.grad is not None:
                        p.grad = Tensor(fn(p.grad.data))
            for b in module._buffers.values():
                if b is not None:
                    b.data = fn(b.data)
        return self

    def to(self, *args, dtype=None, device=None):
        """module.to(tl.float64), module.to('cuda'), module.to('cuda', tl.float64):
        parameters and buffers move to the device (in place: the Parameter
        objects stay, so an optimizer made before keeps working, as in
        PyTorch); floating-point ones change dtype, integer ones keep theirs."""
        for a in args:
            if isinstance(a, Tensor):
                dtype, device = a.dtype, a.device
            elif isinstance(a, str) or type(a).__name__ == "device":
                device = a
            else:
                dtype = a
        if device is not None:
            target = check_device(device)
            self._convert(lambda a: move(a, target))
        dtype = dtypes.to_dtype(dtype)
        if dtype is None:
            return self
        if not dtypes.is_floating(dtype):
            raise TypeError(f"Module.to only accepts floating point dtypes, but got desired dtype={dtype}")
        # copy=False: a module already in `dtype` keeps its arrays (and the state_dict views of them)
        return self._convert(lambda a: a.astype(dtype, copy=False) if dtypes.is_floating(a.dtype) else a)

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to(cuda_device(device))

    # ---- state dict --------------------------------------------------------------
    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """OrderedDict of dotted name -> NumPy array (the parameter's own
        memory, as PyTorch's state_dict shares storage), or the Tensors
        themselves with keep_vars=True. Tied weights appear under each name."""
        out = OrderedDict() if destination is None else destination
        for name, p in self._parameters.items():
            if p is not None:
                out[prefix + name] = p if keep_vars else p.data
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                out[prefix + name] = b if keep_vars else b.data
        for name, child in self._modules.items():
            if child is not None:
                child.state_dict(out, prefix + name + ".", keep_vars)
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays (NumPy or Tensor) into this module's parameters and
        buffers. Checks everything first and changes nothing on an error:
        size mismatches always fail; missing or unexpected keys fail when
        strict. Returns (missing_keys, unexpected_keys) like PyTorch."""
        if not hasattr(state_dict, "items"):
            raise TypeError(f"load_state_dict: expected a dict of arrays, got {type(state_dict).__name__}")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors, updates = [], []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            if isinstance(value, Tensor):
                value = value.data
            elif not isinstance(value, (np.ndarray, np.generic, DeviceArray)):
                errors.append(f"value for '{key}' is a {type(value).__name__}, expected a NumPy array or Tensor")
                continue
            value = asarray(value)
            if value.shape != target.shape:
                errors.append(f"size mismatch for {key}: copying a param with shape {value.shape} from "
                              f"checkpoint, the shape in current model is {target.shape}.")
            elif not np.can_cast(value.dtype, target.dtype, "same_kind"):
                errors.append(f"dtype mismatch for {key}: cannot copy {value.dtype} into {target.dtype}")
            else:
                updates.append((target, value))
        if strict and unexpected:
            errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ". ")
        if strict and missing:
            errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        for target, value in updates:
            # in place (tied weights and optimizers see the new values), on the target's device
            target.data[...] = move(value, target.device)
        return IncompatibleKeys(missing, unexpected)

    # ---- printing ----------------------------------------------------------------
    def extra_repr(self):
        """The text inside the parentheses of this module's repr line."""
        return ""

    def __repr__(self):
        extra = self.extra_repr().split("\n") if self.extra_repr() else []
        children = [f"({name}): " + _addindent(repr(child), 2) for name, child in self._modules.items()]
        if len(extra) == 1 and not children:  # a one-line leaf: Linear(in_features=3, ...)
            return f"{type(self).__name__}({extra[0]})"
        if not extra and not children:
            return f"{type(self).__name__}()"
        return f"{type(self).__name__}(\n  " + "\n  ".join(extra + children) + "\n)"

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))
