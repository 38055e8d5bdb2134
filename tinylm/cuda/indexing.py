"""Indexing CudaArrays with NumPy's rules: x[key], x[key] = v, np.add.at.

Basic keys (ints, slices with positive steps, None, Ellipsis) give views
over the same device memory, computed from the strides alone. Integer
array keys gather (movement.take): one array gathers along its dim; several
arrays broadcast together, become one element offset L = sum_k i_k *
stride_k, and gather along a flat view of the buffer (each array's bounds
are checked first, by a take against its dim). As in NumPy, the indexed
dims go where the first of them was if they are adjacent, else in front.

A boolean mask's nonzero positions are a data-dependent shape: reading them
copies the mask to the host (counted), as PyTorch synchronises for
x[mask]. Writing one value through a mask (x[mask] = 0.5) needs no copy:
it is a where; writing an array of values reads the mask like x[mask].
"""
import numpy as np

from ..device import mixed_devices
from .array import CudaArray, _full, _k, is_scalar


def _index_array(k):
    """A key element that is an index array, as a CudaArray (int64 or bool)."""
    if isinstance(k, CudaArray):
        return k
    return CudaArray.from_host(np.asarray(k))  # a host index array goes up (counted)


def _normalise(x, key):
    """(items, advanced): the key with Ellipsis expanded, bool masks turned
    into their nonzero index arrays, and whether arrays are present."""
    key = key if isinstance(key, tuple) else (key,)
    items = []
    for k in key:
        if isinstance(k, (np.ndarray, CudaArray, list)) and not is_scalar(k):
            a = _index_array(k)
            if a.dtype == np.bool_:
                items.extend(CudaArray.from_host(i) for i in np.nonzero(a.to_host()))
                continue
            if a.dtype.kind not in "iu":
                raise IndexError(f"arrays used as indices must be of integer or boolean type, "
                                 f"got {a.dtype}")
            items.append(a.astype(np.int64, copy=False))
        elif isinstance(k, (bool, np.bool_)):
            raise NotImplementedError("indexing a cuda array with a Python bool has no cuda "
                                      "implementation in tinylm")
        else:
            items.append(k)
    used = sum(1 for k in items if k is not None and k is not Ellipsis)
    if used > x.ndim:
        raise IndexError(f"too many indices for array: array is {x.ndim}-dimensional, "
                         f"but {used} were indexed")
    n_ell = sum(1 for k in items if k is Ellipsis)
    if n_ell > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    fill = [slice(None)] * (x.ndim - used)
    if n_ell:
        at = next(i for i, k in enumerate(items) if k is Ellipsis)
        items = items[:at] + fill + items[at + 1:]
    else:
        items = items + fill
    return items, any(isinstance(k, CudaArray) for k in items)


