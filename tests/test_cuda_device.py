"""The cuda device as a user meets it: Tensor.to/cuda/cpu, device= on the
creation functions, random tensors, errors (mixed devices; bad ids raised
at the next copy to the host, as PyTorch's device-side asserts), dropout and
greedy generation. The CPU path is the oracle: the same weights give the same
numbers on both devices within float32 rounding. test_cuda_training.py holds
the training step, optimizers and checkpoints.

Runs under NUMBA_ENABLE_CUDASIM=1 (the simulator process of make test) or on
a GPU; skipped elsewhere (tests/test_cuda_unavailable.py covers that case).
Models are tiny (1 layer, n_embd 8, T 4, B 2): every simulated launch costs
milliseconds."""
import copy

import numpy as np
import pytest

import tinylm as tl
import tinylm.nn.functional as F
from cuda_device_common import MODELS, V, close, host, on_device
from tinylm import nn
from tinylm.models import LSTMLM, RNNLMConfig

pytestmark = on_device


# -- the Tensor API --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_to_cuda_and_back_keeps_values_and_dtype(dtype):
    a = (np.arange(-3, 9).reshape(3, 4) % 5).astype(dtype)
    t = tl.tensor(a)
    with tl.cuda.transfers.counting() as copies:
        c = t.to("cuda")
    assert (copies.h2d, copies.h2d_bytes, copies.d2h) == (1, a.nbytes, 0)
    assert c.device == tl.device("cuda:0") and c.device == "cuda:0" and str(c.device) == "cuda:0"
    assert c.device.type == "cuda" and c.device.index == 0 and c.is_cuda
    assert c.device != tl.device("cuda")    # as torch.device("cuda:0") != torch.device("cuda")
    assert c.dtype == a.dtype and c.shape == a.shape
    for back in (c.cpu(), c.to("cpu"), c.to(tl.device("cpu"))):
        assert back.device == "cpu" and not back.is_cuda and back.dtype == a.dtype
        np.testing.assert_array_equal(back.numpy(), a)
    np.testing.assert_array_equal(t.cuda().cpu().numpy(), a)
    assert c.to("cuda") is c and t.to("cpu") is t and t.cpu() is t  # already there: itself, as torch


def test_to_device_and_dtype_at_once():
    t = tl.tensor([1.5, -2.25, 3.0])
    c = t.to("cuda", tl.float64)
    assert c.device.type == "cuda" and c.dtype == np.float64
    np.testing.assert_array_equal(host(c), [1.5, -2.25, 3.0])
    like = tl.zeros(1, dtype=tl.int64, device="cuda")
    m = t.to(like)  # t.to(other): other's device and dtype
    assert m.device.type == "cuda" and m.dtype == np.int64
    np.testing.assert_array_equal(host(m), [1, -2, 3])


def test_cuda_takes_an_index_or_a_device_as_torch():
    t = tl.tensor([1.0, 2.0])
    for arg in (None, 0, "cuda", "cuda:0", tl.device("cuda:0")):
        assert t.cuda(arg).device == "cuda:0", arg
    with pytest.raises(RuntimeError, match="cuda:1"):
        t.cuda(1)
    with pytest.raises(RuntimeError, match="expected a cuda device, got 'cpu'"):
        t.cuda("cpu")
    lin = nn.Linear(2, 3)
    assert lin.cuda(0) is lin and lin.weight.device == "cuda:0"
    lin.cpu()
    assert lin.cuda("cuda:0").bias.device == "cuda:0"


def test_tensor_of_a_list_of_cuda_scalars_reads_them():
    c = tl.tensor([1.5, -2.0], device="cuda")
    t = tl.tensor([c[1], c[0], 3.0])   # as torch.tensor([t0, t1]): a new cpu tensor
    assert t.device == "cpu"
    np.testing.assert_array_equal(t.numpy(), np.array([-2.0, 1.5, 3.0], np.float32))
    assert tl.tensor([c[0], c[1]], device="cuda").device == "cuda:0"


