"""Every op of the op table (op_table.py CASES, op_table_nn.py NN_CASES) on
the cuda device against the same op on the CPU: outputs in float32 and
float64 (values, dtypes, shapes), then the gradient of every input for
L = sum over outputs o of sum(o * u_o), u_o a fixed random upstream
gradient. The CPU path is the oracle here; test_ops.py checks it against
NumPy and finite differences.

Also: an op without a cuda implementation raises NotImplementedError
naming it, and mixing a cpu and a cuda tensor in one op raises a
RuntimeError naming both devices, as PyTorch does.

Runs under NUMBA_ENABLE_CUDASIM=1 (make test runs it in its simulator
process) or on a GPU; skipped elsewhere. Each simulated kernel launch
costs milliseconds, so hypothesis draws few examples per op."""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import tinylm as tl
import tinylm.nn.functional as F
from op_table import CASES, Case
from op_table_nn import NN_CASES
from device_marks import on_device


ALL = CASES + NN_CASES
# examples per op: few under the simulator; TINYLM_CUDA_EXAMPLES=40 on a GPU, or to hunt bugs
FEW = settings(max_examples=int(os.environ.get("TINYLM_CUDA_EXAMPLES", "8")), deadline=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

MAX_ELEMENTS = 256  # per output; larger draws (repeat's) are skipped
# (rtol, atol) per dtype; the CPU result is the reference
TOLERANCES = {np.float64: (1e-10, 1e-12), np.float32: (1e-5, 1e-6)}
# Looser (rtol, atol) per (case, dtype), each with its reason. Keep it short.
LOOSER = {}


def to_device(a, dtype, device, grad):
    """Float arrays become tensors of `dtype` on `device` (leaves that
    require grad if `grad`); int/bool arrays tensors of their own dtype;
    lists and tuples (cat's inputs, index keys) element by element."""
    if isinstance(a, np.ndarray):
        if a.dtype.kind == "f":
            return tl.tensor(a.astype(dtype), device=device, requires_grad=grad)
        return tl.tensor(a, device=device)
    if isinstance(a, (list, tuple)):
        return type(a)(to_device(x, dtype, device, grad) for x in a)
    return a


def as_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def leaves(args):
    """The tensors of args (lists spread out) that require grad."""
    out = []
    for a in args:
        if isinstance(a, (list, tuple)):
            out.extend(leaves(a))
        elif isinstance(a, tl.Tensor) and a.requires_grad:
            out.append(a)
    return out


def host(t):
    return t.detach().cpu().numpy()


def run(case, args, kw, dtype, device):
    """(outputs, input grads) of case on device, as NumPy arrays, checking
    that everything it returns lives on that device."""
    targs = [to_device(a, dtype, device, True) for a in args]
    tkw = {k: to_device(v, dtype, device, False) for k, v in kw.items()}
    outs = as_list(case.op(*targs, **tkw))
    for o in outs:
        assert isinstance(o, tl.Tensor) and o.device.type == device, \
            f"{case.name}: an output is on {getattr(o, 'device', type(o).__name__)}, not {device}"
    rng = np.random.default_rng(7)  # the same upstream gradients on both devices
    loss = None
    for o in outs:
        u = rng.standard_normal(o.shape).astype(o.dtype) if o.dtype.kind == "f" else None
        if u is not None and o.requires_grad:
            term = (o * tl.tensor(u, device=device)).sum()
            loss = term if loss is None else loss + term
    grads = []
    if loss is not None:
        loss.backward()
        for x in leaves(targs):
            g = x.grad
            if g is None:
                grads.append(None)
                continue
            assert g.device.type == device, f"{case.name}: a gradient is on {g.device}, not {device}"
            assert g.shape == x.shape and g.dtype == x.dtype, f"{case.name}: grad {g.shape} {g.dtype}"
            grads.append(host(g))
    return [host(o) for o in outs], grads


def compare(what, got, want, dtype, case):
    assert got.shape == want.shape, f"{what}: shape {got.shape} on cuda, {want.shape} on cpu"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} on cuda, {want.dtype} on cpu"
    if want.dtype.kind == "f":
        rtol, atol = LOOSER.get((case.name, dtype), TOLERANCES[dtype])
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


