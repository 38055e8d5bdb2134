"""Optimizers and schedulers against the update rules written out in NumPy
(float64) and the closed forms of the schedules."""
import math

import numpy as np
import pytest

import tinylm as tl
from tinylm.nn import Parameter
from tinylm.optim import SGD, Adam, AdamW
from tinylm.optim import lr_scheduler as S


def _params(rng, shapes=((4, 3), (3,))):
    return [Parameter(tl.tensor(rng.standard_normal(s))) for s in shapes]  # float64


def _run(opt_cls, kwargs, steps=5, seed=0):
    """Run steps of opt_cls on float64 params with random grads; returns the
    params' arrays and the grads used."""
    rng = np.random.default_rng(seed)
    ps = _params(rng)
    start = [p.data.copy() for p in ps]
    opt = opt_cls(ps, **kwargs)
    grads = []
    for _ in range(steps):
        g = [rng.standard_normal(p.shape) for p in ps]
        for p, gi in zip(ps, g):
            p.grad = tl.tensor(gi)
        opt.step()
        grads.append(g)
    return start, grads, [p.data for p in ps]


def _sgd_ref(p, grads, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False):
    buf = None
    for g in grads:
        g = -g if maximize else g
        g = g + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


def _adam_ref(p, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
              decoupled=False, maximize=False):
    m = v = vmax = np.zeros_like(p)
    for t, g in enumerate(grads, 1):
        g = -g if maximize else g
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        vmax = np.maximum(vmax, v)
        denom = np.sqrt(vmax if amsgrad else v) / math.sqrt(1 - betas[1] ** t) + eps
        p = p - lr / (1 - betas[0] ** t) * m / denom
    return p


@pytest.mark.parametrize("kwargs", [
    dict(lr=0.1), dict(lr=0.1, momentum=0.9), dict(lr=0.05, momentum=0.9, dampening=0.5, weight_decay=0.1),
    dict(lr=0.1, momentum=0.8, nesterov=True), dict(lr=0.1, momentum=0.5, maximize=True)])
def test_sgd_matches_update_rule(kwargs):
    start, grads, got = _run(SGD, kwargs)
    for i, p0 in enumerate(start):
        want = _sgd_ref(p0, [g[i] for g in grads], **kwargs)
        np.testing.assert_allclose(got[i], want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls, kwargs, decoupled", [
    (Adam, dict(lr=0.01), False), (Adam, dict(lr=0.01, weight_decay=0.1, amsgrad=True), False),
    (Adam, dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, maximize=True), False),
    (AdamW, dict(lr=0.01), True), (AdamW, dict(lr=0.01, weight_decay=0.3, amsgrad=True), True)])
def test_adam_and_adamw_match_update_rule(cls, kwargs, decoupled):
    start, grads, got = _run(cls, kwargs)
    if cls is AdamW:
        kwargs = {"weight_decay": 1e-2, **kwargs}
    for i, p0 in enumerate(start):
        want = _adam_ref(p0, [g[i] for g in grads], decoupled=decoupled, **kwargs)
        np.testing.assert_allclose(got[i], want, rtol=1e-10, atol=1e-12)


def test_param_groups_have_their_own_lr_and_weight_decay():
    rng = np.random.default_rng(1)
    a, b = _params(rng)
    a0, b0 = a.data.copy(), b.data.copy()
    opt = AdamW([{"params": [a]}, {"params": [b], "weight_decay": 0.0, "lr": 0.1}], lr=0.01, weight_decay=0.5)
    ga, gb = rng.standard_normal(a.shape), rng.standard_normal(b.shape)
    a.grad, b.grad = tl.tensor(ga), tl.tensor(gb)
    opt.step()
    np.testing.assert_allclose(a.data, _adam_ref(a0, [ga], lr=0.01, weight_decay=0.5, decoupled=True), rtol=1e-12)
    np.testing.assert_allclose(b.data, _adam_ref(b0, [gb], lr=0.1, weight_decay=0.0, decoupled=True), rtol=1e-12)


def test_params_without_grad_are_skipped_and_zero_grad():
    rng = np.random.default_rng(2)
    a, b = _params(rng)
    b0 = b.data.copy()
    opt = SGD([a, b], lr=0.1)
    a.grad = tl.ones(*a.shape, dtype=tl.float64)
    opt.step()
    np.testing.assert_array_equal(b.data, b0)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad.data, 0)
    opt.zero_grad()
    assert a.grad is None


