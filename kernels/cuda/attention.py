"""CUDA scaled dot-product attention, forward and backward; see
kernels/attention.py for the maths and the NumPy references.

Three kernels, each built per dtype, with (B, H) flattened to one batch
axis Z where the maths allows:
  _bmm               c[z] = op(a[z]) @ op(b[z]), op(x) = x or x^T: all six
                     products (q k^T, att v; dout v^T, att^T dout,
                     dscores k, dscores^T q). One thread per output element,
                     grid-stride, summing the inner axis in a register.
  _masked_softmax    one block per (b, h, t) row: scale, causal and mask,
                     safe softmax, with tree reductions in shared memory.
  _softmax_backward  one block per row: dscores = att * (datt - sum(datt * att)) * scale.
"""
import math

from numba import boolean, cuda, float32, int64

from ..attention import ADD_MASK, NO_MASK, check_mask, check_shapes, default_scale
from ..jit import MAX_THREADS, grid, rows_grid
from .common import check_launch, per_dtype


def _bmm_factory(T):
    ZERO = T(0)

    def kernel(c, a, b, ta, tb):
        # c (Z, I, J) = op(a) (Z, I, P) @ op(b) (Z, P, J); ta/tb: a/b hold the transpose
        Z, I, J = c.shape
        P = a.shape[1] if ta else a.shape[2]
        for idx in range(cuda.grid(1), Z * I * J, cuda.gridsize(1)):
            z, i, j = idx // (I * J), idx // J % I, idx % J
            acc = ZERO
            for p in range(P):
                acc += (a[z, p, i] if ta else a[z, i, p]) * (b[z, j, p] if tb else b[z, p, j])
            c[z, i, j] = acc
    return kernel


def _softmax_factory(T):
    NEG_INF, ZERO, ONE = T(-math.inf), T(0), T(1)

    def kernel(att, mask, kind, causal, scale):
        # att (B, H, Tq, S): q k^T on entry, the weights on exit. mask: 4 dims,
        # each 1 (broadcast: index 0) or full; bool or float as `kind` says.
        buf = cuda.shared.array(MAX_THREADS, T)
        tid, nt = cuda.threadIdx.x, cuda.blockDim.x
        B, H, Tq, S = att.shape
        MB, MH, MT, MS = mask.shape
        for n in range(cuda.blockIdx.x, B * H * Tq, cuda.gridDim.x):
            b, h, t = n // (H * Tq), n // Tq % H, n % Tq
            # pass 1: masked, scaled scores back into att and their max. Each
            # thread keeps to columns tid, tid + nt, ..., so no barrier is
            # needed between its own passes over them.
            m = NEG_INF
            for c in range(tid, S, nt):
                x = att[b, h, t, c] * scale
                if kind != NO_MASK:
                    w = mask[min(b, MB - 1), min(h, MH - 1), min(t, MT - 1), min(c, MS - 1)]
                    if kind == ADD_MASK:
                        x += T(w)
                    elif not w:
                        x = NEG_INF
                if causal and c > t:
                    x = NEG_INF
                att[b, h, t, c] = x
                m = max(m, x)
            buf[tid] = m
            cuda.syncthreads()
            step = nt // 2
            while step > 0:
                if tid < step:
                    buf[tid] = max(buf[tid], buf[tid + step])
                cuda.syncthreads()
                step //= 2
            # an all -inf row: shift by 0 so that every exp is 0 and total is 0
            m = ZERO if buf[0] == NEG_INF else buf[0]
            cuda.syncthreads()
            # pass 2: exponentials and their sum
            s = ZERO
            for c in range(tid, S, nt):
                e = math.exp(att[b, h, t, c] - m)
                att[b, h, t, c] = e
                s += e
            buf[tid] = s
            cuda.syncthreads()
            step = nt // 2
            while step > 0:
                if tid < step:
                    buf[tid] += buf[tid + step]
                cuda.syncthreads()
                step //= 2
            inv = ZERO if buf[0] == ZERO else ONE / buf[0]  # 0: the safe-softmax zero row
            cuda.syncthreads()
            for c in range(tid, S, nt):
                att[b, h, t, c] *= inv
    return kernel


def _softmax_backward_factory(T):
    ZERO = T(0)

    def kernel(dscores, att, scale):
        # dscores (N, S) rows: datt on entry, dscores * scale on exit
        buf = cuda.shared.array(MAX_THREADS, T)
        tid, nt = cuda.threadIdx.x, cuda.blockDim.x
        N, S = att.shape
        for n in range(cuda.blockIdx.x, N, cuda.gridDim.x):
            s = ZERO
            for c in range(tid, S, nt):
                s += dscores[n, c] * att[n, c]
            buf[tid] = s
            cuda.syncthreads()
            step = nt // 2
            while step > 0:
                if tid < step:
                    buf[tid] += buf[tid + step]
                cuda.syncthreads()
                step //= 2
            s = buf[0]
            cuda.syncthreads()
            for c in range(tid, S, nt):
                dscores[n, c] = att[n, c] * (dscores[n, c] - s) * scale
    return kernel


