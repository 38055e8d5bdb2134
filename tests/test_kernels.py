"""Every registered kernel on every available backend against its NumPy
reference, with hypothesis choosing sizes, dtype and values.

In the normal process this checks the CPU kernels (and CUDA on a GPU); make
test runs this file a second time with NUMBA_ENABLE_CUDASIM=1, where it
checks the CUDA kernels under the simulator at small sizes."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels
from kernels.harness import as_tuple, available_backends, compare, run, simulator
from strategies import SEEDS

BACKENDS = available_backends()
CASES = [(name, b) for name in sorted(kernels.KERNELS) for b in BACKENDS
         if b == "cpu" or kernels.KERNELS[name].cuda is not None]


@pytest.mark.parametrize("name, backend", CASES, ids=[f"{n}-{b}" for n, b in CASES])
@settings(max_examples=4 if simulator() else 25)
@given(data=st.data())
def test_kernel_matches_reference(name, backend, data):
    k = kernels.KERNELS[name]
    ranges = k.sim_sizes if simulator() else k.sizes
    sizes = {dim: data.draw(st.integers(lo, hi), label=dim) for dim, (lo, hi) in ranges.items()}
    dtype = np.dtype(data.draw(st.sampled_from(["float32", "float64"]), label="dtype"))
    args = k.example(np.random.default_rng(data.draw(SEEDS, label="seed")), dtype, **sizes)
    expected = tuple(np.asarray(e) for e in as_tuple(k.reference(*args)))
    got = run(k, backend, args)
    err_abs, err_rel, ok = compare(k, expected, got, dtype)
    assert ok, f"{name} on {backend} ({dtype}, {sizes}): max abs error {err_abs:.3g}, rel {err_rel:.3g}"


@pytest.mark.skipif(simulator(), reason="checks CPU wrappers")
def test_reference_mode_switches_every_lookup():
    K = kernels.backend("cpu")
    assert K.softmax_forward is kernels.KERNELS["softmax_forward"].cpu
    with kernels.use("reference"):
        assert K.softmax_forward is kernels.KERNELS["softmax_forward"].reference
    assert kernels.mode() == "fast"
    with pytest.raises(ValueError, match="mode"):
        with kernels.use("slow"):
            pass


@pytest.mark.skipif(simulator(), reason="checks CPU wrappers")
@pytest.mark.parametrize("call, error, pattern", [
    (lambda K: K.softmax_forward(np.ones((2, 3), dtype=np.int64)), TypeError, "softmax_forward: x must be float32 or float64"),
    (lambda K: K.softmax_forward([1.0, 2.0]), TypeError, "numpy.ndarray"),
    (lambda K: K.softmax_backward(np.ones((2, 3), np.float32), np.ones((2, 4), np.float32)), ValueError, "dy has shape"),
    (lambda K: K.gelu_forward(np.ones(3, np.float32), "fast"), ValueError, "approximate"),
    (lambda K: K.no_such_kernel, KeyError, "no kernel named"),
])
def test_wrappers_reject_bad_input(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call(kernels.backend("cpu"))


@pytest.mark.skipif(simulator(), reason="checks CPU wrappers")
def test_non_contiguous_input_gives_the_same_answer():
    x = np.random.default_rng(0).standard_normal((6, 5)).astype(np.float32)
    K = kernels.backend("cpu")
    np.testing.assert_array_equal(K.softmax_forward(x.T), K.softmax_forward(np.ascontiguousarray(x.T)))


@pytest.mark.skipif(simulator(), reason="checks the CPU GEMM's two-thread split")
@pytest.mark.parametrize("tb", [True, False])
def test_gemm_split_over_two_threads_matches_reference(tb):
    # N = 250 is not a multiple of the 96-column panels, so both halves end
    # in a partial panel; M*N*K is above matmul.THREADED_WORK
    rng = np.random.default_rng(5)
    kernel = kernels.KERNELS["gemm_numba_backward"]
    dc, a, b, _ = kernel.example(rng, np.float32, Bt=1, M=70, K=130, N=250, big_k=0, variant=int(tb))
    assert 70 * 250 * 130 >= kernels.matmul.THREADED_WORK
    c = kernels.KERNELS["gemm_numba"].cpu(a, b, tb)
    np.testing.assert_allclose(c, kernels.matmul.matmul_forward_reference(a, b, tb), rtol=1e-4, atol=1e-4)
    for got, want in zip(kernel.cpu(dc, a, b, tb), kernel.reference(dc, a, b, tb)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
