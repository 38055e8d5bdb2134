"""CUDA LSTM and GRU cells, forward and backward: the elementwise parts
between the GEMMs. See kernels/rnn_cells.py for the maths, what `acts`
holds, and the NumPy references.

One thread per (b, j) of the (B, H) hidden state, grid-stride over B*H: it
reads the gate pre-activations of unit j in each of the 3 or 4 gate blocks of
row b (B, kH), and writes that unit's outputs. Neighbouring threads touch
neighbouring j, so every load and store is coalesced."""
import math

from numba import cuda, float32

from ..jit import grid
from ..rnn_cells import WIDTHS, check_shapes
from .common import per_dtype


def _lstm_forward_factory(T):
    ONE = T(1)

    def kernel(h, c, acts, gates, c_prev):
        B, H = c_prev.shape
        for k in range(cuda.grid(1), B * H, cuda.gridsize(1)):
            b, j = k // H, k % H
            i = ONE / (ONE + math.exp(-gates[b, j]))
            f = ONE / (ONE + math.exp(-gates[b, H + j]))
            g = math.tanh(gates[b, 2 * H + j])
            o = ONE / (ONE + math.exp(-gates[b, 3 * H + j]))
            cj = f * c_prev[b, j] + i * g
            c[b, j] = cj
            h[b, j] = o * math.tanh(cj)
            acts[b, j] = i
            acts[b, H + j] = f
            acts[b, 2 * H + j] = g
            acts[b, 3 * H + j] = o
    return kernel


def _lstm_backward_factory(T):
    ONE = T(1)

    def kernel(dgates, dc_prev, dh, dc, c_prev, c, acts):
        B, H = c.shape
        for k in range(cuda.grid(1), B * H, cuda.gridsize(1)):
            b, j = k // H, k % H
            i, f = acts[b, j], acts[b, H + j]
            g, o = acts[b, 2 * H + j], acts[b, 3 * H + j]
            tc = math.tanh(c[b, j])
            dhj = dh[b, j]
            dct = dc[b, j] + dhj * o * (ONE - tc * tc)  # all the gradient reaching c
            dgates[b, j] = dct * g * i * (ONE - i)
            dgates[b, H + j] = dct * c_prev[b, j] * f * (ONE - f)
            dgates[b, 2 * H + j] = dct * i * (ONE - g * g)
            dgates[b, 3 * H + j] = dhj * tc * o * (ONE - o)
            dc_prev[b, j] = dct * f
    return kernel


def _gru_forward_factory(T):
    ONE = T(1)

    def kernel(h, acts, gi, gh, h_prev):
        B, H = h_prev.shape
        for k in range(cuda.grid(1), B * H, cuda.gridsize(1)):
            b, j = k // H, k % H
            r = ONE / (ONE + math.exp(-(gi[b, j] + gh[b, j])))
            z = ONE / (ONE + math.exp(-(gi[b, H + j] + gh[b, H + j])))
            ghn = gh[b, 2 * H + j]
            n = math.tanh(gi[b, 2 * H + j] + r * ghn)
            h[b, j] = n + z * (h_prev[b, j] - n)  # = (1 - z) n + z h_prev, as PyTorch computes it
            acts[b, j] = r
            acts[b, H + j] = z
            acts[b, 2 * H + j] = n
            acts[b, 3 * H + j] = ghn
    return kernel


def _gru_backward_factory(T):
    ONE = T(1)

    def kernel(dgi, dgh, dh_prev, dh, h_prev, acts):
        B, H = h_prev.shape
        for k in range(cuda.grid(1), B * H, cuda.gridsize(1)):
            b, j = k // H, k % H
            r, z = acts[b, j], acts[b, H + j]
            n, ghn = acts[b, 2 * H + j], acts[b, 3 * H + j]
            dhj = dh[b, j]
            dn = dhj * (ONE - z) * (ONE - n * n)  # through n's tanh
            dz = dhj * (h_prev[b, j] - n) * z * (ONE - z)
            dr = dn * ghn * r * (ONE - r)
            dgi[b, j] = dr
            dgh[b, j] = dr
            dgi[b, H + j] = dz
            dgh[b, H + j] = dz
            dgi[b, 2 * H + j] = dn
            dgh[b, 2 * H + j] = dn * r
            dh_prev[b, j] = dhj * z
    return kernel


_KERNELS = {f: per_dtype(f) for f in (_lstm_forward_factory, _lstm_backward_factory,
                                      _gru_forward_factory, _gru_backward_factory)}


def _device(name, *args):
    """The arguments of kernel `name` checked (device arrays, one float dtype,
    shapes); then B, H and the dtype."""
    for what, a in zip(WIDTHS[name], args):
        if not hasattr(a, "copy_to_host"):  # a numba device array (real or simulated)
            raise TypeError(f"{name}: {what} must be a CUDA device array (numba.cuda.to_device)")
    B, H = check_shapes(name, dict(zip(WIDTHS[name], args)), WIDTHS[name])
    return B, H, args[0].dtype


def _launch(factory, dtype, n, launch, *args):
    if n:
        blocks, threads = grid(n, launch)
        _KERNELS[factory][dtype][blocks, threads](*args)


def lstm_cell_forward(gates, c_prev, launch=None):
    B, H, dt = _device("lstm_cell_forward", gates, c_prev)
    h, c, acts = cuda.device_array((B, H), dt), cuda.device_array((B, H), dt), cuda.device_array((B, 4 * H), dt)
    _launch(_lstm_forward_factory, dt, B * H, launch, h, c, acts, gates, c_prev)
    return h, c, acts


def lstm_cell_backward(dh, dc, c_prev, c, acts, launch=None):
    B, H, dt = _device("lstm_cell_backward", dh, dc, c_prev, c, acts)
    dgates, dc_prev = cuda.device_array((B, 4 * H), dt), cuda.device_array((B, H), dt)
    _launch(_lstm_backward_factory, dt, B * H, launch, dgates, dc_prev, dh, dc, c_prev, c, acts)
    return dgates, dc_prev


def gru_cell_forward(gi, gh, h_prev, launch=None):
    B, H, dt = _device("gru_cell_forward", gi, gh, h_prev)
    h, acts = cuda.device_array((B, H), dt), cuda.device_array((B, 4 * H), dt)
    _launch(_gru_forward_factory, dt, B * H, launch, h, acts, gi, gh, h_prev)
    return h, acts


def gru_cell_backward(dh, h_prev, acts, launch=None):
    B, H, dt = _device("gru_cell_backward", dh, h_prev, acts)
    dgi, dgh = cuda.device_array((B, 3 * H), dt), cuda.device_array((B, 3 * H), dt)
    dh_prev = cuda.device_array((B, H), dt)
    _launch(_gru_backward_factory, dt, B * H, launch, dgi, dgh, dh_prev, dh, h_prev, acts)
    return dgi, dgh, dh_prev


_M = float32[:, ::1]
PTX = [(_lstm_forward_factory, (_M,) * 5), (_lstm_backward_factory, (_M,) * 7),
       (_gru_forward_factory, (_M,) * 5), (_gru_backward_factory, (_M,) * 6)]
