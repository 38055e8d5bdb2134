"""Bad input fails at the public call with a message naming what is wrong."""
import numpy as np
import pytest

import tinylm as tl
import tinylm.nn.functional as F


@pytest.mark.parametrize("call, error, pattern", [
    (lambda: tl.ones(32, 64) @ tl.ones(128, 10), RuntimeError, r"\(32, 64\) and \(128, 10\).*64 != 128"),
    (lambda: tl.ones(2, 3) + tl.ones(4), ValueError, r"\(2, 3\) and \(4,\) cannot be broadcast"),
    (lambda: tl.ones(3) @ tl.ones(3, dtype=tl.float64), RuntimeError, "same dtype"),
    (lambda: tl.ones(()) @ tl.ones(3), RuntimeError, "at least 1 dim"),
    (lambda: tl.ones(2, 3).reshape(4, 2), RuntimeError, r"\[4, 2\] is invalid for input of size 6"),
    (lambda: tl.ones(2, 3).sum(dim=2), IndexError, r"Dimension out of range.*\[-2, 1\].*got 2"),
    (lambda: tl.ones(3)[5], IndexError, r"out of bounds.*shape \(3,\)"),
    (lambda: tl.ones(3)[tl.tensor([0.5])], IndexError, "long, int or bool"),
    (lambda: tl.ones(2, 3).expand(4, 3, 5), RuntimeError, "must match the existing size"),
    (lambda: tl.cat([tl.ones(2, 3), tl.ones(2, 4)]), RuntimeError, r"tensor 1 has shape \(2, 4\)"),
    (lambda: tl.stack([tl.ones(2), tl.ones(3)]), RuntimeError, "equal size"),
    (lambda: tl.ones(0).max(), RuntimeError, "dimension 0 of size 0"),
    (lambda: tl.arange(3).mean(), TypeError, "floating point"),
    (lambda: tl.ones(3).item(), RuntimeError, "3 elements"),
    (lambda: bool(tl.ones(2)), RuntimeError, "ambiguous"),
    (lambda: tl.ones(2).masked_fill(tl.ones(2), 0.0), TypeError, "bool"),
    (lambda: tl.where(tl.ones(2), tl.ones(2), tl.zeros(2)), TypeError, "bool"),
    (lambda: tl.ones(2).split([1, 2]), RuntimeError, r"add up to 2"),
    (lambda: tl.zeros(2, -1), RuntimeError, "negative dimension"),
    (lambda: tl.tensor([[1, 2], [3]]), ValueError, "cannot build a tensor"),
    (lambda: tl.ones(2).to("cuda"), RuntimeError, "not available"),
    (lambda: tl.ones(2).to("tpu"), RuntimeError, "unknown device"),
])
def test_bad_input_is_named(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


@pytest.mark.parametrize("call, error, pattern", [
    (lambda: F.linear(tl.ones(32, 64), tl.ones(10, 128)), RuntimeError, r"64 features.*expects 128"),
    (lambda: F.linear(tl.ones(2, 3), tl.ones(4, 3), tl.ones(3)), RuntimeError, "bias"),
    (lambda: F.embedding(tl.tensor([0, 12]), tl.ones(10, 4)), IndexError, "index 12 is out of range for a table of 10"),
    (lambda: F.embedding(tl.tensor([-1]), tl.ones(10, 4)), IndexError, "index -1"),
    (lambda: F.embedding(tl.ones(2), tl.ones(10, 4)), TypeError, "integer"),
    (lambda: F.cross_entropy(tl.ones(4, 10), tl.tensor([0, 1, 2, 12])), IndexError, "target 12 is out of bounds for 10"),
    (lambda: F.cross_entropy(tl.ones(4, 10), tl.tensor([0, 1])), RuntimeError, r"expected target of shape \(4,\)"),
    (lambda: F.cross_entropy(tl.ones(4, 10), tl.zeros(4, dtype=tl.long), reduction="avg"), ValueError, "reduction"),
    (lambda: F.cross_entropy(tl.ones(4, 3), tl.zeros(4, dtype=tl.long), weight=tl.ones(4)), RuntimeError, r"weight must have shape \(3,\)"),
    (lambda: F.layer_norm(tl.ones(2, 5), (4,)), RuntimeError, r"normalized_shape \[4\]"),
    (lambda: F.dropout(tl.ones(2), 1.5), ValueError, "between 0 and 1"),
    (lambda: F.gelu(tl.ones(2), approximate="fast"), ValueError, "approximate"),
    (lambda: F.scaled_dot_product_attention(tl.ones(2, 3, 4), tl.ones(2, 5, 8), tl.ones(2, 5, 4)),
     RuntimeError, "same last dim"),
    (lambda: F.scaled_dot_product_attention(tl.ones(1, 3, 4), tl.ones(1, 3, 4), tl.ones(1, 3, 4),
                                            attn_mask=tl.ones(3, 3, dtype=tl.long)), TypeError, "bool or float"),
    (lambda: F.cross_entropy(tl.ones(2, 3), tl.tensor([True, False])), TypeError, "integer"),
    (lambda: F.cross_entropy(tl.ones(2, 3), tl.tensor([0, 1]), weight=tl.ones(3, requires_grad=True)),
     RuntimeError, "not differentiable with respect to weight"),
])
def test_functional_bad_input_is_named(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_backward_errors():
    with pytest.raises(RuntimeError, match="only for scalar outputs.*shape \\(3,\\)"):
        (tl.ones(3, requires_grad=True) * 2).backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        tl.ones(3).sum().backward()
    x = tl.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="gradient has shape \\(2,\\)"):
        (x * 2).backward(tl.ones(2))
    with pytest.raises(RuntimeError, match="leaf"):
        (x * 2).requires_grad = False


def test_gradcheck_names_the_worst_element():
    def fn(x):
        out = x * x
        if out.grad_fn is not None:  # a backward that is wrong at element 2 only
            out.grad_fn.backward = lambda g: np.where(np.arange(3) == 2, 0.0, 2 * x.data * g)
        return out

    x = tl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(AssertionError, match=r"d output 0\(2,\) / d input 0\(2,\) is 0 by backward but 6"):
        tl.gradcheck(fn, (x,))
    assert tl.gradcheck(fn, (x,), raise_exception=False) is False
    assert tl.gradcheck(lambda t: t * t, (x,))
