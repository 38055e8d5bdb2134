"""The autograd engine: accumulation, reuse, deep graphs, grad mode, hooks,
freeing the graph. Expected gradients are worked out by hand."""
import numpy as np
import pytest

import tinylm as tl


def test_node_used_twice_gets_both_contributions():
    x = tl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x + x  # x feeds Mul twice and Add once: dy/dx = 2x + 1
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 5.0, 7.0])


def test_shared_intermediate_diamond():
    x = tl.tensor(2.0, requires_grad=True)
    a = x.exp()
    y = a * a.sin() + a  # d/dx = a (sin a + a cos a + 1) since da/dx = a
    y.backward()
    av = np.exp(2.0)
    assert x.grad.item() == pytest.approx(av * (np.sin(av) + av * np.cos(av) + 1), rel=1e-6)


def test_gradients_accumulate_across_backward_calls():
    w = tl.tensor([1.0, -1.0], requires_grad=True)
    (w * 3).sum().backward()
    (w * w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [3 + 2, 3 - 2])


def test_deep_chain_has_no_recursion_limit():
    x = tl.tensor(1.0, dtype=tl.float64, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert x.grad.item() == pytest.approx(1.0001 ** 10_000, rel=1e-9)


def test_backward_with_explicit_gradient():
    x = tl.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x * x
    y.backward(tl.tensor([[1.0, 0.0], [0.5, 2.0]]))
    np.testing.assert_allclose(x.grad.numpy(), [[2.0, 0.0], [3.0, 16.0]])


def test_broadcast_gradient_is_summed_to_operand_shape():
    a = tl.ones(2, 3, requires_grad=True)
    b = tl.tensor([[1.0], [2.0]], requires_grad=True)  # (2, 1) broadcasts over 3 columns
    c = tl.tensor(5.0, requires_grad=True)
    (a * b * c).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), [[15.0], [15.0]])
    assert c.grad.item() == pytest.approx(9.0)
    np.testing.assert_allclose(a.grad.numpy(), [[5.0] * 3, [10.0] * 3])


def test_no_grad_context_and_decorator():
    x = tl.ones(3, requires_grad=True)
    with tl.no_grad():
        y = x * 2
        with tl.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad

    @tl.no_grad()
    def f(t):
        return t * 3

    assert not f(x).requires_grad
    assert tl.is_grad_enabled()


def test_set_grad_enabled_restores_previous_mode():
    with tl.set_grad_enabled(False):
        assert not tl.is_grad_enabled()
    assert tl.is_grad_enabled()


def test_leaf_and_non_leaf():
    x = tl.ones(2, requires_grad=True)
    y = x * 2
    assert x.is_leaf and not y.is_leaf
    assert tl.ones(2).is_leaf
    y.sum().backward()
    assert y.grad is None  # non-leaves keep no grad unless retain_grad()


def test_retain_grad_keeps_intermediate_gradient():
    x = tl.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.retain_grad()
    (y * y).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), [6.0, 12.0])
    np.testing.assert_allclose(x.grad.numpy(), [18.0, 36.0])


def test_hook_sees_and_replaces_gradient():
    x = tl.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    seen = []
    y.register_hook(lambda g: seen.append(g.numpy().copy()))
    handle = y.register_hook(lambda g: g * 10)
    (y * y).sum().backward()
    np.testing.assert_allclose(seen[0], [4.0, 8.0])
    np.testing.assert_allclose(x.grad.numpy(), [80.0, 160.0])
    handle.remove()
    x.grad = None
    y2 = x * 2
    (y2 * y2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [8.0, 16.0])


def test_hook_on_leaf_runs_before_accumulation():
    x = tl.tensor([1.0, -1.0], requires_grad=True)
    x.register_hook(lambda g: g.clamp(min=0))
    (x * tl.tensor([2.0, -3.0])).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.0])


def test_graph_is_freed_after_backward():
    x = tl.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = tl.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])


def test_graph_without_saved_values_can_backward_twice():
    # PyTorch frees saved tensors, not the graph: sums and adds save nothing
    x = tl.tensor([1.0, 2.0], requires_grad=True)
    y = (x + 1).sum()
    y.backward()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_detach_cuts_the_graph_and_shares_data():
    x = tl.tensor([1.0, 2.0], requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf
    y = x * d
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


def test_cast_is_differentiable():
    x = tl.tensor([1.0, 2.0], requires_grad=True)
    y = x.double() * 3
    assert y.dtype == tl.float64
    y.sum().backward()
    assert x.grad.dtype == tl.float32
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_clone_passes_gradient():
    x = tl.tensor([1.0, 2.0], requires_grad=True)
    (x.clone() * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


def test_repeated_integer_index_accumulates():
    x = tl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[tl.tensor([0, 0, 2, 0])].sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 0.0, 1.0])


def test_bool_mask_index_gradient():
    x = tl.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    (x[x > 2] * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 0.0], [2.0, 2.0]])


def test_max_ties_share_gradient_but_max_dim_picks_one():
    x = tl.tensor([1.0, 3.0, 3.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.5, 0.5])
    x.grad = None
    values, indices = x.max(0)
    values.backward()
    assert indices.item() == 1
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 1.0, 0.0])


def test_kink_gradients_follow_pytorch():
    x = tl.tensor([0.0, 1.0], requires_grad=True)
    (x.relu() + x.abs() + x.clamp(0.0, 1.0)).sum().backward()
    # relu'(0) = abs'(0) = 0; clamp passes the gradient at both bounds
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 3.0])
    a = tl.tensor([2.0], requires_grad=True)
    b = tl.tensor([2.0], requires_grad=True)
    tl.maximum(a, b).backward()
    assert a.grad.item() == 0.5 and b.grad.item() == 0.5


def test_integer_outputs_are_not_differentiable():
    x = tl.tensor([1.0, 5.0, 2.0], requires_grad=True)
    assert not x.argmax().requires_grad
    assert not (x > 1).requires_grad
    assert x.long().grad_fn is None


def test_gradients_of_slices_that_tile_overlap_or_leave_gaps():
    # slices of a non-leaf meet in backward's accumulation: the q, k, v split of
    # a fused projection tiles it (its gradients are concatenated); overlapping
    # slices add up; a gap stays zero
    x = tl.tensor(np.arange(12.0).reshape(2, 6), requires_grad=True)
    q, k, v = (x * 1.0).split(2, dim=1)
    (q * 1.0 + k * 2.0 + v * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.repeat([[1.0, 1, 2, 2, 3, 3]], 2, axis=0))
    y = tl.tensor(np.ones((2, 6)), requires_grad=True)
    h = y * 1.0
    ((h[:, :4] * 2.0).sum() + (h[:, 3:5] * 5.0).sum()).backward()
    np.testing.assert_array_equal(y.grad.numpy(), np.repeat([[2.0, 2, 2, 7, 5, 0]], 2, axis=0))
