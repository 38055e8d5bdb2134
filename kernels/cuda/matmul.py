"""CUDA matmul forward and backward; see kernels/matmul.py for the maths,
the shapes and the NumPy references.

One kernel computes c[p] = op(a[p]) @ op(b[p]) for 3-D device arrays, with
the CPU kernel's layouts: op(a) is a (M, K), or a.T for a stored (K, M)
when ta; op(b) is b.T for b stored (N, K) when tb, or b (K, N). Forward is
(a, b.T) or (a, b); backward runs it twice, on the same arrays read in
other layouts, so nothing is transposed in memory:
    da = dc @ op(b).T        db = dc.T @ a (tb)  or  a.T @ dc
A batched a against a shared 2-D b is folded into one tall product
(1, Bt*M, K): then db's sum over the rows of a is the sum over the batch.

Tiling: a block computes one TILE x TILE tile of c at a time (grid-stride
over batch x tile rows x tile columns). For each TILE-wide slab of K its
threads copy the slab of op(a) (TILE, TILE) and of op(b) (TILE, TILE) into
shared memory, zero-padded past the edges, wait, and add the slab's
products to the tile's running sums, also in shared memory: each thread
owns the tile entries tid, tid + nt, ..., so any block size works (one
entry a thread at the default TILE*TILE = 256 threads; 64 entries with the
simulator's 4 threads). Loads are coalesced: consecutive threads read
consecutive addresses of a and b whatever the layout.
"""
from numba import boolean, cuda, float32

from ..jit import grid
from ..matmul import check_shapes
from .common import check_launch, per_dtype

TILE = 16
PADDED = (TILE, TILE + 1)  # a slab in shared memory; the extra column avoids bank conflicts


