"""The module system: Module registration and traversal, state dicts,
train/eval, hooks, repr, containers and nn.init. Expected names, orders and
texts are PyTorch's (written out here as torch 2.13 prints them); init
statistics are checked against PyTorch's formulas."""
import copy
import math
from collections import OrderedDict

import numpy as np
import pytest

import tinylm as tl
import tinylm.nn as nn
from tinylm.nn import init


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm(4)
        self.mlp = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 4), nn.Dropout(0.1))

    def forward(self, x):
        return x + self.mlp(self.ln(x))


class TinyLM(nn.Module):
    """wte and head share one weight (tied), as GPT-2 does."""

    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(10, 4)
        self.h = nn.ModuleList([Block() for _ in range(2)])
        self.head = nn.Linear(4, 10, bias=False)
        self.head.weight = self.wte.weight
        self.register_buffer("step", tl.zeros(1, dtype=tl.int64))
        self.register_buffer("cache", tl.zeros(3), persistent=False)

    def forward(self, ids):
        x = self.wte(ids)
        for block in self.h:
            x = block(x)
        return self.head(x)


BLOCK_PARAMS = ["ln.weight", "ln.bias", "mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias"]


@pytest.fixture
def model():
    tl.manual_seed(0)
    return TinyLM()


# ---- registration ---------------------------------------------------------------
def test_attributes_register_parameters_buffers_and_children():
    m = nn.Module()
    m.w = nn.Parameter(tl.ones(2))
    m.t = tl.ones(2)                      # a plain Tensor is not a parameter
    m.child = nn.Linear(2, 3)
    m.register_buffer("b", tl.zeros(2))
    assert list(m._parameters) == ["w"] and list(m._buffers) == ["b"] and list(m._modules) == ["child"]
    assert "t" in m.__dict__ and m.w.requires_grad
    m.w = None                            # a parameter may become None, and leaves parameters()
    assert list(dict(m.named_parameters())) == ["child.weight", "child.bias"]
    with pytest.raises(TypeError, match="parameter 'w'"):
        m.w = tl.ones(2)                  # a Tensor can't replace a parameter
    with pytest.raises(TypeError, match="buffer 'b'"):
        m.b = np.zeros(2)
    with pytest.raises(KeyError, match="forward"):
        m.add_module("forward", nn.ReLU())  # would be shadowed by the method
    del m.child
    assert "child" not in m._modules and not hasattr(m, "child")
    lin = nn.Linear(2, 2)
    lin.weight = nn.Parameter(tl.ones(2, 2))  # re-registering keeps the name's place
    assert list(lin.state_dict()) == ["weight", "bias"]


def test_assigning_before_init_raises():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(tl.ones(1))
    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()


def test_named_parameters_order_and_tied_weights_listed_once(model):
    names = [n for n, _ in model.named_parameters()]
    assert names == ["wte.weight"] + [f"h.{i}.{p}" for i in range(2) for p in BLOCK_PARAMS]
    assert model.head.weight is model.wte.weight
    assert len(list(model.parameters())) == len(names)
    all_names = [n for n, _ in model.named_parameters(remove_duplicate=False)]
    assert all_names[-1] == "head.weight" and len(all_names) == len(names) + 1
    assert [n for n, _ in model.named_buffers()] == ["step", "cache"]
    assert [n for n, _ in model.named_modules()][:5] == ["", "wte", "h", "h.0", "h.0.ln"]
    assert [n for n, _ in model.named_children()] == ["wte", "h", "head"]
    assert model.get_submodule("h.1.mlp.2") is model.h[1].mlp[2]


# ---- state dict -------------------------------------------------------------------
def test_state_dict_keys_and_shared_memory(model):
    sd = model.state_dict()
    assert list(sd) == (["step", "wte.weight"] + [f"h.{i}.{p}" for i in range(2) for p in BLOCK_PARAMS]
                        + ["head.weight"])   # tied weight under each name; no non-persistent "cache"
    assert sd["head.weight"] is sd["wte.weight"] is model.wte.weight.data
    assert model.state_dict(keep_vars=True)["h.0.ln.weight"] is model.h[0].ln.weight


