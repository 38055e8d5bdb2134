"""The benchmark cases behind bench_kernels.py: for each kernel, fixed
float32 inputs at a realistic size, the same maths written as plain float32
NumPy (the "composite" a NumPy user would write) and the PyTorch equivalent.

Each case is a function (rng) -> (args, numpy_composite, torch_builder):
  args              the kernel's positional arguments
  numpy_composite   a zero-argument callable, or None where none exists
  torch_builder     (torch) -> zero-argument callable, or None
"""
import math

import numpy as np

f32 = np.float32
DEVICE = "cpu"  # where the torch equivalents run; gpu_check.py sets "cuda"


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _t(torch, *arrays):
    return [torch.from_numpy(np.ascontiguousarray(a)).to(DEVICE) for a in arrays]


def softmax_forward(rng):
    x = rng.standard_normal((2048, 96)).astype(f32) * 3

    def composite():
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    return (x,), composite, lambda torch: (lambda t=_t(torch, x)[0]: torch.softmax(t, -1))


def softmax_backward(rng):
    dy = rng.standard_normal((2048, 96)).astype(f32)
    y = softmax_forward(rng)[1]()
    return ((dy, y), lambda: y * (dy - (dy * y).sum(-1, keepdims=True)),
            lambda torch: (lambda a=_t(torch, dy, y): torch._softmax_backward_data(a[0], a[1], -1, torch.float32)))


def log_softmax_forward(rng):
    x = rng.standard_normal((2048, 96)).astype(f32) * 3

    def composite():
        z = x - x.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))
    return (x,), composite, lambda torch: (lambda t=_t(torch, x)[0]: torch.log_softmax(t, -1))


def log_softmax_backward(rng):
    dy = rng.standard_normal((2048, 96)).astype(f32)
    y = log_softmax_forward(rng)[1]()
    return ((dy, y), lambda: dy - np.exp(y) * dy.sum(-1, keepdims=True),
            lambda torch: (lambda a=_t(torch, dy, y): torch._log_softmax_backward_data(a[0], a[1], -1, torch.float32)))


def gelu_forward(rng):
    x = rng.standard_normal(32 * 64 * 512).astype(f32)
    tanh_approx = lambda: 0.5 * x * (1 + np.tanh(f32(math.sqrt(2 / math.pi)) * (x + f32(0.044715) * x ** 3)))
    return (x, "none"), tanh_approx, lambda torch: (lambda t=_t(torch, x)[0]: torch.nn.functional.gelu(t))


def gelu_backward(rng):
    x, g = (rng.standard_normal(32 * 64 * 512).astype(f32) for _ in range(2))
    return ((g, x, "none"), None,
            lambda torch: (lambda a=_t(torch, g, x): torch.ops.aten.gelu_backward(a[0], a[1])))


def cross_entropy_forward(rng):
    """forward + backward together: the kernel computes both in one pass."""
    N, C = 2048, 96
    x = rng.standard_normal((N, C)).astype(f32) * 3
    t = rng.integers(0, C, N)

    def composite():
        z = x - x.max(1, keepdims=True)
        lp = z - np.log(np.exp(z).sum(1, keepdims=True))
        loss = -lp[np.arange(N), t].mean()
        grad = np.exp(lp)
        grad[np.arange(N), t] -= 1
        return loss, grad / N

    def torch_fn(torch):
        xt, tt = _t(torch, x, t)
        xt.requires_grad_()

        def run():
            xt.grad = None
            torch.nn.functional.cross_entropy(xt, tt).backward()
        return run
    return (x, t, None, -100, 0.0, "mean"), composite, torch_fn


def _lstm_parts(rng, B=32, H=256):
    gates = rng.standard_normal((B, 4 * H)).astype(f32) * 2
    c_prev = rng.standard_normal((B, H)).astype(f32)
    return gates, c_prev


