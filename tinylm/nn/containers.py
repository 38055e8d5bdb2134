"""Containers: Sequential, ModuleList and ModuleDict, as in torch.nn.

Their children are registered under their index ("0", "1", ...) or key, so
state-dict keys read `layers.0.weight`, exactly as PyTorch writes them.
"""
import operator
from collections import OrderedDict

from .module import Module, _addindent


def _index(i, n, name):
    try:
        i = operator.index(i)  # ints, NumPy ints, 0-d integer tensors
    except TypeError:
        raise TypeError(f"{name} indices must be integers or slices, not {type(i).__name__}") from None
    if not -n <= i < n:
        raise IndexError(f"index {i} is out of range for {name} of length {n}")
    return i % n


class Sequential(Module):
    """Sequential(m1, m2, ...) or Sequential(OrderedDict(name=m)): forward
    feeds each module's output to the next."""

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, i):
        items = list(self._modules.items())
        if isinstance(i, slice):  # keeps the names: seq[1:][0] is still registered as "1"
            return self.__class__(OrderedDict(items[i]))
        return items[_index(i, len(items), "Sequential")][1]

    def __setitem__(self, i, module):
        key = list(self._modules)[_index(i, len(self), "Sequential")]
        self.add_module(key, module)

    def __delitem__(self, i):
        keys = list(self._modules)
        for key in (keys[i] if isinstance(i, slice) else [keys[_index(i, len(keys), "Sequential")]]):
            del self._modules[key]
        # renumber as PyTorch does, so the names stay "0", "1", ... (custom names are lost too)
        modules = list(self._modules.values())
        self._modules.clear()
        for j, module in enumerate(modules):
            self._modules[str(j)] = module

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def insert(self, index, module):
        """Put `module` before position `index` (-len <= index <= len); later ones move up one name."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.insert: expected a Module, got {type(module).__name__}")
        n = len(self)
        if not -n <= index <= n:
            raise IndexError(f"Sequential.insert: index {index} is out of range for length {n}")
        if index < 0:
            index += n
        for j in range(n, index, -1):  # shift by name, as PyTorch does (keeps custom names below index)
            self._modules[str(j)] = self._modules[str(j - 1)]
        self._modules[str(index)] = module
        return self

    def pop(self, i):
        module = self[i]
        del self[i]
        return module


class ModuleList(Module):
    """A list of modules whose parameters the parent module sees."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _renumber(self, modules):
        self._modules.clear()
        for i, module in enumerate(modules):
            self.add_module(str(i), module)

    def __getitem__(self, i):
        modules = list(self._modules.values())
        if isinstance(i, slice):  # a new list, renumbered from 0
            return self.__class__(modules[i])
        return modules[_index(i, len(modules), "ModuleList")]

    def __setitem__(self, i, module):
        self.add_module(str(_index(i, len(self), "ModuleList")), module)

    def __delitem__(self, i):
        modules = list(self._modules.values())
        del modules[i if isinstance(i, slice) else _index(i, len(modules), "ModuleList")]
        self._renumber(modules)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def insert(self, index, module):
        """Insert before `index`, as list.insert (a negative index counts from the end)."""
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._renumber(modules)

    def pop(self, i=-1):
        module = self[i]
        del self[i]
        return module

    def __repr__(self):
        """Runs of identical children print once, as PyTorch's "(0-11): 12 x Block(...)"."""
        reprs = [repr(m) for m in self]
        if not reprs:
            return f"{type(self).__name__}()"
        lines, start = [], 0
        for end in range(1, len(reprs) + 1):
            if end == len(reprs) or reprs[end] != reprs[start]:
                n = end - start
                line = f"({start}): {reprs[start]}" if n == 1 else f"({start}-{end - 1}): {n} x {reprs[start]}"
                lines.append(_addindent(line, 2))
                start = end
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward(); iterate over it instead")


class ModuleDict(Module):
    """An ordered dict of modules whose parameters the parent module sees."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        if key not in self._modules:
            raise KeyError(f"ModuleDict has no key {key!r}; keys: {list(self._modules)}")
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def pop(self, key):
        module = self[key]
        del self._modules[key]
        return module

    def clear(self):
        self._modules.clear()

    def update(self, modules):
        pairs = modules.items() if hasattr(modules, "items") else modules
        for key, module in pairs:
            self.add_module(key, module)

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleDict has no forward(); index it instead")