def test_state_dict_round_trip_continues_identically():
    start, grads, _ = _run(Adam, dict(lr=0.01, amsgrad=True), steps=3)
    rng = np.random.default_rng(3)
    p1, p2 = (Parameter(tl.tensor(start[0].copy())) for _ in range(2))
    o1 = Adam([p1], lr=0.01, amsgrad=True)
    for g in grads:
        p1.grad = tl.tensor(g[0])
        o1.step()
    p2.data[...] = p1.data
    o2 = Adam([p2], lr=0.5)
    o2.load_state_dict(o1.state_dict())
    assert o2.param_groups[0]["lr"] == 0.01
    g = rng.standard_normal(p1.shape)
    for p, o in ((p1, o1), (p2, o2)):
        p.grad = tl.tensor(g)
        o.step()
    np.testing.assert_array_equal(p1.data, p2.data)


def test_bad_arguments_are_named():
    p = _params(np.random.default_rng(0))
    with pytest.raises(ValueError, match="Invalid learning rate"):
        SGD(p, lr=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="beta parameter at index 1"):
        Adam(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam([])
    with pytest.raises(ValueError, match="more than one parameter group"):
        SGD([{"params": p}, {"params": p[:1]}], lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size"):
        SGD(p, lr=0.1).load_state_dict(SGD(p[:1], lr=0.1).state_dict())


# ---- schedules ------------------------------------------------------------------


def _lrs(make, steps=30, lr=0.5):
    opt = SGD([Parameter(tl.zeros(1))], lr=lr)
    sched = make(opt)
    out = [opt.param_groups[0]["lr"]]
    for _ in range(steps):
        opt.step()
        sched.step()
        out.append(opt.param_groups[0]["lr"])
    assert sched.get_last_lr() == [out[-1]]
    return np.array(out)


def test_schedules_follow_their_closed_forms():
    t = np.arange(31)
    np.testing.assert_allclose(_lrs(lambda o: S.StepLR(o, 7, 0.3)), 0.5 * 0.3 ** (t // 7), rtol=1e-12)
    np.testing.assert_allclose(_lrs(lambda o: S.LambdaLR(o, lambda e: 1 / (e + 1))), 0.5 / (t + 1), rtol=1e-12)
    lin = 0.1 + (0.9 - 0.1) * np.minimum(t, 13) / 13
    np.testing.assert_allclose(_lrs(lambda o: S.LinearLR(o, 0.1, 0.9, 13)), 0.5 * lin, rtol=1e-12)
    T, lo = 11, 0.01  # past T_max the cosine climbs back, as PyTorch's does
    cos = lo + (0.5 - lo) * (1 + np.cos(np.pi * t / T)) / 2
    np.testing.assert_allclose(_lrs(lambda o: S.CosineAnnealingLR(o, T, lo)), cos, rtol=1e-10, atol=1e-12)


def test_warmup_then_cosine_with_sequential_lr():
    W, T = 10, 20

    def make(o):
        return S.SequentialLR(o, [S.LinearLR(o, 1e-3, 1.0, W), S.CosineAnnealingLR(o, T, 1e-4)], [W])
    got = _lrs(make)
    t = np.arange(31)
    warm = 0.5 * (1e-3 + (1 - 1e-3) * t / W)
    cos = 1e-4 + (0.5 - 1e-4) * (1 + np.cos(np.pi * (t - W) / T)) / 2
    np.testing.assert_allclose(got, np.where(t < W, warm, cos), rtol=1e-10)


def test_scheduler_state_dict_resumes():
    def make(o):
        return S.SequentialLR(o, [S.LinearLR(o, 0.2, 1.0, 4), S.StepLR(o, 3, 0.5)], [4])
    opt = SGD([Parameter(tl.zeros(1))], lr=1.0)
    sched = make(opt)
    for _ in range(6):
        sched.step()
    state, lr = sched.state_dict(), opt.param_groups[0]["lr"]
    opt2 = SGD([Parameter(tl.zeros(1))], lr=1.0)
    sched2 = make(opt2)
    sched2.load_state_dict(state)
    opt2.param_groups[0]["lr"] = lr
    for _ in range(5):
        sched.step()
        sched2.step()
        assert opt.param_groups[0]["lr"] == opt2.param_groups[0]["lr"]