_BMM = per_dtype(_bmm_factory)
_SOFTMAX = per_dtype(_softmax_factory)
_SOFTMAX_BACKWARD = per_dtype(_softmax_backward_factory)


def _device(name, what, a, ndim):
    if not hasattr(a, "copy_to_host"):  # a numba device array (real or simulated)
        raise TypeError(f"{name}: {what} must be a CUDA device array "
                        f"(kernels.cuda.transfers.to_device)")
    if a.ndim != ndim:
        raise ValueError(f"{name}: {what} must have {ndim} dims, got shape {a.shape}")
    return a


def _check_qkv(name, q, k, v):
    q, k, v = (_device(name, w, a, 4) for a, w in ((q, "q"), (k, "k"), (v, "v")))
    check_shapes(name, q, k, v)
    return q, k, v


def _bmm(c, a, b, ta, tb, launch, name):
    """c[z] = op(a[z]) @ op(b[z]) on (B, H, ., .) device arrays, as (B*H, ., .)."""
    if c.size:
        flat = [x.reshape(x.shape[0] * x.shape[1], x.shape[2], x.shape[3]) for x in (c, a, b)]
        blocks, threads = check_launch(grid(c.size, launch), name)
        _BMM[c.dtype][blocks, threads](*flat, ta, tb)
    return c


def attention_forward(q, k, v, mask=None, causal=False, scale=None, launch=None):
    """(out (B, H, T, Ev), att (B, H, T, S)) as device arrays; mask: a device
    array or None."""
    name = "attention_forward"
    q, k, v = _check_qkv(name, q, k, v)
    B, H, Tq, E = q.shape
    S = k.shape[2]
    if mask is not None:
        _device(name, "mask", mask, mask.ndim)
    kind = check_mask(name, mask, (B, H, Tq, S), q.dtype)
    if kind == NO_MASK:  # a placeholder of the type of a float mask, never read: no copy
        mask = cuda.device_array((1, 1, 1, 1), q.dtype)
    else:  # 4 dims, each 1 (broadcast) or full
        mask = mask.reshape(*(1,) * (4 - mask.ndim), *mask.shape)
    att = _bmm(cuda.device_array((B, H, Tq, S), q.dtype), q, k, False, True, launch, name)
    if att.size:
        blocks, threads = check_launch(rows_grid(B * H * Tq, launch), name)
        _SOFTMAX[q.dtype][blocks, threads](att, mask, kind, bool(causal),
                                            q.dtype.type(default_scale(E, scale)))
    out = _bmm(cuda.device_array((B, H, Tq, v.shape[3]), q.dtype), att, v, False, False, launch, name)
    return out, att


def attention_backward(dout, q, k, v, att, scale=None, causal=False, launch=None):
    """(dq, dk, dv) as device arrays, from dout and the saved weights att.
    causal (att is 0 above the diagonal) is accepted for the CPU signature;
    these kernels multiply the zeros."""
    name = "attention_backward"
    q, k, v = _check_qkv(name, q, k, v)
    dout, att = _device(name, "dout", dout, 4), _device(name, "att", att, 4)
    B, H, Tq, E = q.shape
    S, Ev = v.shape[2], v.shape[3]
    if dout.dtype != q.dtype or att.dtype != q.dtype:
        raise TypeError(f"{name}: dout ({dout.dtype}) and att ({att.dtype}) must have q's dtype "
                        f"{q.dtype}")
    if tuple(dout.shape) != (B, H, Tq, Ev) or tuple(att.shape) != (B, H, Tq, S):
        raise ValueError(f"{name}: dout {dout.shape} must be (B, H, T, Ev) = {(B, H, Tq, Ev)} "
                         f"and att {att.shape} (B, H, T, S) = {(B, H, Tq, S)}")
    datt = cuda.device_array((B, H, Tq, S), q.dtype)
    dscores = _bmm(datt, dout, v, False, True, launch, name)  # datt, made dscores in place
    if dscores.size:
        N = B * H * Tq
        blocks, threads = check_launch(rows_grid(N, launch), name)
        _SOFTMAX_BACKWARD[q.dtype][blocks, threads](dscores.reshape(N, S), att.reshape(N, S),
                                                     q.dtype.type(default_scale(E, scale)))
    dv = _bmm(cuda.device_array((B, H, S, Ev), q.dtype), att, dout, True, False, launch, name)
    dq = _bmm(cuda.device_array((B, H, Tq, E), q.dtype), dscores, k, False, False, launch, name)
    dk = _bmm(cuda.device_array((B, H, S, E), q.dtype), dscores, q, True, False, launch, name)
    return dq, dk, dv


_A3, _A4, _ROWS = float32[:, :, ::1], float32[:, :, :, ::1], float32[:, ::1]
PTX = [(_bmm_factory, (_A3, _A3, _A3, boolean, boolean)),
       (_softmax_factory, (_A4, _A4, int64, boolean, float32)),
       (_softmax_factory, (_A4, boolean[:, :, :, ::1], int64, boolean, float32)),
       (_softmax_backward_factory, (_ROWS, _ROWS, float32))]