def test_view_that_needs_a_copy_raises_on_cuda_as_on_the_cpu():
    for device in ("cpu", "cuda"):
        t = tl.tensor(np.arange(8).reshape(2, 4), device=device)[:, 1:]
        with pytest.raises(RuntimeError, match="view size is not compatible"):
            t.view(-1)


def test_numpy_on_cuda_says_to_copy_with_cpu_first():
    c = tl.ones(2, device="cuda")
    with pytest.raises(TypeError, match=r"cuda.*Tensor\.cpu\(\)"):
        c.numpy()
    with pytest.raises(TypeError, match=r"cpu\(\)"):
        np.asarray(c)


def test_item_and_repr():
    c = tl.tensor([[2.5, -1.0]], device="cuda")
    assert c[0, 0].item() == 2.5 and isinstance(c[0, 1].item(), float)
    n = tl.tensor([7], device="cuda")
    assert n.item() == 7 and isinstance(n.item(), int)
    assert (c[0, 0] > 0).item() is True
    assert float(c.sum()) == 1.5
    assert repr(c) == "tensor([[ 2.5000, -1.0000]], device='cuda:0')"
    r = tl.tensor([1.0], device="cuda", dtype=tl.float64, requires_grad=True)
    assert repr(r) == "tensor([1.0000], device='cuda:0', dtype=tinylm.float64, requires_grad=True)"
    with pytest.raises(RuntimeError, match="cannot be converted to a Python scalar"):
        c.item()


def test_to_is_differentiable_across_devices():
    w = np.array([0.5, -2.0, 3.0], np.float32)
    x = tl.tensor([1.0, 2.0, 3.0], requires_grad=True)           # a cpu leaf
    y = x.to("cuda")
    assert y.requires_grad and y.grad_fn is not None
    (y * y * tl.tensor(w, device="cuda")).sum().backward()
    assert x.grad.device == "cpu"
    close(x.grad.numpy(), 2 * np.array([1.0, 2.0, 3.0]) * w)
    # and the other way: a cuda leaf used on the cpu gets its gradient on cuda
    z = tl.tensor([1.0, -1.0], device="cuda", requires_grad=True)
    (z.cpu() * tl.tensor([3.0, 4.0])).sum().backward()
    assert z.grad.device == "cuda:0"
    close(host(z.grad), [3.0, 4.0])


def test_cuda_leaves_get_their_grad_on_cuda():
    a = np.array([[1.0, 2.0], [3.0, -4.0]], np.float32)
    p = tl.tensor(a, device="cuda", requires_grad=True)
    q = tl.tensor(a, requires_grad=True)
    for t in (p, q):
        (t @ t).tanh().sum().backward()
    assert p.is_leaf and p.grad.device == "cuda:0" and p.grad.dtype == np.float32
    close(host(p.grad), q.grad.numpy())


def test_creation_functions_on_cuda():
    cases = {
        "tensor": (tl.tensor([[1, 2], [3, 4]], device="cuda"), np.array([[1, 2], [3, 4]])),
        "tensor f64": (tl.tensor([0.5], dtype=tl.float64, device="cuda"), np.array([0.5])),
        "zeros": (tl.zeros(2, 3, device="cuda"), np.zeros((2, 3), np.float32)),
        "ones": (tl.ones((2,), dtype=tl.float64, device="cuda"), np.ones(2)),
        "full int": (tl.full((2, 2), 7, device="cuda"), np.full((2, 2), 7)),
        "full float": (tl.full((3,), -0.5, device="cuda"), np.full(3, -0.5, np.float32)),
        "full bool": (tl.full((2,), True, device="cuda"), np.full(2, True)),
        "arange int": (tl.arange(5, device="cuda"), np.arange(5)),
        "arange step": (tl.arange(2, 11, 3, device=tl.device("cuda")), np.arange(2, 11, 3)),
        "arange float": (tl.arange(0, 1, 0.25, device="cuda"), np.arange(0, 1, 0.25, dtype=np.float32)),
        "arange int32": (tl.arange(4, dtype=tl.int32, device="cuda"), np.arange(4, dtype=np.int32)),
        "eye": (tl.eye(3, 4, device="cuda"), np.eye(3, 4, dtype=np.float32)),
        "linspace": (tl.linspace(-1, 1, 5, device="cuda"), np.linspace(-1, 1, 5, dtype=np.float32)),
    }
    for name, (t, want) in cases.items():
        assert t.device == "cuda:0", name
        assert t.dtype == want.dtype and t.shape == want.shape, name
        np.testing.assert_array_equal(host(t), want, err_msg=name)
    e = tl.empty(2, 3, device="cuda")
    assert e.device == "cuda:0" and e.shape == (2, 3) and e.dtype == np.float32
    r = tl.zeros(3, device="cuda", requires_grad=True)
    assert r.requires_grad and r.is_leaf