def test_load_state_dict_copies_numpy_arrays_and_tensors(model):
    tl.manual_seed(1)
    other = TinyLM()
    sd = {k: (tl.tensor(v) if i % 2 else v.copy()) for i, (k, v) in enumerate(other.state_dict().items())}
    weight_obj = model.wte.weight
    result = model.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    for k, v in other.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[k], v)
    assert model.wte.weight is weight_obj and model.head.weight is model.wte.weight  # copied in place


def test_load_state_dict_errors_name_every_key_and_change_nothing(model):
    before = {k: v.copy() for k, v in model.state_dict().items()}
    sd = {k: v + 1 for k, v in model.state_dict().items()}
    del sd["h.0.ln.bias"], sd["h.1.mlp.0.weight"]
    sd["h.0.extra"] = np.zeros(2)
    sd["h.1.ln.weight"] = np.zeros(5)
    with pytest.raises(RuntimeError) as err:
        model.load_state_dict(sd)
    msg = str(err.value)
    for key in ("h.0.ln.bias", "h.1.mlp.0.weight", "h.0.extra", "h.1.ln.weight"):
        assert key in msg
    assert "Missing key(s)" in msg and "Unexpected key(s)" in msg and "size mismatch" in msg
    assert "(5,)" in msg and "(4,)" in msg
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    # strict=False reports the keys, but a size mismatch still fails and changes nothing
    with pytest.raises(RuntimeError, match="size mismatch for h.1.ln.weight"):
        model.load_state_dict(sd, strict=False)
    np.testing.assert_array_equal(model.wte.weight.data, before["wte.weight"])
    del sd["h.1.ln.weight"]
    result = model.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["h.0.ln.bias", "h.1.ln.weight", "h.1.mlp.0.weight"]  # model order
    assert result.unexpected_keys == ["h.0.extra"]
    np.testing.assert_array_equal(model.wte.weight.data, before["wte.weight"] + 1)
    np.testing.assert_array_equal(model.h[0].ln.bias.data, before["h.0.ln.bias"])


def test_load_state_dict_rejects_non_arrays(model):
    sd = dict(model.state_dict())
    sd["wte.weight"] = sd["wte.weight"].tolist()
    with pytest.raises(RuntimeError, match="'wte.weight' is a list"):
        model.load_state_dict(sd)


# ---- modes, gradients, apply, hooks ---------------------------------------------------
def test_train_eval_propagate(model):
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.h[0].train()
    assert model.h[0].mlp[3].training and not model.h[1].mlp[3].training
    with pytest.raises(ValueError):
        model.train("no")


def test_zero_grad_and_requires_grad(model):
    model(tl.tensor([[1, 2, 3]])).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all((p.grad.numpy() == 0).all() for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model.requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())


def test_apply_visits_children_first(model):
    seen = []
    model.h[0].apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["LayerNorm", "Linear", "GELU", "Linear", "Dropout", "Sequential", "Block"]


def test_forward_hooks_replace_args_and_output_and_can_be_removed():
    lin = nn.Linear(2, 2)
    calls = []
    pre = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    post = lin.register_forward_hook(lambda m, args, out: calls.append(args[0].numpy().copy()) or out + 1)
    out = lin(tl.ones(1, 2))
    np.testing.assert_allclose(out.detach().numpy(), lin.bias.detach().numpy()[None] + 1)
    assert (calls[0] == 0).all()          # the forward hook saw the replaced args
    pre.remove()
    post.remove()
    np.testing.assert_allclose(lin(tl.zeros(1, 2)).detach().numpy(), lin.bias.detach().numpy()[None])


