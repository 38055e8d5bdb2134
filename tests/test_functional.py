"""Semantics of tinylm.nn.functional beyond the op table: stability at
extreme inputs, masks, ignore_index, dropout statistics. Expected values are
worked out by hand or by NumPy."""
import math
import warnings

import numpy as np
import pytest

import tinylm as tl
import tinylm.nn.functional as F


def test_softmax_is_stable_for_huge_logits():
    x = tl.tensor([[1e4, 1e4 + 1.0, 1e4 - 1.0], [-1e4, 0.0, 1e4]])
    p = F.softmax(x, dim=-1).numpy()
    e = np.exp([0.0, 1.0, -1.0])
    np.testing.assert_allclose(p[0], e / e.sum(), rtol=1e-6)
    np.testing.assert_allclose(p[1], [0.0, 0.0, 1.0])
    lp = F.log_softmax(x, dim=-1).numpy()
    np.testing.assert_allclose(lp[0], np.log(e / e.sum()), rtol=1e-6)  # float32 keeps x - max exact
    assert lp[1, 0] == pytest.approx(-2e4, rel=1e-6)


def test_softmax_with_minus_inf_masks():
    x = tl.tensor([[0.0, -math.inf, 0.0], [-math.inf] * 3])
    p = F.softmax(x, dim=1).numpy()
    np.testing.assert_allclose(p[0], [0.5, 0.0, 0.5])
    assert np.isnan(p[1]).all()  # as torch.softmax: a fully masked row is NaN


def test_softmax_implicit_dim_warns():
    with pytest.warns(UserWarning, match="Implicit dimension"):
        p = F.softmax(tl.ones(2, 4))
    np.testing.assert_allclose(p.numpy(), np.full((2, 4), 0.25))


def test_cross_entropy_hand_values():
    logits = tl.tensor([[0.0, math.log(3.0)], [0.0, 0.0]], requires_grad=True)
    target = tl.tensor([1, 0])
    loss = F.cross_entropy(logits, target)
    assert loss.item() == pytest.approx((math.log(4 / 3) + math.log(2)) / 2, rel=1e-6)
    loss.backward()
    # d/dlogits = (softmax - onehot) / N
    np.testing.assert_allclose(logits.grad.numpy(), [[0.125, -0.125], [-0.25, 0.25]], rtol=1e-6)


def test_cross_entropy_ignore_index_and_all_ignored():
    logits = tl.tensor([[2.0, 0.0], [0.0, 2.0]], requires_grad=True)
    loss = F.cross_entropy(logits, tl.tensor([0, -100]))
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-2)), rel=1e-6)
    loss.backward()
    assert (logits.grad.numpy()[1] == 0).all()
    logits.grad = None
    loss = F.cross_entropy(logits, tl.tensor([-100, -100]))
    assert math.isnan(loss.item())  # 0 / 0, as PyTorch
    loss.backward()
    assert (logits.grad.numpy() == 0).all()  # but no row passes a gradient


def test_cross_entropy_label_smoothing_value():
    logits = tl.tensor([[1.0, 2.0, 3.0]])
    lp = np.log(np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum())
    eps = 0.3
    expected = (1 - eps) * -lp[2] + eps / 3 * -lp.sum()
    assert F.cross_entropy(logits, tl.tensor([2]), label_smoothing=eps).item() == pytest.approx(expected, rel=1e-6)


def test_cross_entropy_weighted_mean_divides_by_target_weights():
    logits = tl.zeros(3, 2)  # every row costs log 2 before weighting
    w = tl.tensor([1.0, 3.0])
    loss = F.cross_entropy(logits, tl.tensor([0, 1, 1]), weight=w)
    assert loss.item() == pytest.approx(math.log(2) * (1 + 3 + 3) / (1 + 3 + 3))
    assert F.cross_entropy(logits, tl.tensor([0, 1, 1]), weight=w, reduction="sum").item() == \
        pytest.approx(7 * math.log(2), rel=1e-6)