def test_filled_tensors_are_made_on_the_device_without_a_copy():
    with tl.cuda.transfers.counting() as copies:
        tl.zeros(64, device="cuda")
        tl.full((4, 4), 2.0, device="cuda")
        tl.arange(10, device="cuda")
        tl.randn(8, device="cuda")
    assert (copies.h2d, copies.d2h) == (0, 0)


def test_like_functions_keep_the_device_and_dtype_of_their_argument():
    c = tl.tensor([[1.0, 2.0]], dtype=tl.float64, device="cuda")
    for name, t, value in (("zeros_like", tl.zeros_like(c), 0.0), ("ones_like", tl.ones_like(c), 1.0),
                           ("full_like", tl.full_like(c, 3.5), 3.5)):
        assert t.device == "cuda:0" and t.dtype == np.float64 and t.shape == (1, 2), name
        np.testing.assert_array_equal(host(t), np.full((1, 2), value), err_msg=name)
    assert tl.empty_like(c).device == "cuda:0"
    assert tl.zeros_like(c, device="cpu").device == "cpu"
    assert tl.ones_like(tl.zeros(2), device="cuda").device == "cuda:0"
    n = tl.randn_like(c)
    assert n.device == "cuda:0" and n.dtype == np.float64


def test_random_tensors_on_cuda_shapes_ranges_and_seeding():
    tl.manual_seed(3)
    n, u, i = tl.randn(40, 50, device="cuda"), tl.rand(2000, device="cuda", dtype=tl.float64), \
        tl.randint(-2, 5, (2000,), device="cuda")
    assert (n.shape, n.dtype, u.dtype, i.dtype) == ((40, 50), np.float32, np.float64, np.int64)
    assert n.device == u.device == i.device == "cuda:0"
    hn, hu, hi = host(n), host(u), host(i)
    assert abs(hn.mean()) < 0.1 and abs(hn.std() - 1) < 0.1          # 2000 normals: se ~0.02
    assert hu.min() >= 0 and hu.max() < 1 and abs(hu.mean() - 0.5) < 0.05
    assert set(np.unique(hi)) == set(range(-2, 5))                     # every value of [low, high)
    assert len(np.unique(hn)) == hn.size                               # no repeated counters
    tl.manual_seed(3)
    np.testing.assert_array_equal(host(tl.randn(40, 50, device="cuda")), hn)
    np.testing.assert_array_equal(host(tl.rand(2000, device="cuda", dtype=tl.float64)), hu)
    np.testing.assert_array_equal(host(tl.randint(-2, 5, (2000,), device="cuda")), hi)
    assert not np.array_equal(host(tl.randn(40, 50, device="cuda")), hn)  # the stream moved on
    small = tl.randint(4, (3, 2), device="cuda")                        # randint(high, size)
    assert small.shape == (3, 2) and host(small).min() >= 0 and host(small).max() < 4


# -- errors ----------------------------------------------------------------------------------------

def test_mixing_devices_raises_naming_both():
    a, b = tl.ones(2, 2), tl.ones(2, 2, device="cuda")
    for op in (lambda x, y: x + y, lambda x, y: x * y, lambda x, y: x @ y):
        for x, y in ((a, b), (b, a)):
            with pytest.raises(RuntimeError, match=r"(cuda:0.*cpu|cpu.*cuda:0)"):
                op(x, y)
    with pytest.raises(RuntimeError, match=r"(cuda:0.*cpu|cpu.*cuda:0)"):
        F.cross_entropy(tl.zeros(2, 3, device="cuda"), tl.tensor([0, 1]))
    model = LSTMLM(RNNLMConfig(vocab_size=V, n_embd=8, hidden_size=8, n_layer=1)).to("cuda")
    with pytest.raises(RuntimeError, match=r"(cuda:0.*cpu|cpu.*cuda:0)"):
        model(tl.tensor([[1, 2]]))   # ids left on the host


