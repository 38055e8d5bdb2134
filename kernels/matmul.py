"""Matrix multiply, forward and backward, with a register-blocked Numba GEMM.

Shapes: a (M, K) or batched (Bt, M, K); b (K, N), or (N, K) with
transpose_b (the weight layout of x @ W.T in a Linear layer); b is 2-D
(shared across the batch) or (Bt, ., .) with a's Bt. c and dc (M, N) or
(Bt, M, N).
    forward:   c = a @ B,        B = b.T if transpose_b else b
    backward:  da = dc @ B.T     dB = a.T @ dc (summed over the batch when b
               is 2-D and a batched);  db = dB.T if transpose_b else dB
References: *_reference below (np.matmul in float64), matching torch.matmul
(and torch.nn.functional.linear for transpose_b) and their gradients.

The Numba kernel `_gemm` computes c = op(a) @ op(b) for row-major arrays:
op(a) = a (M, K), or a.T with a stored (K, M); op(b) = b.T with b stored
(N, K) (K contiguous on both sides: the kernel's own layout), or b (K, N).
As in BLIS/OpenBLAS:
  - K is cut into blocks of KC_BYTES and N into panels of NC columns. A
    panel of a b stored (N, K) is read in place (K-contiguous rows, at most
    384 KB: it stays in L2 while every row of op(a) passes it); a panel of
    a b stored (K, N) is packed transposed into bp first;
  - MC rows of op(a) at a time are packed K-contiguous into ap;
  - a 4x3 block of c is 12 dot products over the K block, vectorised by LLVM
    along K (fastmath reassoc): 12 vector accumulators plus 3 rows of op(b)
    and one of op(a) fill AVX2's 16 registers (4x4 blocks spill: 44 against
    75 GFLOP/s);
  - packed rows are padded (PAD), else a power-of-two K puts every row in
    the same cache sets (K = 1024 ran at half speed).
Nothing is transposed in memory: NumPy's ascontiguousarray(x.T) took 0.6 ms
for 512x512 and 12 ms for 1024x1024 here, as long as the product itself.

Speed, float32, on this machine (2 vCPU AMD EPYC Zen 3, AVX2, OpenBLAS
0.3.31; shared with other jobs, so +-20%): the serial kernel with b (N, K)
reaches 75-80 GFLOP/s, about 0.9x np.matmul on ONE thread at n = 512,
0.65-0.95x at n = 64-256. np.matmul on its default two threads runs at
160-180 GFLOP/s for n >= 512; gemm_numba splits large products over two
threads (0.75-0.8x BLAS at n = 512, python benchmarks/bench_kernels.py), but
two threads gain little beyond n = 1000, where op(a) no longer stays in
cache. So the public wrappers dispatch (`_use_blas`): the Numba kernel for
tiny products and for skinny ones in its own layout, BLAS elsewhere.
"""
import numpy as np

from .jit import SERIAL_BLAS, cpu_kernel, in_halves, pool
from .registry import Kernel, register
from .validate import FLOATS, lazy_cuda

KC_BYTES = 4096  # K block: the 4 rows of op(a) in use, 16 KB, stay in a 32 KB L1
NC = 96          # N panel: 96 x 4 KB = 384 KB of a 512 KB L2; a multiple of 3
MC = 16          # rows of op(a) packed at once: a stored (K, M) gives 16 per cache line
PAD = 16         # extra entries per packed row
THREADED_WORK = 128 ** 3  # M*N*K from which gemm_numba splits N over two threads

# ---- references ------------------------------------------------------------


def _t(x):
    return np.swapaxes(x, -1, -2)


def matmul_forward_reference(a, b, transpose_b):
    b64 = b.astype(np.float64)
    return np.matmul(a.astype(np.float64), _t(b64) if transpose_b else b64).astype(a.dtype)


def matmul_backward_reference(dc, a, b, transpose_b):
    dc64, a64, b64 = dc.astype(np.float64), a.astype(np.float64), b.astype(np.float64)
    B = _t(b64) if transpose_b else b64            # (.., K, N)
    da = np.matmul(dc64, _t(B))                    # (.., M, K)
    dB = np.matmul(_t(a64), dc64)                  # (.., K, N)
    if b.ndim == 2 and dB.ndim == 3:               # b shared across the batch
        dB = dB.sum(axis=0)
    db = _t(dB) if transpose_b else dB
    return da.astype(a.dtype), np.ascontiguousarray(db).astype(b.dtype)