@on_device
@pytest.mark.parametrize("case", ALL, ids=lambda c: c.name)
@FEW
@given(data=st.data())
def test_op_on_cuda_matches_cpu(case, data):
    args, kw = data.draw(case.inputs)
    check_case(case, args, kw, drawn=True)


def check_case(case, args, kw, drawn=False):
    """case on cpu and cuda, float64 then float32: outputs and input grads
    agree. Drawn inputs whose outputs are large are skipped."""
    for dtype in (np.float64, np.float32):
        want_out, want_grad = run(case, args, kw, dtype, "cpu")
        # a simulated reduction costs ~ms per output element: keep examples small
        if drawn:
            assume(max((o.size for o in want_out), default=0) <= MAX_ELEMENTS)
        got_out, got_grad = run(case, args, kw, dtype, "cuda")
        name = f"{case.name} in {np.dtype(dtype)}"
        assert len(got_out) == len(want_out), f"{name}: {len(got_out)} outputs, cpu {len(want_out)}"
        for i, (g, w) in enumerate(zip(got_out, want_out)):
            compare(f"{name}: output {i}", g, w, dtype, case)
        assert len(got_grad) == len(want_grad)
        for i, (g, w) in enumerate(zip(got_grad, want_grad)):
            assert (g is None) == (w is None), f"{name}: grad of input {i} is None on one device only"
            if w is not None:
                compare(f"{name}: grad of input {i}", g, w, dtype, case)


# ---- ops the table leaves out (no NumPy reference or gradient to check there):
# comparisons, logic, in-place writes, setitem and a few methods, on fixed inputs

def _fixed(*arrays, **kw):
    return st.just((list(arrays), kw))


_R = np.random.default_rng(5)
A, B, M = _R.standard_normal((3, 4)), _R.standard_normal((1, 4)), _R.random((3, 4)) > 0.5
A3 = _R.standard_normal((2, 3, 4))
IDX = np.array([2, 0, 2])


def _written(fn):
    """fn(y, *rest) on a copy y of x outside the graph (in-place writes
    refuse a tensor that requires grad); returns y."""
    def op(x, *rest):
        y = x.detach().clone()
        with tl.no_grad():
            fn(y, *rest)
        return y
    return op


def _setitems(y, b, m, idx):
    y[0] = 1.5
    y[:, 1] = b[0, :3]
    y[1:, ::2] = b[:, :2] * 2
    y[idx] = b  # row 2 picked twice (with equal values: which write wins is unspecified)
    y[m] = -3.0
    y[~m] = y[~m] * 2 + 1  # an array of values through a mask