def test_unknown_or_second_gpu_is_refused():
    with pytest.raises(RuntimeError, match="cuda:1"):
        tl.ones(2).to("cuda:1")
    with pytest.raises(RuntimeError, match="unknown device type 'tpu'"):
        tl.zeros(2, device="tpu")


def test_bad_embedding_id_raises_at_the_next_copy_to_host():
    emb = nn.Embedding(5, 3).to("cuda")
    ids = tl.tensor([[1, 7]], device="cuda")
    out = emb(ids)  # recorded on the device: no copy, no error yet
    assert out.shape == (1, 2, 3)
    with pytest.raises(IndexError, match=r"embedding_forward: index 7 is out of range for a table of 5 rows"):
        out.sum().item()
    assert tl.ones(1, device="cuda").item() == 1.0  # read once: the register is clear again
    emb(tl.tensor([[0, -1]], device="cuda"))
    with pytest.raises(IndexError, match=r"index -1 is out of range for a table of 5 rows"):
        tl.zeros(2, device="cuda").cpu()


def test_bad_cross_entropy_target_raises_at_the_next_item():
    logits = tl.zeros(3, 4, device="cuda", requires_grad=True)
    loss = F.cross_entropy(logits, tl.tensor([0, 9, 2], device="cuda"))
    with pytest.raises(IndexError, match=r"target 9 is out of bounds for 4 classes"):
        loss.item()
    ok = F.cross_entropy(logits, tl.tensor([0, 3, -100], device="cuda"))  # ignore_index is fine
    close(ok.item(), np.log(4), rtol=1e-6)


def test_dropout_on_cuda_trains_and_repeats_after_manual_seed():
    x = tl.ones(4000, device="cuda", requires_grad=True)
    drop = nn.Dropout(0.25)
    tl.manual_seed(5)
    y = drop(x)
    y.sum().backward()
    hy, hg = host(y), host(x.grad)
    assert y.device == "cuda:0" and set(np.unique(hy)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((hy == 0).mean() - 0.25) < 0.04
    np.testing.assert_array_equal(hg, hy)   # d(x * mask / 0.75) / dx = mask / 0.75
    tl.manual_seed(5)
    np.testing.assert_array_equal(host(drop(x)), hy)
    assert not np.array_equal(host(drop(x)), hy)
    drop.eval()
    np.testing.assert_array_equal(host(drop(x)), np.ones(4000, np.float32))


# -- generation -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["gpt", "lstm"])
def test_greedy_generation_on_cuda_matches_cpu(name):
    tl.manual_seed(2)
    cpu = MODELS[name]().eval()
    with tl.no_grad():  # larger weights: logits far apart, so the greedy tokens vary
        for p in cpu.parameters():
            p.data[...] = p.data * 10
    dev = copy.deepcopy(cpu).to("cuda")
    prompt = np.array([[3, 1], [7, 7]])
    # 4 new tokens: past block_size (T 4) GPT's window slides and its cache refills
    want = cpu.generate(tl.tensor(prompt), 4, temperature=0).numpy()
    assert len(np.unique(want[:, 2:])) > 3   # not one token repeated: a real comparison
    out = dev.generate(tl.tensor(prompt, device="cuda"), 4, temperature=0)
    assert out.device == "cuda:0" and out.dtype == np.int64 and out.shape == (2, 6)
    np.testing.assert_array_equal(host(out), want)
    if name == "lstm":  # a host prompt works too; and without the carried state
        np.testing.assert_array_equal(host(dev.generate(tl.tensor(prompt), 4, temperature=0)), want)
        np.testing.assert_array_equal(host(dev.generate(prompt, 4, temperature=0, use_cache=False)), want)