# ---- repr ---------------------------------------------------------------------------
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(10, 4, padding_idx=0)
        self.h = nn.ModuleList([Block() for _ in range(3)] + [nn.Linear(4, 4)])
        self.d = nn.ModuleDict({"a": nn.ReLU(), "b": nn.Softmax(dim=-1)})
        self.head = nn.Linear(4, 10, bias=False)
        self.empty = nn.ModuleList()
        self.register_module("nothing", None)


NET_REPR = """Net(
  (wte): Embedding(10, 4, padding_idx=0)
  (h): ModuleList(
    (0-2): 3 x Block(
      (ln): LayerNorm((4,), eps=1e-05, elementwise_affine=True, bias=True)
      (mlp): Sequential(
        (0): Linear(in_features=4, out_features=8, bias=True)
        (1): GELU(approximate='none')
        (2): Linear(in_features=8, out_features=4, bias=True)
        (3): Dropout(p=0.1, inplace=False)
      )
    )
    (3): Linear(in_features=4, out_features=4, bias=True)
  )
  (d): ModuleDict(
    (a): ReLU()
    (b): Softmax(dim=-1)
  )
  (head): Linear(in_features=4, out_features=10, bias=False)
  (empty): ModuleList()
  (nothing): None
)"""


def test_repr_of_a_nested_model_is_pytorchs():
    assert repr(Net()) == NET_REPR
    assert repr(nn.Sequential()) == "Sequential()"

    class TwoLines(nn.Module):
        def extra_repr(self):
            return "a=1\nb=2"
    assert repr(TwoLines()) == "TwoLines(\n  a=1\n  b=2\n)"


# ---- containers ---------------------------------------------------------------------
def test_sequential_indexing_slicing_and_editing():
    a, b, c, d = nn.ReLU(), nn.Tanh(), nn.Sigmoid(), nn.Identity()
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and list(seq) == [a, b, c] and seq[-1] is c and seq[np.int64(1)] is b
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub._modules) == ["1", "2"]  # names kept
    with pytest.raises(IndexError, match="out of range"):
        seq[3]
    seq.insert(1, d)
    assert list(seq) == [a, d, b, c] and list(seq._modules) == ["0", "1", "2", "3"]
    del seq[0]
    assert list(seq) == [d, b, c] and list(seq._modules) == ["0", "1", "2"]  # renumbered
    assert seq.pop(0) is d and seq.append(a) is seq and list(seq) == [b, c, a]
    seq[0] = d
    assert seq[0] is d
    named = nn.Sequential(OrderedDict(first=nn.Linear(2, 3), act=nn.ReLU()))
    assert [n for n, _ in named.named_parameters()] == ["first.weight", "first.bias"]
    x = tl.randn(5, 2)
    np.testing.assert_array_equal(named(x).detach().numpy(), np.maximum(named.first(x).detach().numpy(), 0))


def test_module_list_indexing_slicing_and_editing():
    ms = [nn.Linear(1, 1) for _ in range(4)]
    lst = nn.ModuleList(ms[:2])
    lst.append(ms[2])
    lst += [ms[3]]
    assert len(lst) == 4 and list(lst) == ms and lst[-1] is ms[3]
    assert list(lst[1:3]) == ms[1:3] and list(lst[1:3]._modules) == ["0", "1"]  # renumbered
    del lst[1]
    assert list(lst) == [ms[0], ms[2], ms[3]] and list(lst._modules) == ["0", "1", "2"]
    lst.insert(1, ms[1])
    assert list(lst) == ms
    assert [n for n, _ in lst.named_parameters()][-2:] == ["3.weight", "3.bias"]
    assert lst.pop(0) is ms[0] and len(lst) == 3
    with pytest.raises(IndexError):
        lst[5]


def test_module_dict():
    md = nn.ModuleDict({"b": nn.ReLU(), "a": nn.Tanh()})
    md["c"] = nn.Linear(1, 2)
    assert list(md) == ["b", "a", "c"] and len(md) == 3 and "a" in md
    assert [n for n, _ in md.named_parameters()] == ["c.weight", "c.bias"]
    del md["b"]
    assert list(md.keys()) == ["a", "c"] and isinstance(md.pop("a"), nn.Tanh)
    with pytest.raises(KeyError, match="'z'"):
        md["z"]


