"""Creating tensors, their attributes and conversions, dtype promotion,
seeding, in-place ops, against values written out by hand."""
import numpy as np
import pytest

import tinylm as tl


@pytest.mark.parametrize("data, dtype", [
    ([1.0, 2.0], tl.float32), ([1, 2], tl.int64), ([True, False], tl.bool), (3.5, tl.float32),
    (np.array([1.0]), tl.float64), (np.array([1], dtype=np.int32), tl.int32),
])
def test_tensor_infers_dtype_as_pytorch(data, dtype):
    assert tl.tensor(data).dtype == dtype


def test_tensor_copies_but_from_numpy_shares():
    a = np.zeros(3, dtype=np.float32)
    t, s = tl.tensor(a), tl.from_numpy(a)
    a[0] = 7
    assert t[0].item() == 0 and s[0].item() == 7


@pytest.mark.parametrize("make, dtype, shape", [
    (lambda: tl.zeros(2, 3), tl.float32, (2, 3)),
    (lambda: tl.ones((4,)), tl.float32, (4,)),
    (lambda: tl.empty(0, 2), tl.float32, (0, 2)),
    (lambda: tl.full((2,), 7), tl.int64, (2,)),
    (lambda: tl.full((2,), 7.0), tl.float32, (2,)),
    (lambda: tl.arange(5), tl.int64, (5,)),
    (lambda: tl.arange(0, 1, 0.25), tl.float32, (4,)),
    (lambda: tl.randn(2, 2, dtype=tl.float64), tl.float64, (2, 2)),
    (lambda: tl.rand(3), tl.float32, (3,)),
    (lambda: tl.randint(10, (5,)), tl.int64, (5,)),
    (lambda: tl.randint(3, 10, (2, 2)), tl.int64, (2, 2)),
    (lambda: tl.zeros_like(tl.ones(2, dtype=tl.float64)), tl.float64, (2,)),
    (lambda: tl.ones_like(tl.ones(3, 1)), tl.float32, (3, 1)),
])
def test_creation_dtypes_and_shapes(make, dtype, shape):
    t = make()
    assert t.dtype == dtype and t.shape == shape


def test_creation_values():
    np.testing.assert_array_equal(tl.arange(1, 7, 2).numpy(), [1, 3, 5])
    np.testing.assert_array_equal(tl.full((2,), 2.5).numpy(), [2.5, 2.5])
    r = tl.randint(3, 10, (1000,)).numpy()
    assert r.min() >= 3 and r.max() <= 9


def test_manual_seed_repeats_every_random_op():
    def draw():
        tl.manual_seed(1234)
        x = tl.randn(5)
        d = tl.nn.functional.dropout(tl.ones(8), 0.5)
        return x.numpy(), tl.rand(3).numpy(), tl.randint(0, 100, (4,)).numpy(), d.numpy()
    first, second = draw(), draw()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    tl.manual_seed(1235)
    assert not np.array_equal(tl.randn(5).numpy(), first[0])


def test_rng_state_round_trip():
    tl.manual_seed(0)
    state = tl.get_rng_state()
    a = tl.randn(4).numpy()
    tl.set_rng_state(state)
    np.testing.assert_array_equal(tl.randn(4).numpy(), a)


def test_randn_statistics():
    tl.manual_seed(0)
    x = tl.randn(20000).numpy()
    assert abs(x.mean()) < 0.03 and abs(x.std() - 1) < 0.03


def test_attributes_and_conversion():
    t = tl.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert t.shape == (2, 3) and t.ndim == 2 and t.size() == (2, 3) and t.size(-1) == 3
    assert t.dim() == 2 and t.numel() == 6 and len(t) == 2
    assert t.device == "cpu" and str(t.device) == "cpu"
    assert t.T.shape == (3, 2) and t.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert t[1, 2].item() == 6.0 and float(t[0, 0]) == 1.0
    assert np.asarray(t).shape == (2, 3)
    assert t.double().dtype == tl.float64 and t.long().dtype == tl.int64
    assert t.to(tl.float64).dtype == tl.float64 and t.to("cpu") is t
    assert t.float().dtype == tl.float32