def _gemm_factory(T):
    ZERO = T(0)

    def kernel(c, a, b, ta, tb):
        As = cuda.shared.array(PADDED, T)       # op(a)[i0 + r, k0 + q]
        Bs = cuda.shared.array(PADDED, T)       # op(b)[k0 + q, j0 + s]
        Cs = cuda.shared.array((TILE, TILE), T)  # running sums of c[p, i0 + r, j0 + s]
        tid, nt = cuda.threadIdx.x, cuda.blockDim.x
        P, M, N = c.shape
        K = a.shape[1] if ta else a.shape[2]
        tm, tn = (M + TILE - 1) // TILE, (N + TILE - 1) // TILE
        for t in range(cuda.blockIdx.x, P * tm * tn, cuda.gridDim.x):
            p, i0, j0 = t // (tm * tn), (t // tn) % tm * TILE, t % tn * TILE
            for e in range(tid, TILE * TILE, nt):
                Cs[e // TILE, e % TILE] = ZERO
            for k0 in range(0, K, TILE):
                for e in range(tid, TILE * TILE, nt):
                    u, v = e // TILE, e % TILE  # v runs along the stored rows
                    if ta:  # a stored (K, M): row k0 + u, column i0 + v
                        inside = k0 + u < K and i0 + v < M
                        As[v, u] = a[p, k0 + u, i0 + v] if inside else ZERO
                    else:   # a stored (M, K): row i0 + u, column k0 + v
                        inside = i0 + u < M and k0 + v < K
                        As[u, v] = a[p, i0 + u, k0 + v] if inside else ZERO
                    if tb:  # b stored (N, K): row j0 + u, column k0 + v
                        inside = j0 + u < N and k0 + v < K
                        Bs[v, u] = b[p, j0 + u, k0 + v] if inside else ZERO
                    else:   # b stored (K, N): row k0 + u, column j0 + v
                        inside = k0 + u < K and j0 + v < N
                        Bs[u, v] = b[p, k0 + u, j0 + v] if inside else ZERO
                cuda.syncthreads()
                for e in range(tid, TILE * TILE, nt):
                    r, s = e // TILE, e % TILE
                    acc = Cs[r, s]
                    for q in range(TILE):
                        acc += As[r, q] * Bs[q, s]
                    Cs[r, s] = acc
                cuda.syncthreads()  # the next slab overwrites As and Bs
            # each thread writes back the entries it summed: no barrier needed
            for e in range(tid, TILE * TILE, nt):
                r, s = e // TILE, e % TILE
                if i0 + r < M and j0 + s < N:
                    c[p, i0 + r, j0 + s] = Cs[r, s]
    return kernel


_GEMM = per_dtype(_gemm_factory)


def _device(name, *arrays):
    for x, what in arrays:
        if not hasattr(x, "copy_to_host"):  # a numba device array (real or simulated)
            raise TypeError(f"{name}: {what} must be a CUDA device array (numba.cuda.to_device)")
        if not x.is_c_contiguous():
            raise ValueError(f"{name}: {what} must be C-contiguous, got strides {x.strides}")


def _fold(a, b):
    """3-D views: (Bt, M, K) against a shared 2-D b becomes (1, Bt*M, K)."""
    sa = tuple(a.shape)  # (the simulator's shapes lack slicing and negative indices)
    if b.ndim == 2:
        rows = 1
        for d in sa[:-1]:
            rows *= d
        return a.reshape(1, rows, sa[-1]), b.reshape(1, *tuple(b.shape))
    return a, b


def _product(a, ta, b, tb, launch):
    """op(a) @ op(b) (P, M, N) for 3-D device arrays (layouts as in the kernel)."""
    P, M = a.shape[0], a.shape[2] if ta else a.shape[1]
    N = b.shape[1] if tb else b.shape[2]
    c = cuda.device_array((P, M, N), dtype=a.dtype)
    if c.size:
        tiles = P * ((M + TILE - 1) // TILE) * ((N + TILE - 1) // TILE)
        blocks, threads = check_launch(grid(tiles, launch, threads=TILE * TILE), "matmul")
        _GEMM[a.dtype][blocks, threads](c, a, b, ta, tb)
    return c


def _forward(name, a, b, transpose_b, launch):
    _device(name, (a, "a"), (b, "b"))
    K, N = check_shapes(name, a, b, transpose_b)
    a3, b3 = _fold(a, b)
    return _product(a3, False, b3, bool(transpose_b), launch).reshape(*tuple(a.shape)[:-1], N)


def _backward(name, dc, a, b, transpose_b, launch):
    _device(name, (dc, "dc"), (a, "a"), (b, "b"))
    K, N = check_shapes(name, a, b, transpose_b)
    tb = bool(transpose_b)
    expected = tuple(a.shape)[:-1] + (N,)
    if tuple(dc.shape) != expected or dc.dtype != a.dtype:
        raise ValueError(f"{name}: dc has shape {tuple(dc.shape)} and dtype {dc.dtype}, expected "
                         f"{expected} of {a.dtype} (the shape of a @ b)")
    (a3, b3), dc3 = _fold(a, b), _fold(dc, b)[0]
    da = _product(dc3, False, b3, not tb, launch)
    db = _product(dc3, True, a3, False, launch) if tb else _product(a3, True, dc3, False, launch)
    return da.reshape(*tuple(a.shape)), db.reshape(*tuple(b.shape))


def matmul_forward(a, b, transpose_b, launch=None):
    return _forward("matmul_forward", a, b, transpose_b, launch)


def gemm_numba(a, b, transpose_b, launch=None):
    """The same tiled kernel (the name of the CPU benchmark kernel)."""
    return _forward("gemm_numba", a, b, transpose_b, launch)


def matmul_backward(dc, a, b, transpose_b, launch=None):
    return _backward("matmul_backward", dc, a, b, transpose_b, launch)


def gemm_numba_backward(dc, a, b, transpose_b, launch=None):
    """The same tiled kernel (the name of the CPU benchmark kernel)."""
    return _backward("gemm_numba_backward", dc, a, b, transpose_b, launch)


_ARR = float32[:, :, ::1]
PTX = [(_gemm_factory, (_ARR, _ARR, _ARR, boolean, boolean))]