# ---- dtype and copies ----------------------------------------------------------------
def test_to_float64_converts_floats_in_place_and_keeps_integers(model):
    w = model.wte.weight
    model(tl.tensor([1, 2])).sum().backward()
    assert model.to(tl.float64) is model
    assert model.wte.weight is w and model.head.weight is w and w.dtype == tl.float64
    assert all(p.dtype == tl.float64 and p.grad.dtype == tl.float64 for p in model.parameters())
    assert model.step.dtype == tl.int64 and model.cache.dtype == tl.float64
    assert model(tl.tensor([1, 2])).dtype == tl.float64
    with pytest.raises(TypeError, match="floating point"):
        model.to(tl.int32)


def test_deepcopy_is_independent(model):
    clone = copy.deepcopy(model)
    clone.wte.weight.data[...] = 0
    assert clone.head.weight is clone.wte.weight      # the tie survives the copy
    assert not (model.wte.weight.data == 0).all()


# ---- init -------------------------------------------------------------------------
def test_calculate_gain_values():
    assert init.calculate_gain("linear") == init.calculate_gain("conv2d") == init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == 5.0 / 3
    assert init.calculate_gain("relu") == math.sqrt(2.0)
    assert init.calculate_gain("leaky_relu") == math.sqrt(2.0 / (1 + 0.01 ** 2))
    assert init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2.0 / 1.04)
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError):
        init.calculate_gain("swish")
    with pytest.raises(ValueError):
        init.calculate_gain("leaky_relu", True)


def _check_uniform(t, bound):
    v = t.detach().numpy()
    assert np.abs(v).max() <= bound and np.abs(v).max() > 0.99 * bound
    assert v.std() == pytest.approx(bound / math.sqrt(3), rel=0.03)


@pytest.mark.parametrize("shape", [(200, 300), (40, 30, 5)])
def test_init_bounds_and_statistics_follow_pytorchs_formulas(shape):
    tl.manual_seed(0)
    t = tl.empty(*shape)
    receptive = int(np.prod(shape[2:]))
    fan_in, fan_out = shape[1] * receptive, shape[0] * receptive
    _check_uniform(init.uniform_(t, -0.3, 0.3), 0.3)
    _check_uniform(init.xavier_uniform_(t, gain=2.0), 2.0 * math.sqrt(6.0 / (fan_in + fan_out)))
    _check_uniform(init.kaiming_uniform_(t, a=math.sqrt(5)), 1 / math.sqrt(fan_in))
    _check_uniform(init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu"), math.sqrt(6.0 / fan_out))
    std = init.xavier_normal_(t).numpy().std()
    assert std == pytest.approx(math.sqrt(2.0 / (fan_in + fan_out)), rel=0.03)
    assert init.kaiming_normal_(t, nonlinearity="tanh").numpy().std() == \
        pytest.approx(5.0 / 3 / math.sqrt(fan_in), rel=0.03)
    v = init.trunc_normal_(t, std=1.0, a=-0.5, b=0.5).numpy()
    assert v.min() >= -0.5 and v.max() <= 0.5
    assert init.normal_(t, 1.0, 2.0).numpy().mean() == pytest.approx(1.0, abs=0.05)
    assert (init.constant_(t, 0.5).numpy() == 0.5).all()
    assert t.dtype == tl.float32


def test_init_errors_and_zero_element_tensors():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(tl.empty(3))
    with pytest.raises(ValueError, match="fan_avg"):
        init.kaiming_uniform_(tl.empty(3, 3), mode="fan_avg")
    with pytest.warns(UserWarning, match="zero-element"):
        init.kaiming_uniform_(tl.empty(4, 0))
