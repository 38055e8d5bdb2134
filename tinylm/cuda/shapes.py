"""Shape arithmetic for CudaArray views (host-side, no kernels): C-order
strides, reshape targets with -1, and NumPy's rule for when a reshape can
be a view."""


def c_strides(shape):
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


def nocopy_strides(old_shape, old_strides, new_shape):
    """Element strides that give `new_shape` over the same elements in C
    order without a copy, or None (NumPy's _attempt_nocopy_reshape): each
    group of old dims that maps onto a group of new dims must be one
    contiguous run."""
    old = [(n, s) for n, s in zip(old_shape, old_strides) if n != 1]
    new_strides = [0] * len(new_shape)
    oi, oj, ni, nj = 0, 1, 0, 1
    while ni < len(new_shape) and oi < len(old):
        nsize, osize = new_shape[ni], old[oi][0]
        while nsize != osize:
            if nsize < osize:
                nsize *= new_shape[nj]
                nj += 1
            else:
                osize *= old[oj][0]
                oj += 1
        for k in range(oi, oj - 1):
            if old[k][1] != old[k + 1][0] * old[k + 1][1]:
                return None
        new_strides[nj - 1] = old[oj - 1][1]
        for k in range(nj - 1, ni, -1):
            new_strides[k - 1] = new_strides[k] * new_shape[k]
        ni, nj, oi, oj = nj, nj + 1, oj, oj + 1
    return new_strides  # trailing new dims are 1s: any stride serves


def resolve_shape(shape, size):
    """shape with its -1 worked out for `size` elements; ValueError (NumPy's
    error for reshape) when it does not fit. The rule is tinylm's reshape's."""
    from ..ops.shape import _infer_shape
    try:
        return _infer_shape(tuple(int(s) for s in shape), size, "reshape")
    except RuntimeError as e:
        raise ValueError(str(e)) from None
