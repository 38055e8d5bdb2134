"""tl.save / tl.load: checkpoints as safetensors files, with no pickle anywhere.

tl.save(obj, path) takes what torch.save usually gets: a model's
state_dict(), or a nested dict of arrays, Tensors and plain JSON values
(numbers, strings, lists, None), e.g.
    {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": 100,
     "rng": tl.get_rng_state(), "config": asdict(config)}
and writes ONE safetensors file:
  - every array becomes a named tensor: a flat dict of arrays (a state dict)
    keeps its own names, so the file is a plain weights file that any
    safetensors reader loads; nested arrays are named by their path joined
    with "/" ("model/lm_head.weight", "optimizer/state/0/exp_avg");
  - everything else is JSON in the file's metadata header ("tinylm"), with
    {"__tensor__": name} where an array was; plus a CRC-32 of each tensor, so
    a corrupted byte is found and named on load.
Loading parses JSON and raw bytes only: it never runs code.

The write is atomic: a temporary file in the same folder, fsync, rename over
the target, fsync the folder. A process killed while saving leaves the
previous checkpoint intact.
"""
import json
import os
import tempfile
import zlib

import numpy as np

from ._tensor import Tensor
from .device import DeviceArray

FORMAT = "tinylm.checkpoint.v1"


class CheckpointError(RuntimeError):
    """A checkpoint file that is missing, truncated, corrupt or of another layout."""


def _savable(a, name):
    """a as a C-contiguous host array of a dtype safetensors stores (a cuda
    array is copied to the host: checkpoints load on either device)."""
    if isinstance(a, DeviceArray):
        a = a.to_host()
    if a.dtype.kind not in "biuf":
        raise TypeError(f"tl.save: array at '{name}' has dtype {a.dtype}; only bool, int, uint "
                        "and float arrays can be saved")
    # (np.ascontiguousarray would turn a 0-d array, like Adam's step, into 1-d)
    return a if a.flags.c_contiguous else a.copy(order="C")


def _flatten(obj, path, tensors):
    """JSON tree of obj, moving arrays into `tensors` under their paths."""
    if isinstance(obj, Tensor):
        obj = obj.detach().data
    if isinstance(obj, (np.ndarray, DeviceArray)):
        name = "/".join(path)
        tensors[name] = _savable(obj, name)
        return {"__tensor__": name}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"tl.save: dict keys must be str or int, got {k!r} at '{'/'.join(path)}'")
            # JSON keys are strings: int keys (optimizer state) are marked to come back as ints
            key = str(k) if isinstance(k, str) else f"__int__{k}"
            out[key] = _flatten(v, path + (str(k),), tensors)
        return out
    if isinstance(obj, (list, tuple)):
        items = [_flatten(v, path + (str(i),), tensors) for i, v in enumerate(obj)]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"tl.save: cannot save a {type(obj).__name__} at '{'/'.join(path) or '<root>'}' "
                    "(save arrays, Tensors, dicts, lists and JSON values; no pickle)")


def _unflatten(tree, tensors):
    if isinstance(tree, dict):
        if set(tree) == {"__tensor__"}:
            return tensors[tree["__tensor__"]]
        if set(tree) == {"__tuple__"}:
            return tuple(_unflatten(v, tensors) for v in tree["__tuple__"])
        return {(int(k[7:]) if k.startswith("__int__") else k): _unflatten(v, tensors) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_unflatten(v, tensors) for v in tree]
    return tree


def _is_flat_state_dict(obj):
    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, (np.ndarray, DeviceArray, Tensor)) for k, v in obj.items())


def save(obj, path):
    """Write obj (see the module docstring) to `path` atomically."""
    from safetensors.numpy import save as st_save
    tensors = {}
    if _is_flat_state_dict(obj):  # a state dict: tensor names are its own keys
        tree = {"__state_dict__": list(obj)}
        for k, v in obj.items():
            tensors[k] = _savable(v.detach().data if isinstance(v, Tensor) else v, k)
    else:
        tree = _flatten(obj, (), tensors)
    crc = {k: zlib.crc32(v.tobytes()) for k, v in tensors.items()}
    meta = {"format": FORMAT, "tinylm": json.dumps(tree), "crc32": json.dumps(crc)}
    data = st_save(tensors, metadata=meta)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-" + os.path.basename(path) + "-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)


def load(path):
    """Read a file written by tl.save (or any safetensors file): the saved
    object with NumPy arrays in place of arrays and Tensors. Raises
    CheckpointError naming the file (and the tensor) when it is truncated,
    corrupt or not a safetensors file."""
    from safetensors import SafetensorError
    from safetensors.numpy import load as st_load
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist")
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise CheckpointError(f"checkpoint {path!r} is truncated ({len(raw)} bytes): not a safetensors file")
    header_len = int.from_bytes(raw[:8], "little")
    if header_len > len(raw) - 8:
        raise CheckpointError(f"checkpoint {path!r} is truncated or not a safetensors file: its header "
                              f"claims {header_len} bytes, the file has {len(raw) - 8} after the length")
    try:
        header = json.loads(raw[8:8 + header_len])
        tensors = st_load(raw)
    except (ValueError, SafetensorError) as e:
        raise CheckpointError(f"checkpoint {path!r} is corrupt or truncated: {e}") from None
    meta = header.get("__metadata__") or {}
    if meta.get("format") != FORMAT:  # a plain safetensors file from elsewhere
        return dict(tensors)
    try:
        crc, tree = json.loads(meta["crc32"]), json.loads(meta["tinylm"])
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path!r} has a damaged tinylm header: {e}") from None
    for name, value in tensors.items():
        if zlib.crc32(value.tobytes()) != crc.get(name):
            raise CheckpointError(f"checkpoint {path!r}: tensor '{name}' is corrupt (its CRC-32 does not "
                                  "match the one recorded when it was saved)")
    missing = set(crc) - set(tensors)
    if missing:
        raise CheckpointError(f"checkpoint {path!r} lacks tensors {sorted(missing)}")
    if isinstance(tree, dict) and set(tree) == {"__state_dict__"}:
        return {k: tensors[k] for k in tree["__state_dict__"]}
    return _unflatten(tree, tensors)