MORE_CASES = [
    Case("compare", _fixed(A, B), lambda a, b: [a == b, a != a, a < b, a <= 0.5, a > b, a >= b, 0 < a],
         None, grad=False),
    Case("logic", _fixed(A, B), lambda a, b: [(a > 0) & (b > 0), (a > 0) | (b > 0), ~(a > 0),
                                              tl.logical_and(a > 0, b < 0), tl.logical_or(a > 0, b < 0),
                                              tl.logical_not(a > 0)], None, grad=False),
    Case("all_any", _fixed(A), lambda a: [(a > -9).all(), (a > 0).all(dim=1), (a > 0).any(),
                                          (a > 0).any(dim=0, keepdim=True)], None, grad=False),
    Case("inplace", _fixed(A, B), _written(lambda y, b: (y.add_(b), y.mul_(b), y.sub_(1.5), y.div_(2.0),
                                                          y.clamp_(-0.5, 0.5))), None, grad=False),
    Case("fill_zero_copy", _fixed(A, B), lambda a, b: [_written(lambda y: y.fill_(2.5))(a),
                                                       _written(lambda y: y.zero_())(a),
                                                       _written(lambda y, b: y.copy_(b))(a, b)],
         None, grad=False),
    Case("setitem", _fixed(A, B, M, IDX), _written(_setitems), None, grad=False),
    Case("methods", _fixed(A, B, M), lambda a, b, m: [a.repeat_interleave(2, 0), b.expand_as(a), a.t(),
                                                       a.softmax(-1), a.log_softmax(0), a.where(m, b),
                                                       a.masked_fill(m, tl.tensor(0.5).to(a.dtype)),
                                                       a.reshape_as(a.T), a.mT, a.flatten()[3:]], None),
    # ints beside index arrays are advanced indices too: x[0, :, [1, 3]] puts the indexed dim first
    Case("getitem_mixed", _fixed(A3), lambda x: [x[0, :, [1, 3]], x[[1, 0], :, [3, 3]], x[:, [2, 0], 1],
                                                 x[None, 1, [0, 0], None], x[..., [1]], x[x > 0.5],
                                                 x[1, [[0], [2]], [1, 2]]], None),
    Case("int_ops", _fixed(IDX), lambda i: [i + 1, i * 2, i - 3, i.sum(), i.max(),
                                            i.float().mean(), (i == 2).sum()], None, grad=False),
]


@on_device
@pytest.mark.parametrize("case", MORE_CASES, ids=lambda c: c.name)
@settings(FEW, max_examples=1)
@given(data=st.data())
def test_other_op_on_cuda_matches_cpu(case, data):
    args, kw = data.draw(case.inputs)
    check_case(case, args, kw)


def test_the_table_covers_every_op():
    """No case is left out of the cuda run, every loosened tolerance names a
    case that exists, and every F function has a case."""
    names = [c.name for c in ALL]
    assert len(names) == len(set(names))
    params = test_op_on_cuda_matches_cpu.pytestmark
    ran = [c.name for m in params if m.name == "parametrize" for c in m.args[1]]
    assert ran == names
    assert not {c for c, _ in LOOSER} - set(names), "LOOSER names a case that is not in the table"
    missing = [f for f in F.__all__ if not any(n == f"F.{f}" or n.startswith(f"F.{f}_") for n in names)]
    assert not missing, f"functions of tinylm.nn.functional with no case in op_table_nn.py: {missing}"


# ---- what has no cuda path fails loudly -------------------------------------------

@on_device
def test_a_numpy_function_without_cuda_path_raises_naming_it():
    x = tl.arange(6, device="cuda").float()
    with pytest.raises(NotImplementedError, match="numpy.cumsum"):
        np.cumsum(x.data)
    with pytest.raises(TypeError, match="cuda"):  # no silent copy to the host
        np.asarray(x.data)


@on_device
def test_a_registry_kernel_without_cuda_version_raises_naming_it():
    from tinylm.backend import kernels_for
    x = tl.zeros(2, 3, device="cuda")
    with pytest.raises(NotImplementedError, match="gpt_decode"):
        kernels_for(x.data).gpt_decode(x.data)


@on_device
@pytest.mark.parametrize("op", ["add", "matmul", "cat", "where"])
def test_mixing_devices_raises_naming_both(op):
    a = tl.ones(2, 2)
    b = tl.ones(2, 2, device="cuda")
    calls = {"add": lambda x, y: x + y, "matmul": lambda x, y: x @ y,
             "cat": lambda x, y: tl.cat([x, y]), "where": lambda x, y: tl.where(x > 0, x, y)}
    for x, y in ((a, b), (b, a)):
        with pytest.raises(RuntimeError, match=r"(cuda.*cpu|cpu.*cuda)"):
            calls[op](x, y)
    if op in ("add", "where"):  # as in PyTorch, a 0-d cpu tensor acts as a scalar beside cuda tensors
        assert calls[op](b, tl.tensor(2.0)).device.type == "cuda"