def test_attention_fully_masked_row_gives_zeros_and_zero_grad():
    q = tl.randn(1, 3, 4, requires_grad=True)
    k, v = tl.randn(1, 3, 4), tl.randn(1, 3, 4)
    mask = tl.tensor([[True, True, False], [False, False, False], [True, False, True]])
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert (out.detach().numpy()[0, 1] == 0).all() and np.isfinite(out.detach().numpy()).all()
    out.sum().backward()
    assert (q.grad.numpy()[0, 1] == 0).all()


def test_causal_attention_is_top_left_aligned():
    q, k = tl.randn(1, 2, 4), tl.randn(1, 3, 4)
    v = tl.tensor([[[1.0], [10.0], [100.0]]])
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True).numpy()
    assert out[0, 0, 0] == pytest.approx(1.0)  # query 0 sees key 0 only
    assert 1.0 < out[0, 1, 0] < 10.0           # query 1 sees keys 0 and 1


def test_dropout_scales_survivors_and_keeps_expectation():
    tl.manual_seed(0)
    x = tl.ones(100_000, requires_grad=True)
    y = F.dropout(x, p=0.25)
    vals = y.detach().numpy()
    assert set(np.unique(vals)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((vals == 0).mean() - 0.25) < 0.01
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), vals)  # d/dx = mask / (1 - p)
    assert (F.dropout(x, 1.0).detach().numpy() == 0).all()
    assert F.dropout(x, 0.5, training=False) is x


def test_embedding_padding_row_gets_no_gradient_and_repeats_add():
    w = tl.randn(4, 3, requires_grad=True)
    out = F.embedding(tl.tensor([[1, 1, 0], [3, 1, 0]]), w, padding_idx=0)
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy()[:, 0], [0.0, 3.0, 0.0, 1.0])


def test_layer_norm_normalises_each_row():
    x = tl.randn(5, 16) * 3 + 2
    y = F.layer_norm(x, (16,)).numpy()
    np.testing.assert_allclose(y.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=1), 1, rtol=1e-3)


def test_gelu_known_values():
    x = tl.tensor([-1.0, 0.0, 1.0], dtype=tl.float64)
    np.testing.assert_allclose(F.gelu(x).numpy(), [-0.15865525393145707, 0.0, 0.8413447460685429], rtol=1e-14)
    np.testing.assert_allclose(F.gelu(x, approximate="tanh").numpy()[2], 0.8411919906082768, rtol=1e-14)


def test_mse_loss_warns_on_broadcast():
    with pytest.warns(UserWarning, match="broadcast"):
        loss = F.mse_loss(tl.zeros(3, 1), tl.tensor([1.0, 2.0, 3.0]))
    assert loss.item() == pytest.approx((1 + 4 + 9) / 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.mse_loss(tl.zeros(3), tl.ones(3))


def test_attention_dropout_and_grouped_query_heads():
    q, k, v = tl.randn(1, 4, 3, 8), tl.randn(1, 2, 3, 8), tl.randn(1, 2, 3, 8)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=1.0, enable_gqa=True)
    assert out.shape == (1, 4, 3, 8) and (out.numpy() == 0).all()  # every weight dropped
    grouped = F.scaled_dot_product_attention(q, k, v, enable_gqa=True).numpy()
    # query heads 0, 1 share key/value head 0; heads 2, 3 share head 1
    for h in range(4):
        alone = F.scaled_dot_product_attention(q[:, h:h + 1], k[:, h // 2:h // 2 + 1], v[:, h // 2:h // 2 + 1])
        np.testing.assert_allclose(grouped[:, h:h + 1], alone.numpy(), rtol=1e-5, atol=1e-6)


def test_attention_float_mask_that_requires_grad_gets_its_gradient():
    # a learned additive bias (ALiBi-style) must be differentiable, as in PyTorch
    rng = np.random.default_rng(0)
    q = tl.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    k, v = tl.tensor(rng.standard_normal((2, 5, 4))), tl.tensor(rng.standard_normal((2, 5, 4)))
    mask = tl.tensor(rng.standard_normal((3, 5)), requires_grad=True)
    assert tl.gradcheck(lambda q, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m), (q, mask))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    out.sum().backward()
    assert mask.grad is not None and np.abs(mask.grad).sum() > 0