def lstm_cell_forward(rng):
    gates, c_prev = _lstm_parts(rng)

    def composite():
        i, f, g, o = np.split(gates, 4, axis=1)
        c = _sig(f) * c_prev + _sig(i) * np.tanh(g)
        return _sig(o) * np.tanh(c), c

    def torch_fn(torch):
        g_t, c_t = _t(torch, gates, c_prev)

        def run():
            i, f, g, o = g_t.chunk(4, 1)
            c = torch.sigmoid(f) * c_t + torch.sigmoid(i) * torch.tanh(g)
            return torch.sigmoid(o) * torch.tanh(c)
        return run
    return (gates, c_prev), composite, torch_fn


def lstm_cell_backward(rng):
    gates, c_prev = _lstm_parts(rng)
    B, H = c_prev.shape
    i, f, g, o = _sig(gates[:, :H]), _sig(gates[:, H:2 * H]), np.tanh(gates[:, 2 * H:3 * H]), _sig(gates[:, 3 * H:])
    c = f * c_prev + i * g
    acts = np.concatenate([i, f, g, o], 1)
    dh, dc = (rng.standard_normal((B, H)).astype(f32) for _ in range(2))

    def composite():
        tc = np.tanh(c)
        dct = dc + dh * o * (1 - tc * tc)
        return np.concatenate([dct * g * i * (1 - i), dct * c_prev * f * (1 - f),
                               dct * i * (1 - g * g), dh * tc * o * (1 - o)], 1), dct * f
    return (dh, dc, c_prev, c, acts), composite, None


def _gru_parts(rng, B=32, H=256):
    gi, gh = (rng.standard_normal((B, 3 * H)).astype(f32) * 2 for _ in range(2))
    return gi, gh, rng.uniform(-1, 1, (B, H)).astype(f32)


def gru_cell_forward(rng):
    gi, gh, h = _gru_parts(rng)

    def composite():
        ir, iz, in_ = np.split(gi, 3, 1)
        hr, hz, hn = np.split(gh, 3, 1)
        r, z = _sig(ir + hr), _sig(iz + hz)
        n = np.tanh(in_ + r * hn)
        return (1 - z) * n + z * h
    return (gi, gh, h), composite, None


def gru_cell_backward(rng):
    gi, gh, h = _gru_parts(rng)
    H = h.shape[1]
    r, z = _sig(gi[:, :H] + gh[:, :H]), _sig(gi[:, H:2 * H] + gh[:, H:2 * H])
    hn = gh[:, 2 * H:]
    n = np.tanh(gi[:, 2 * H:] + r * hn)
    acts = np.concatenate([r, z, n, hn], 1)
    dh = rng.standard_normal(h.shape).astype(f32)

    def composite():
        dn = dh * (1 - z) * (1 - n * n)
        dz = dh * (h - n) * z * (1 - z)
        dr = dn * hn * r * (1 - r)
        return np.concatenate([dr, dz, dn], 1), np.concatenate([dr, dz, dn * r], 1), dh * z
    return (dh, h, acts), composite, None


def layernorm_forward(rng):
    x = rng.standard_normal((2048, 128)).astype(f32)
    w, b = (rng.standard_normal(128).astype(f32) for _ in range(2))

    def composite():
        mu = x.mean(-1, keepdims=True)
        rstd = 1 / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + f32(1e-5))
        return (x - mu) * rstd * w + b, mu, rstd
    return ((x, w, b, 1e-5), composite,
            lambda torch: (lambda a=_t(torch, x, w, b): torch.native_layer_norm(a[0], [128], a[1], a[2], 1e-5)))


def layernorm_backward(rng):
    x = rng.standard_normal((2048, 128)).astype(f32)
    w = rng.standard_normal(128).astype(f32)
    dy = rng.standard_normal(x.shape).astype(f32)
    mu = x.mean(-1)
    rstd = (1 / np.sqrt(x.var(-1) + 1e-5)).astype(f32)

    def composite():
        xhat = (x - mu[:, None]) * rstd[:, None]
        dxhat = dy * w
        dx = rstd[:, None] * (dxhat - dxhat.mean(-1, keepdims=True) - xhat * (dxhat * xhat).mean(-1, keepdims=True))
        return dx, (dy * xhat).sum(0), dy.sum(0)

    def torch_fn(torch):
        a = _t(torch, dy, x, w, mu[:, None], rstd[:, None])
        return lambda: torch.ops.aten.native_layer_norm_backward(a[0], a[1], [128], a[3], a[4], a[2], None,
                                                                 [True, True, False])
    return (dy, x, w, mu, rstd), composite, torch_fn


