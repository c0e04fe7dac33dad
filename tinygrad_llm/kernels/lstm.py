r"""The LSTM cell's gates and state update in one pass, forward and backward.

Gate pre-activations $z = [z_i, z_f, z_g, z_o]$ (each $H$ wide), previous cell state $c_{t-1}$:
$$i = \sigma(z_i),\ f = \sigma(z_f),\ g = \tanh z_g,\ o = \sigma(z_o),\qquad
c_t = f \odot c_{t-1} + i \odot g,\qquad h_t = o \odot \tanh c_t$$
Backward, from $\bar h_t$ and $\bar c_t$ (the gradient reaching $c_t$ from the next step):
$$\bar c = \bar h_t \odot o \odot (1 - \tanh^2 c_t) + \bar c_t,\qquad \bar c_{t-1} = \bar c \odot f$$
$$\bar z_i = \bar c\, g\, i(1-i),\quad \bar z_f = \bar c\, c_{t-1} f(1-f),\quad \bar z_g = \bar c\, i\,(1-g^2),\quad
\bar z_o = \bar h_t \tanh c_t\, o(1-o)$$

The reference, ``cell_forward`` / ``cell_backward`` in ``functional/lstm_cell.py``, is a dozen NumPy
statements over (B, 4H) arrays, each a pass over memory with its own temporary; a training step of the
chapter 05 model runs them 64 times forward and 64 times backward. Here one loop per row reads each input
once and writes each output once, one simple loop per gate block so that Numba emits SIMD code (a loop
that wrote the four gates of a column together stayed scalar and was slower than NumPy). $\tanh$ is
$1 - 2/(e^{2u}+1)$ through the vectorisable ``fast_exp.fexp`` (as in the GELU kernels) and
$\sigma(u) = \tfrac12(1 + \tanh\tfrac u2)$, as in the reference. ``python bench/kernels.py --only lstm``
(B = 32, H = 256, float32, recorded in ``bench/results/lstm-cell.txt``): 2.3 times the reference's speed,
forward and backward. A step's arrays are small
(32 x 1024 elements, far below ``PARALLEL_MIN``), so the loops are serial: waking the thread pool would
cost more than the work.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .linear import _tanh


@njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _forward(z, c_prev, a, c, tc):
    H = c_prev.shape[1]
    t = z.dtype.type
    one, half = t(1), t(0.5)
    for n in range(z.shape[0]):
        zn, an = z[n], a[n]
        for j in range(2 * H):                       # i, f: sigmoid (one simple loop per block: SIMD code)
            an[j] = half * (one + _tanh(half * zn[j], one))
        for j in range(2 * H, 3 * H):                # g: tanh
            an[j] = _tanh(zn[j], one)
        for j in range(3 * H, 4 * H):                # o: sigmoid
            an[j] = half * (one + _tanh(half * zn[j], one))
        for j in range(H):
            cn = an[H + j] * c_prev[n, j] + an[j] * an[2 * H + j]
            c[n, j] = cn
            tc[n, j] = _tanh(cn, one)


@njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _backward(a, c_prev, tc, gh, gc, dz, dc_prev):
    H = c_prev.shape[1]
    one = a.dtype.type(1)
    for n in range(a.shape[0]):
        an, cp, tn, ghn, gcn, dzn, dcn = a[n], c_prev[n], tc[n], gh[n], gc[n], dz[n], dc_prev[n]
        for j in range(H):
            i, f, g, o = an[j], an[H + j], an[2 * H + j], an[3 * H + j]
            t, dh = tn[j], ghn[j]
            dc = dh * o * (one - t * t) + gcn[j]
            dzn[j] = dc * g * i * (one - i)
            dzn[H + j] = dc * cp[j] * f * (one - f)
            dzn[2 * H + j] = dc * i * (one - g * g)
            dzn[3 * H + j] = dh * t * o * (one - o)
            dcn[j] = dc * f


def _check(op, z, c_prev, *rest):
    if z.ndim != 2 or c_prev.shape != (z.shape[0], z.shape[1] // 4) or z.shape[1] != 4 * c_prev.shape[1] \
            or any(r is not None and r.shape != c_prev.shape for r in rest):
        raise ValueError(f"{op}: expected (B, 4H) gates and (B, H) states, got shapes "
                         f"{[z.shape, c_prev.shape] + [r.shape for r in rest if r is not None]}")
    if z.dtype not in (np.float32, np.float64) or c_prev.dtype != z.dtype \
            or any(r is not None and r.dtype != z.dtype for r in rest):
        raise TypeError(f"{op}: expected float32 or float64 arrays of one dtype")


def lstm_cell_forward(z, c_prev):
    """z (B, 4H), c_prev (B, H) -> (gate activations (B, 4H) = [i, f, g, o], c (B, H), tanh(c) (B, H))."""
    _check("lstm_cell_forward", z, c_prev)
    z, c_prev = np.ascontiguousarray(z), np.ascontiguousarray(c_prev)    # contiguous rows: SIMD loops
    a = np.empty_like(z)
    c, tc = np.empty_like(c_prev), np.empty_like(c_prev)
    _forward(z, c_prev, a, c, tc)
    return a, c, tc


def lstm_cell_backward(a, c_prev, tc, gh, gc):
    """Gradients of h_t (gh) and c_t (gc, or None) -> (gradient of z (B, 4H), gradient of c_prev (B, H))."""
    _check("lstm_cell_backward", a, c_prev, tc, gh, gc)
    gc = np.zeros_like(c_prev, order="C") if gc is None else gc
    a, c_prev, tc, gh, gc = (np.ascontiguousarray(x) for x in (a, c_prev, tc, gh, gc))
    dz, dc_prev = np.empty_like(a), np.empty_like(c_prev)
    _backward(a, c_prev, tc, gh, gc, dz, dc_prev)
    return dz, dc_prev
