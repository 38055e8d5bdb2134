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


@pytest.mark.skipif(simulator(), reason="checks the CPU wrappers' two-thread split")
@pytest.mark.parametrize("name, module, threshold, sizes, same_as_serial", [
    ("gelu_forward", "gelu", "THREADED_SIZE", {"N": 300_001}, True),
    ("gelu_backward", "gelu", "THREADED_SIZE", {"N": 300_001}, True),
    ("layernorm_forward", "layernorm", "THREADED_SIZE", {"N": 8100, "C": 130}, True),
    ("attention_forward", "attention", "THREADED_WORK", dict(B=2, H=4, T=70, S=67, E=16, Ev=16, variant=4), True),
    ("attention_forward", "attention", "THREADED_WORK", dict(B=1, H=4, T=70, S=75, E=16, Ev=16, variant=3), True),
    ("attention_backward", "attention", "THREADED_WORK", dict(B=2, H=4, T=70, S=67, E=16, Ev=16, variant=1), True),
    ("attention_backward", "attention", "THREADED_WORK", dict(B=1, H=4, T=70, S=75, E=16, Ev=16, variant=2), True),
    ("attention_forward", "attention", "THREADED_WORK", dict(B=2, H=2, T=130, S=131, E=8, Ev=8, variant=1), True),
    ("attention_backward", "attention", "THREADED_WORK", dict(B=2, H=2, T=130, S=125, E=8, Ev=8, variant=4), True),
    # BLAS may sum a product's rows in another order once they are split in two
    ("linear_forward", "matmul", "THREADED_WORK", dict(M=301, K=100, N=130, bias=1), False),
    ("linear_backward", "matmul", "THREADED_WORK", dict(M=301, K=100, N=290, bias=1), False),
    ("matmul_backward", "matmul", "THREADED_WORK", dict(Bt=3, M=101, K=70, N=130, big_k=0, variant=3), False),
])
def test_split_over_two_threads_matches_reference_and_serial(name, module, threshold, sizes, same_as_serial,
                                                            monkeypatch):
    # sizes above the threshold from which the wrapper splits the work over two
    # threads; the split must give the same bits run after run (training is
    # reproducible), and for elementwise and per-head kernels the serial bits
    k = kernels.KERNELS[name]
    args = k.example(np.random.default_rng(1), np.float32, **sizes)
    threaded = run(k, "cpu", args)
    err_abs, err_rel, ok = compare(k, as_tuple(k.reference(*args)), threaded, np.float32)
    assert ok, f"{name}: max abs error {err_abs:.3g}, rel {err_rel:.3g}"
    for t, again in zip(threaded, run(k, "cpu", args)):
        np.testing.assert_array_equal(t, again)
    if same_as_serial:
        monkeypatch.setattr(getattr(kernels, module), threshold, 1 << 62)
        for t, s in zip(threaded, run(k, "cpu", args)):
            np.testing.assert_array_equal(t, s)


@pytest.mark.skipif(simulator(), reason="checks the CPU wrapper's two-thread split")
def test_layernorm_backward_split_over_two_threads_matches_reference():
    # each thread sums dweight and dbias over its own rows: the result may differ
    # from one thread's sum in the last bits, but not from run to run
    k = kernels.KERNELS["layernorm_backward"]
    args = k.example(np.random.default_rng(3), np.float32, N=8100, C=130)
    assert args[1].size >= kernels.layernorm.THREADED_SIZE
    got = run(k, "cpu", args)
    err_abs, err_rel, ok = compare(k, as_tuple(k.reference(*args)), got, np.float32)
    assert ok, f"max abs error {err_abs:.3g}, rel {err_rel:.3g}"
    for a, b in zip(got, run(k, "cpu", args)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(simulator(), reason="checks the CPU wrappers")
def test_attention_reads_head_views_of_a_fused_projection():
    # GPT's layout: q, k, v are (B, nh, T, hs) views of one (B, T, 3C) array
    B, T, nh, hs = 2, 5, 3, 4
    C = nh * hs
    rng = np.random.default_rng(2)
    qkv = rng.standard_normal((B, T, 3 * C)).astype(np.float32)
    q, k, v = (qkv[..., i * C:(i + 1) * C].reshape(B, T, nh, hs).swapaxes(1, 2) for i in range(3))
    dout = rng.standard_normal((B, T, nh, hs)).astype(np.float32).swapaxes(1, 2)
    K = kernels.backend("cpu")
    copies = [np.ascontiguousarray(a) for a in (q, k, v)]
    out, att = K.attention_forward(q, k, v, None, True, None)
    out_c, att_c = K.attention_forward(*copies, None, True, None)
    np.testing.assert_array_equal(out, out_c)
    np.testing.assert_array_equal(att, att_c)
    for got, want in zip(K.attention_backward(dout, q, k, v, att, None),
                         K.attention_backward(np.ascontiguousarray(dout), *copies, att, None)):
        np.testing.assert_array_equal(got, want)
