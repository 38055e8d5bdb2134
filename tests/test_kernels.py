"""Each Numba kernel against the NumPy reference it must match."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from kernels import gelu as gk
from strategies import SEEDS, shapes


@given(shape=shapes(), seed=SEEDS, dtype=st.sampled_from([np.float32, np.float64]),
       approximate=st.sampled_from(["none", "tanh"]), scale=st.sampled_from([1.0, 10.0, 1e4]))
def test_gelu_kernels_match_reference(shape, seed, dtype, approximate, scale):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * scale).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    # the tails cancel (0.5 (1 + tanh u) with tanh u near -1): absolute error
    # grows with |x| times machine epsilon, however the sum is ordered
    tol = dict(rtol=1e-6, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-14 * scale)
    y = gk.gelu_forward(x, approximate)
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_allclose(y, gk.gelu_reference(x, approximate), **tol)
    dx = gk.gelu_backward(dout, x, approximate)
    np.testing.assert_allclose(dx, gk.gelu_backward_reference(dout, x, approximate), **tol)


def test_gelu_kernel_accepts_non_contiguous_input():
    x = np.arange(12, dtype=np.float32).reshape(3, 4).T / 6 - 1
    np.testing.assert_allclose(gk.gelu_forward(x), gk.gelu_reference(x), rtol=1e-6)