def _basic(x, items, advanced):
    """(view, [(dim in view, position in the key, index array or None)]):
    slices, None and ints applied as a strided view; array dims kept whole.
    Beside arrays an int is an advanced index too, which counts for where
    NumPy puts the indexed dims (an entry with None), but its dim leaves the
    view at once: x[None, None, 0, 0, None, None, mask] must not need a
    7-dim view (the cuda primitives take up to 6)."""
    shape, strides = x.shape, x._elem_strides()
    new_shape, new_strides, offset, adv, d, at = [], [], 0, [], 0, 0
    for k in items:
        if k is None:
            new_shape.append(1)
            new_strides.append(0)
            at += 1
            continue
        n, s = shape[d], strides[d]
        if isinstance(k, slice):
            start, stop, step = k.indices(n)
            if step <= 0:
                raise ValueError("slice step must be positive on cuda arrays")
            count = max(0, (stop - start + step - 1) // step)
            offset += start * s if count else 0
            new_shape.append(count)
            new_strides.append(s * step)
        elif isinstance(k, CudaArray):
            adv.append((len(new_shape), at, k))
            new_shape.append(n)
            new_strides.append(s)
        else:
            i = int(k)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for axis {d} with size {n}")
            offset += (i % n) * s
            if advanced:
                adv.append((len(new_shape), at, None))
        d += 1
        at += 1
    view = CudaArray(_k()[1].strided_view(x.dev, new_shape, new_strides, offset)) \
        if x.size else _full(new_shape, 0, x.dtype)
    return view, adv


def _plan(x, key):
    """Everything a gather or scatter through `key` needs (None if basic):
    (view, flat, offsets, batch shape, rest shape, front, rest strides) where
    flat[L, r...] reaches view's element for the indexed dims at offsets L
    and the other dims r, and front says where the batch dims go in the result."""
    items, advanced = _normalise(x, key)
    view, adv = _basic(x, items, advanced)
    if not adv:
        return view, None
    mv = _k()[2]
    vshape, vstrides = view.shape, view._elem_strides()
    indexed = [(p, a) for p, _, a in adv if a is not None]
    dims = [p for p, _ in indexed]
    arrays = []
    for p, a in indexed:
        n = vshape[p]
        if a.size:  # bounds first: a take against the dim raises (or records) a bad index
            mv.take(mv.zeros((n,), np.int64), a.reshape(-1).dev, check="defer")
        arrays.append(np.where(a < 0, a + n, a))
    batch = np.broadcast_shapes(*[a.shape for a in arrays])
    offsets = 0
    for p, a in zip(dims, arrays):
        offsets = offsets + a * vstrides[p]
    if not isinstance(offsets, CudaArray):
        offsets = _full((), offsets, np.int64)
    offsets = np.broadcast_to(offsets, batch).contiguous()
    rest = [d for d in range(view.ndim) if d not in dims]
    span = 1 + sum((vshape[p] - 1) * vstrides[p] for p in dims) if view.size else 1
    flat = CudaArray(_k()[1].strided_view(view.dev, [span] + [vshape[d] for d in rest],
                                          [1] + [vstrides[d] for d in rest])) if view.size else None
    at = [a for _, a, _ in adv]  # NumPy: indexed dims stay in place if their keys are adjacent
    front = adv[0][0] if at == list(range(at[0], at[0] + len(at))) else 0
    return view, (flat, offsets, tuple(batch), tuple(vshape[d] for d in rest), front,
                  tuple(vstrides[d] for d in rest))


def _order(nb, nr, front):
    """Axis order taking (batch..., rest...) to the result's layout."""
    b, r = list(range(nb)), list(range(nb, nb + nr))
    return r[:front] + b + r[front:]


def getitem(x, key):
    view, plan = _plan(x, key)
    if plan is None:
        return view
    flat, offsets, batch, rest, front, _ = plan
    if flat is None or offsets.size == 0:
        out = _full(batch + rest, 0, x.dtype)
    else:
        out = CudaArray(_k()[2].take(flat.dev, offsets.reshape(-1).dev, 0, check=False))
        out = out.reshape(batch + rest)
    return out.transpose(_order(len(batch), len(rest), front))


def add_at(x, key, values):
    """np.add.at(x, key, values): values added at every position the key
    picks, repeats included (scatter-add with atomics)."""
    if not isinstance(x, CudaArray):
        raise mixed_devices()
    view, plan = _plan(x, key)
    if plan is None:
        np.add(view, values, out=view)
        return
    flat, offsets, batch, rest, front, rest_strides = plan
    if flat is None or offsets.size == 0:
        return
    order = _order(len(batch), len(rest), front)
    v = values if isinstance(values, CudaArray) else _full((), values, x.dtype)
    v = np.broadcast_to(v.astype(x.dtype, copy=False),
                        tuple((batch + rest)[i] for i in order))
    v = v.transpose(list(np.argsort(order))).contiguous().reshape((offsets.size,) + rest)
    offsets = offsets.reshape(-1)
    if rest:  # flat's rows overlap (a scatter refuses such a view): one offset per element
        pos = 0
        for i, (n, s) in enumerate(zip(rest, rest_strides)):
            step = CudaArray(_k()[2].arange(n)) * s
            pos = pos + step.reshape([n if j == i else 1 for j in range(len(rest))])
        offsets = (offsets.reshape((-1,) + (1,) * len(rest)) + pos).reshape(-1)
        span = flat.shape[0] + sum((n - 1) * s for n, s in zip(rest, rest_strides))
        flat = CudaArray(_k()[1].strided_view(flat.dev, [span], [1]))
        v = v.reshape(-1)
    _k()[2].index_add_(flat.dev, 0, offsets.dev, v.dev, check=False)


def setitem(x, key, value):
    if isinstance(value, np.ndarray) and value.ndim > 0:
        raise mixed_devices()
    mask = _single_mask(x, key)
    if mask is not None and (is_scalar(value) or value.size == 1):
        # x[mask] = v: a where written into x, no copy (an array of values
        # takes the integer-index path below, after the mask's nonzero)
        m = mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim))
        np.copyto(x, np.where(m, value if is_scalar(value) else value.reshape(()), x))
        return
    view, plan = _plan(x, key)
    if plan is None:
        np.copyto(view, value)
        return
    # x[idx] = v: clear the picked positions, then add v (its mean over repeats)
    hits = _full(x.shape, 0, np.float64 if x.dtype != np.float32 else np.float32)
    add_at(hits, key, 1)
    cleared = np.where(hits > 0, 0, x)
    add_at(cleared, key, value)
    np.copyto(x, np.where(hits > 1, cleared / np.maximum(hits, 1), cleared).astype(x.dtype))


def _single_mask(x, key):
    k = key[0] if isinstance(key, tuple) and len(key) == 1 else key
    if isinstance(k, CudaArray) and k.dtype == np.bool_:
        if x.shape[:k.ndim] != k.shape:
            raise IndexError(f"the boolean mask of shape {k.shape} does not match the indexed "
                             f"array's shape {x.shape}")
        return k
    return None