# ---- Numba CPU kernel ----------------------------------------------------------


@cpu_kernel
def _pack_columns(bp, b, k0, kc, j0, nc):
    # bp[j, :kc] = b[k0:k0+kc, j0 + j] for b stored (K, N): read b's rows in
    # order, write bp's columns (bp's nc rows stay in L1 meanwhile)
    for k in range(kc):
        src = b[k0 + k, j0:j0 + nc]
        for j in range(nc):
            bp[j, k] = src[j]


@cpu_kernel
def _pack_rows(ap, a, ta, i0, last, k0, kc):
    # ap[r, :kc] = op(a)[min(i0 + r, last), k0:k0+kc] for the MC rows of ap
    if ta:  # a stored (K, M): MC neighbours from each row
        for k in range(kc):
            src = a[k0 + k]
            for r in range(MC):
                ap[r, k] = src[min(i0 + r, last)]
    else:
        for r in range(MC):
            src, dst = a[min(i0 + r, last), k0:k0 + kc], ap[r]
            for k in range(kc):
                dst[k] = src[k]


@cpu_kernel
def _gemm(c, a, b, ta, tb, n0, n1):
    # c[p] (M, N) = op(a[p]) @ op(b[p]) where
    # op(a) = a (M, K), or a.T with a stored (K, M) when ta;
    # op(b) = b.T with b stored (N, K) when tb, or b (K, N).
    # Only columns n0:n1 of c are computed (two threads split N this way).
    # Blocks that run past row M-1 or column N-1 read and write that row or
    # column again: the duplicates compute the same value, and each 4x3 block
    # reads all 12 entries of c before it writes any, so this is harmless.
    P, M, N = c.shape
    K = a.shape[1] if ta else a.shape[2]
    kc_max = min(K, KC_BYTES // a.itemsize)
    ap = np.empty((MC, kc_max + PAD), c.dtype)  # MC rows of op(a), one K block
    bp = np.empty((NC, kc_max + PAD), c.dtype)  # NC columns of op(b), K contiguous
    zero = np.float32(0)                        # widens to float64 for float64 input
    for p in range(P):
        ab, bb, cb = a[p], b[p], c[p]
        for k0 in range(0, K, kc_max):
            kc = min(K - k0, kc_max)
            for j0 in range(n0, n1, NC):
                nc = min(n1 - j0, NC)
                # column j of the panel op(b)[k0:k0+kc, j0:j0+nc] is bsrc[brow + j, bk:bk+kc]
                if tb:
                    bsrc, brow, bk = bb, j0, k0
                else:
                    _pack_columns(bp, bb, k0, kc, j0, nc)
                    bsrc, brow, bk = bp, 0, 0
                for i0 in range(0, M, MC):
                    _pack_rows(ap, ab, ta, i0, M - 1, k0, kc)
                    for i in range(0, min(MC, M - i0), 4):
                        a0, a1, a2, a3 = ap[i, :kc], ap[i + 1, :kc], ap[i + 2, :kc], ap[i + 3, :kc]
                        c0, c1 = cb[min(i0 + i, M - 1)], cb[min(i0 + i + 1, M - 1)]
                        c2, c3 = cb[min(i0 + i + 2, M - 1)], cb[min(i0 + i + 3, M - 1)]
                        for j in range(0, nc, 3):
                            j1, j2 = min(j + 1, nc - 1), min(j + 2, nc - 1)
                            b0 = bsrc[brow + j, bk:bk + kc]
                            b1 = bsrc[brow + j1, bk:bk + kc]
                            b2 = bsrc[brow + j2, bk:bk + kc]
                            s00 = s01 = s02 = s10 = s11 = s12 = zero
                            s20 = s21 = s22 = s30 = s31 = s32 = zero
                            for k in range(kc):
                                y0, y1, y2 = b0[k], b1[k], b2[k]
                                x = a0[k]
                                s00 += x * y0; s01 += x * y1; s02 += x * y2  # noqa: E702
                                x = a1[k]
                                s10 += x * y0; s11 += x * y1; s12 += x * y2  # noqa: E702
                                x = a2[k]
                                s20 += x * y0; s21 += x * y1; s22 += x * y2  # noqa: E702
                                x = a3[k]
                                s30 += x * y0; s31 += x * y1; s32 += x * y2  # noqa: E702
                            q0, q1, q2 = j0 + j, j0 + j1, j0 + j2
                            if k0 > 0:  # later K blocks add to what earlier ones stored
                                s00 += c0[q0]; s01 += c0[q1]; s02 += c0[q2]  # noqa: E702
                                s10 += c1[q0]; s11 += c1[q1]; s12 += c1[q2]  # noqa: E702
                                s20 += c2[q0]; s21 += c2[q1]; s22 += c2[q2]  # noqa: E702
                                s30 += c3[q0]; s31 += c3[q1]; s32 += c3[q2]  # noqa: E702
                            c0[q0] = s00; c0[q1] = s01; c0[q2] = s02  # noqa: E702
                            c1[q0] = s10; c1[q1] = s11; c1[q2] = s12  # noqa: E702
                            c2[q0] = s20; c2[q1] = s21; c2[q2] = s22  # noqa: E702
                            c3[q0] = s30; c3[q1] = s31; c3[q2] = s32  # noqa: E702


# ---- wrappers ----------------------------------------------------------------


def check_shapes(name, a, b, transpose_b):
    """Checks a (M, K) or (Bt, M, K) against b (K, N) / (N, K) with
    transpose_b, 2-D or (Bt, ., .); returns (K, N). Host or device arrays."""
    if not isinstance(transpose_b, (bool, np.bool_)):
        raise TypeError(f"{name}: transpose_b must be a bool, got {type(transpose_b).__name__}")
    for x, what in ((a, "a"), (b, "b")):
        if np.dtype(x.dtype) not in FLOATS:
            raise TypeError(f"{name}: {what} must be float32 or float64, got {x.dtype}")
        if x.ndim not in (2, 3):
            raise ValueError(f"{name}: {what} must have 2 or 3 dims, got shape {x.shape}")
    if a.dtype != b.dtype:
        raise TypeError(f"{name}: a and b must share one dtype, got {a.dtype} and {b.dtype}")
    sa, sb = tuple(a.shape), tuple(b.shape)  # (the simulator's shapes lack negative indexing)
    if len(sb) == 3 and (len(sa) != 3 or sa[0] != sb[0]):
        raise ValueError(f"{name}: a batched b {sb} needs a of the same batch (Bt, M, K), got a {sa}")
    K, Kb = sa[-1], sb[-1] if transpose_b else sb[-2]
    if K != Kb:
        raise ValueError(f"{name}: shapes {sa} and {sb} (transpose_b={bool(transpose_b)}) "
                         f"don't line up: {K} != {Kb}")
    return K, sb[-2] if transpose_b else sb[-1]


def _host(name, a, b, transpose_b):
    """(a, b, transpose_b, flipped, K, N): a and b C-contiguous ndarrays. A b
    that is a transposed view of a contiguous array is used as it is, with
    transpose_b flipped (flipped=True), instead of being copied."""
    for x, what in ((a, "a"), (b, "b")):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{name}: {what} must be a numpy.ndarray, got {type(x).__name__}")
    K, N = check_shapes(name, a, b, transpose_b)
    flipped = not b.flags.c_contiguous and _t(b).flags.c_contiguous
    b, transpose_b = (_t(b), not transpose_b) if flipped else (b, bool(transpose_b))
    return np.ascontiguousarray(a), np.ascontiguousarray(b), transpose_b, flipped, K, N


def _fold(a, b):
    """3-D views (a3, b3): a batched a against a shared b becomes one tall
    product (1, Bt*M, K), so b is packed once and BLAS runs one 2-D GEMM
    (np.matmul runs (Bt, M, K) @ (K, N) as Bt single-threaded GEMMs)."""
    if b.ndim == 3:
        return a, b
    return (a[None] if a.ndim == 2 else a.reshape(1, a.shape[0] * a.shape[1], a.shape[2])), b[None]


def _product(a, ta, b, tb, blas=None, split=True, bias=None):
    """op(a) @ op(b) for 3-D C-contiguous a, b of one batch P:
    op(a) = a, or a.T for a stored (P, K, M) when ta; op(b) = b.T for b
    stored (P, N, K) when tb, or b. Returns (P, M, N). blas=None: ask
    _use_blas. split=False: all on the calling thread. bias (N,): added to
    every row (linear.py), by the thread that computed it."""
    P, M, K = (a.shape[0], a.shape[2], a.shape[1]) if ta else a.shape
    N = b.shape[1] if tb else b.shape[2]
    if blas is None:
        blas = _use_blas(P, M, N, K, ta, tb)
    if blas:
        opa, opb = _t(a) if ta else a, _t(b) if tb else b
        c = np.empty((P, M, N), a.dtype)

        def rows(i, j):  # products i..j-1 of the batch, or rows i..j-1 of the one product
            ci = c[i:j] if P > 1 else c[0, i:j]
            np.matmul(opa[i:j] if P > 1 else opa[0, i:j], opb[i:j] if P > 1 else opb[0], out=ci)
            if bias is not None:
                ci += bias
        n = P if P > 1 else M
        if not (split and SERIAL_BLAS) or P * M * N * K < THREADED_WORK or n < 2:
            rows(0, n)
        else:  # OpenBLAS runs on its calling thread (jit.SERIAL_BLAS): two threads,
            # each its own half of the batch or of the rows (cut at a multiple of 16)
            in_halves(rows, n, n // 2 if P > 1 else n // 32 * 16)
        return c
    c = np.empty((P, M, N), a.dtype)
    if c.size and K and split and P * M * N * K >= THREADED_WORK and N >= 2 * NC:
        # two threads, each its own half of the N panels (the kernel releases
        # the GIL); Python threads, not prange: OpenMP workers spin against
        # OpenBLAS's threads (shared/NUMBA-NOTES.md)
        half = (N // 2 + NC - 1) // NC * NC
        in_halves(lambda n0, n1: _gemm(c, a, b, ta, tb, n0, n1), N, half)
    elif c.size and K:
        _gemm(c, a, b, ta, tb, 0, N)
    else:  # an empty output, or an empty sum (K = 0)
        c[...] = 0
    if bias is not None:
        c += bias
    return c


def _use_blas(P, M, N, K, ta, tb):
    """np.matmul (BLAS, on 2 threads) or the serial Numba kernel for P products
    op(A) (M, K) @ op(B) (K, N)? Measured here (round-robin, best of 21,
    float32 and float64 alike), BLAS time / Numba time:
      any layout, M*N*K <= 16^3:           1.0-1.7 (a Numba call costs ~2 us,
                                           np.matmul ~3 us)
      (a, b.T), 2 <= M <= 16:              1.0-2.8 (4x768x768: 2.6; BLAS gains
                                           little from a second thread here)
      (a, b.T), M*N*K <= 32^3:             1.0-1.3;  M = 1, K = N = 256: 0.7
      (a, b.T), M >= 32 or a batch:        0.5-0.9 (one core against two)
      b (K, N) or a stored (K, M), larger: 0.15-0.7 (packing op(B)'s panels
                                           costs as much as the products)"""
    work = P * M * N * K
    if work <= 16 ** 3:
        return False
    if P == 1 and tb and not ta:  # the kernel's own layout: no panel to pack
        return not (2 <= M <= 16 or work <= 32 ** 3)
    return True


def _forward(name, a, b, transpose_b, blas, bias=None):
    a, b, tb, _, K, N = _host(name, a, b, transpose_b)
    a3, b3 = _fold(a, b)
    return _product(a3, False, b3, tb, blas, bias=bias).reshape(a.shape[:-1] + (N,))


def _backward(name, dc, a, b, transpose_b, blas, bias_grad=False):
    """(da, db), and with bias_grad also dc summed over its rows (linear.py)."""
    a, b, tb, flipped, K, N = _host(name, a, b, transpose_b)
    if not isinstance(dc, np.ndarray):
        raise TypeError(f"{name}: dc must be a numpy.ndarray, got {type(dc).__name__}")
    if dc.shape != a.shape[:-1] + (N,) or dc.dtype != a.dtype:
        raise ValueError(f"{name}: dc has shape {dc.shape} and dtype {dc.dtype}, expected "
                         f"{a.shape[:-1] + (N,)} of {a.dtype} (the shape of a @ b)")
    (a3, b3), dc3 = _fold(a, b), _fold(np.ascontiguousarray(dc), b)[0]
    # with B = op(b) (K, N): da = dc @ B.T, dB = a.T @ dc, db = dB.T if tb else dB;
    # the folded batch makes dB's sum over the rows of a the sum over Bt too
    da_args = dc3, False, b3, not tb, blas
    db_args = (dc3, True, a3, False, blas) if tb else (a3, True, dc3, False, blas)
    dbias = None
    if a3.size * N >= 2 * THREADED_WORK:
        # two threads, one product each: the same work as splitting each product
        # in two, in larger (faster) products and one hand-over instead of two
        job = pool().submit(_product, *da_args, False)
        db = _product(*db_args, False)
        if bias_grad:  # while the other thread is still busy
            dbias = dc3.sum(axis=tuple(range(dc3.ndim - 1)))  # (N,), also when N or M is 0
        da = job.result()
    else:
        da, db = _product(*da_args), _product(*db_args)
    if bias_grad and dbias is None:
        dbias = dc3.sum(axis=tuple(range(dc3.ndim - 1)))  # (N,), also when N or M is 0
    db = db.reshape(b.shape)
    out = da.reshape(a.shape), _t(db) if flipped else db  # db has the caller's b's shape
    return out + (dbias,) if bias_grad else out


def matmul_forward(a, b, transpose_b):
    """c = a @ (b.T if transpose_b else b): BLAS or the Numba kernel by shape."""
    return _forward("matmul_forward", a, b, transpose_b, None)


def matmul_backward(dc, a, b, transpose_b):
    """(da, db) for c = matmul_forward(a, b, transpose_b) and its gradient dc."""
    return _backward("matmul_backward", dc, a, b, transpose_b, None)


def gemm_numba(a, b, transpose_b):
    """matmul_forward, always on the Numba kernel (benchmarks, tests)."""
    return _forward("gemm_numba", a, b, transpose_b, False)


def gemm_numba_backward(dc, a, b, transpose_b):
    """matmul_backward, always on the Numba kernel (benchmarks, tests)."""
    return _backward("gemm_numba_backward", dc, a, b, transpose_b, False)


# ---- registry ------------------------------------------------------------------


def _example_forward(rng, dtype, Bt, M, K, N, big_k, variant):
    """variant % 2: transpose_b; variant // 2: 0 both 2-D, 1 a batched and b
    shared, 2 both batched. big_k adds 1000 to K (several K blocks). b is
    scaled by 1/sqrt(K), as a Linear layer's weight, so c is about 1 in size."""
    K += 1000 * big_k
    tb, batch = bool(variant % 2), variant // 2
    a = rng.standard_normal(((Bt,) if batch else ()) + (M, K))
    b = rng.standard_normal(((Bt,) if batch == 2 else ()) + ((N, K) if tb else (K, N)))
    return a.astype(dtype), (b / np.sqrt(max(K, 1))).astype(dtype), tb


def _example_backward(rng, dtype, Bt, M, K, N, big_k, variant):
    a, b, tb = _example_forward(rng, dtype, Bt, M, K, N, big_k, variant)
    # scaled so that db, a sum over up to Bt*M rows, is about 1 in size
    dc = rng.standard_normal(a.shape[:-1] + (N,)) / np.sqrt(max(Bt * M, 1))
    return dc.astype(dtype), a, b, tb


SIZES = {"Bt": (1, 3), "M": (0, 21), "K": (0, 37), "N": (0, 110), "big_k": (0, 1), "variant": (0, 5)}
SIM_SIZES = {"Bt": (1, 2), "M": (0, 17), "K": (0, 17), "N": (0, 17), "big_k": (0, 0), "variant": (0, 5)}
BENCH = {"Bt": 1, "M": 512, "K": 512, "N": 512, "big_k": 0, "variant": 1}

for _name, _ref, _cpu, _ex in (
        ("matmul_forward", matmul_forward_reference, matmul_forward, _example_forward),
        ("matmul_backward", matmul_backward_reference, matmul_backward, _example_backward),
        ("gemm_numba", matmul_forward_reference, gemm_numba, _example_forward),
        ("gemm_numba_backward", matmul_backward_reference, gemm_numba_backward, _example_backward)):
    register(Kernel(_name, _ref, _cpu, lazy_cuda("matmul", _name), _ex, SIZES, SIM_SIZES, BENCH,
                    rtol=1e-4, atol=1e-5))