def embedding_forward(rng):
    ids, w = rng.integers(0, 8192, (32, 64)), rng.standard_normal((8192, 128)).astype(f32)
    return (ids, w), lambda: w[ids], lambda torch: (lambda a=_t(torch, ids, w): torch.nn.functional.embedding(a[0], a[1]))


def embedding_backward(rng):
    ids = rng.integers(0, 8192, (32, 64))
    dout = rng.standard_normal((32, 64, 128)).astype(f32)

    def composite():
        dw = np.zeros((8192, 128), f32)
        np.add.at(dw, ids.reshape(-1), dout.reshape(-1, 128))
        return dw
    return ((dout, ids, 8192, -1), composite,
            lambda torch: (lambda a=_t(torch, dout, ids): torch.ops.aten.embedding_dense_backward(a[0], a[1], 8192, -1, False)))


def _attention_inputs(rng):
    return [rng.standard_normal((8, 4, 128, 32)).astype(f32) for _ in range(3)]


def _np_attention(q, k, v):
    s = q @ k.swapaxes(-1, -2) / f32(math.sqrt(32))
    s = np.where(np.tril(np.ones((128, 128), bool)), s, -np.inf)
    e = np.exp(s - s.max(-1, keepdims=True))
    att = e / e.sum(-1, keepdims=True)
    return att @ v, att


def attention_forward(rng):
    q, k, v = _attention_inputs(rng)
    return ((q, k, v, None, True, None), lambda: _np_attention(q, k, v),
            lambda torch: (lambda a=_t(torch, q, k, v): torch.nn.functional.scaled_dot_product_attention(*a, is_causal=True)))


def attention_backward(rng):
    q, k, v = _attention_inputs(rng)
    att = _np_attention(q, k, v)[1].astype(f32)
    dout = rng.standard_normal(q.shape).astype(f32)
    scale = f32(1 / math.sqrt(32))

    def composite():
        datt = dout @ v.swapaxes(-1, -2)
        ds = att * (datt - (datt * att).sum(-1, keepdims=True)) * scale
        return ds @ k, ds.swapaxes(-1, -2) @ q, att.swapaxes(-1, -2) @ dout
    return (dout, q, k, v, att, None), composite, None


def adam_step(rng):
    p, g = (rng.standard_normal((1024, 1024)).astype(f32) for _ in range(2))
    m, v = np.zeros_like(p), np.zeros_like(p)
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-8

    def composite():
        m2 = m * f32(b1) + g * f32(1 - b1)
        v2 = v * f32(b2) + g * g * f32(1 - b2)
        return p - f32(lr / (1 - b1)) * m2 / (np.sqrt(v2) / f32(math.sqrt(1 - b2)) + f32(eps))

    def torch_fn(torch):
        pt, pt_grad = _t(torch, p.copy(), g)
        pt.requires_grad_()
        pt.grad = pt_grad
        opt = torch.optim.Adam([pt], lr=lr, foreach=False)
        return opt.step
    return (p, g, m, v, None, 1, lr, b1, b2, eps, 0.0, False, False, False), composite, torch_fn


def matmul_forward(rng):
    a, b = (rng.standard_normal((512, 512)).astype(f32) for _ in range(2))
    return (a, b, True), lambda: a @ b.T, lambda torch: (lambda t=_t(torch, a, b): t[0] @ t[1].T)


def gemm_numba(rng):
    return matmul_forward(rng)


CASES = {f.__name__: f for f in (
    softmax_forward, softmax_backward, log_softmax_forward, log_softmax_backward, gelu_forward,
    gelu_backward, cross_entropy_forward, lstm_cell_forward, lstm_cell_backward, gru_cell_forward,
    gru_cell_backward, layernorm_forward, layernorm_backward, embedding_forward, embedding_backward,
    attention_forward, attention_backward, adam_step, matmul_forward, gemm_numba)}
