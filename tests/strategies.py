"""Hypothesis strategies for op tests: hypothesis picks shapes and a seed,
NumPy's generator fills in values from a distribution chosen per op.

Values come from a seeded generator rather than hypothesis' own floats so
that gradient checks never land on kinks (relu at 0, ties in max) or
outside an op's domain (log of a negative)."""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

SEEDS = st.integers(0, 2**32 - 1)


def values(rng, shape, kind="normal", dtype=np.float64):
    """Random values of a kind: normal, positive (0.5..2), nonzero (|x| in 0.5..2),
    unit (-0.9..0.9)."""
    if kind == "normal":
        a = rng.standard_normal(shape)
    elif kind == "positive":
        a = rng.uniform(0.5, 2.0, shape)
    elif kind == "nonzero":
        a = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    elif kind == "unit":
        a = rng.uniform(-0.9, 0.9, shape)
    else:
        raise ValueError(kind)
    return np.asarray(a, dtype=dtype)


def shapes(min_dims=0, max_dims=3, min_side=0, max_side=4):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_pair(min_side=0, max_side=4):
    """Two shapes that broadcast together (size-1 and missing dims included)."""
    return hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                             min_side=min_side, max_side=max_side).map(
        lambda r: r.input_shapes)


@st.composite
def dims_for(draw, ndim, allow_none=True, allow_tuple=True):
    """A reduction dim for a tensor of `ndim` dims: None, an int (maybe negative) or a tuple."""
    options = []
    if allow_none:
        options.append(st.none())
    if ndim:
        options.append(st.integers(-ndim, ndim - 1))
        if allow_tuple:
            options.append(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim,
                                    unique=True).map(tuple))
    return draw(st.one_of(options)) if options else None