def test_numpy_refuses_tensor_that_requires_grad():
    t = tl.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        t.numpy()
    assert t.detach().numpy().tolist() == [1.0, 1.0]


def test_requires_grad_only_for_floats():
    with pytest.raises(RuntimeError, match="floating point"):
        tl.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        tl.arange(3).requires_grad_()


@pytest.mark.parametrize("expr, dtype", [
    (lambda: tl.ones(2) * 2.5, tl.float32),
    (lambda: tl.ones(2, dtype=tl.float64) * 2, tl.float64),
    (lambda: tl.arange(3) * 2.5, tl.float32),
    (lambda: tl.arange(3) / tl.arange(1, 4), tl.float32),
    (lambda: tl.arange(3) * 2, tl.int64),
    (lambda: tl.ones(2) + tl.ones(2, dtype=tl.float64), tl.float64),
    (lambda: tl.ones(2) + tl.arange(2), tl.float32),
    (lambda: 2 ** tl.ones(2), tl.float32),
    (lambda: tl.arange(3).exp(), tl.float32),
])
def test_type_promotion_follows_pytorch(expr, dtype):
    assert expr().dtype == dtype


def test_scalars_on_either_side():
    x = tl.tensor([1.0, 2.0, 4.0])
    np.testing.assert_allclose((1 - x).numpy(), [0, -1, -3])
    np.testing.assert_allclose((8 / x).numpy(), [8, 4, 2])
    np.testing.assert_allclose((np.array([1.0, 1.0, 1.0]) + x).numpy(), [2, 3, 5])
    np.testing.assert_allclose((x ** 2).numpy(), [1, 4, 16])
    np.testing.assert_array_equal((x >= 2).numpy(), [False, True, True])
    assert (x == 2).dtype == tl.bool


def test_inplace_ops_under_no_grad_update_parameters():
    p = tl.tensor([1.0, 2.0], requires_grad=True)
    (p * p).sum().backward()
    with tl.no_grad():
        p -= 0.5 * p.grad
    assert p.is_leaf and p.requires_grad
    np.testing.assert_allclose(p.detach().numpy(), [0.0, 0.0])
    with pytest.raises(RuntimeError, match="in-place"):
        p.add_(1.0)


def test_inplace_methods_and_setitem():
    t = tl.zeros(4)
    t.add_(1).mul_(3)
    t[1:3] = 7.0
    t[tl.tensor([True, False, False, False])] = -1.0
    np.testing.assert_array_equal(t.numpy(), [-1, 7, 7, 3])
    t.zero_()
    assert t.sum().item() == 0
    t.copy_(tl.arange(4).float())
    np.testing.assert_array_equal(t.numpy(), [0, 1, 2, 3])


def test_split_chunk_and_stack_values():
    x = tl.arange(10)
    assert [p.tolist() for p in x.split(4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [p.tolist() for p in x.split([3, 7])] == [[0, 1, 2], [3, 4, 5, 6, 7, 8, 9]]
    assert [len(p) for p in x.chunk(3)] == [4, 4, 2]
    assert tl.stack([tl.ones(2), tl.zeros(2)], dim=1).tolist() == [[1, 0], [1, 0]]


def test_view_needs_compatible_strides():
    x = tl.ones(2, 3)
    assert x.view(3, 2).shape == (3, 2) and x.view(-1).shape == (6,)
    with pytest.raises(RuntimeError, match="reshape"):
        x.T.view(6)
    assert x.T.reshape(6).shape == (6,)


def test_repr_mentions_grad_state():
    assert repr(tl.tensor([1.0, 2.0])) == "tensor([1.0000, 2.0000])"
    assert "requires_grad=True" in repr(tl.ones(1, requires_grad=True))
    assert "grad_fn=<MulBackward>" in repr(tl.ones(1, requires_grad=True) * 2)
    assert "float64" in repr(tl.ones(1, dtype=tl.float64))
