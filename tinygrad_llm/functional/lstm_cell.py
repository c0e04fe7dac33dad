r"""The LSTM cell (gate order i, f, g, o as in PyTorch): a composed version, a fused cell node, and a fused
node for a whole sequence (backpropagation through time inside one node).

With pre-activations $z = x W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh}$, split into four blocks of $H$:
$$i = \sigma(z_i),\quad f = \sigma(z_f),\quad g = \tanh(z_g),\quad o = \sigma(z_o)$$
$$c_t = f \odot c_{t-1} + i \odot g,\qquad h_t = o \odot \tanh(c_t)$$

Backward of the cell. Given $\bar h_t$ and $\bar c_t$ (from later steps or outputs), with $\tau = \tanh(c_t)$:
$$\bar o = \bar h_t \odot \tau,\qquad \bar c = \bar c_t + \bar h_t \odot o \odot (1 - \tau^2)$$
$$\bar i = \bar c \odot g,\quad \bar g = \bar c \odot i,\quad \bar f = \bar c \odot c_{t-1},\quad \bar c_{t-1} = \bar c \odot f$$
and through the nonlinearities ($\sigma' = \sigma(1-\sigma)$, $\tanh' = 1 - \tanh^2$):
$$\bar z = \big[\bar i\, i(1-i),\ \bar f\, f(1-f),\ \bar g\,(1-g^2),\ \bar o\, o(1-o)\big]$$
Over a sequence, $\bar h_{t-1} = \bar z_t W_{hh}$ (plus the output gradient at $t-1$) and
$\bar W_{hh} = \sum_t \bar z_t^\top h_{t-1}$, computed as one matrix product after the backward loop.

``lstm_cell`` is one node for the gates and the cell update; ``lstm_sequence`` is one node for all steps of
a layer (the input projection $xW_{ih}^\top + b$ for every step is a single ``linear`` outside it).
Truncated BPTT is the caller's job: pass ``h.detach()``, ``c.detach()`` as the next chunk's state.

``cell_forward`` and ``cell_backward`` below are the readable references of the cell's arrays; both nodes call
them through ``dispatch``, which runs the one-pass Numba twin (``kernels/lstm.py``) where it applies.
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import array_module
from ._dispatch import dispatch, reference
from ._util import ShapeError


def _sigmoid(x, xp):
    return 0.5 * (xp.tanh(0.5 * x) + 1.0)                   # = 1/(1+e^{-x}), no overflow


# [start:cell-forward]
@reference("lstm_cell_forward")
def cell_forward(z, c_prev):
    """Raw arrays: z (B, 4H) pre-activations, c_prev (B, H) -> (gates (B, 4H) = [i, f, g, o], c, tanh(c))."""
    xp = array_module(z)
    H = c_prev.shape[-1]
    a = _sigmoid(z, xp)                                      # i, f, o use sigmoid ...
    a[..., 2 * H:3 * H] = xp.tanh(z[..., 2 * H:3 * H])       # ... g uses tanh
    i, f, g = a[..., :H], a[..., H:2 * H], a[..., 2 * H:3 * H]
    c = f * c_prev + i * g                                   # (B, H)
    return a, c, xp.tanh(c)
# [end:cell-forward]


# [start:cell-backward]
@reference("lstm_cell_backward")
def cell_backward(a, c_prev, tc, gh, gc):
    """Raw arrays: gradients of h_t (gh) and c_t (gc) -> (gradient of z (B, 4H), gradient of c_prev)."""
    xp = array_module(a)
    H = c_prev.shape[-1]
    i, f, g, o = a[..., :H], a[..., H:2 * H], a[..., 2 * H:3 * H], a[..., 3 * H:]
    dc = gh * o * (1.0 - tc * tc)                            # through h = o * tanh(c)
    if gc is not None:
        dc += gc
    dz = xp.empty_like(a)
    dz[..., :H] = dc * g * i * (1.0 - i)                     # d z_i
    dz[..., H:2 * H] = dc * c_prev * f * (1.0 - f)           # d z_f
    dz[..., 2 * H:3 * H] = dc * i * (1.0 - g * g)            # d z_g
    dz[..., 3 * H:] = gh * tc * o * (1.0 - o)                # d z_o
    return dz, dc * f
# [end:cell-backward]


class LSTMCellFunction(Function):
    """One node: (z (B, 4H), c_prev (B, H)) -> [h | c] (B, 2H)."""

    @staticmethod
    def forward(ctx, z, c_prev):
        xp = array_module(z)
        a, c, tc = dispatch("lstm_cell_forward", z, c_prev)
        ctx.save_for_backward(a, c_prev, tc)
        H = c.shape[-1]
        return xp.concatenate([a[..., 3 * H:] * tc, c], axis=-1)

    @staticmethod
    def backward(ctx, g):
        a, c_prev, tc = ctx.saved_tensors
        H = c_prev.shape[-1]
        dz, dc_prev = dispatch("lstm_cell_backward", a, c_prev, tc, g[..., :H], g[..., H:])
        return dz, dc_prev


class LSTMSequence(Function):
    """One node for a layer: zx (T, B, 4H) input projections, h0, c0 (B, H), w_hh (4H, H) -> [h_t | c_t] (T, B, 2H)."""

    @staticmethod
    def forward(ctx, zx, h0, c0, w_hh):
        xp = array_module(zx)
        T, B, H = zx.shape[0], zx.shape[1], h0.shape[-1]
        out = xp.empty((T, B, 2 * H), dtype=zx.dtype)         # [h_t | c_t] for every step
        acts = xp.empty_like(zx)                              # gate activations (T, B, 4H)
        tcs = xp.empty((T, B, H), dtype=zx.dtype)             # tanh(c_t)
        w_t = xp.ascontiguousarray(w_hh.T)                    # (H, 4H)
        h, c = h0, c0
        # [start:sequence-forward]
        for t in range(T):
            z = zx[t] + dispatch("matmul", h, w_t)            # (B, 4H)
            acts[t], c, tcs[t] = dispatch("lstm_cell_forward", z, c)
            h = acts[t, :, 3 * H:] * tcs[t]                   # (B, H)
            out[t, :, :H], out[t, :, H:] = h, c
        # [end:sequence-forward]
        ctx.save_for_backward(acts, tcs, out, h0, c0, w_hh)
        return out

    @staticmethod
    def backward(ctx, g):                                     # g (T, B, 2H)
        acts, tcs, out, h0, c0, w_hh = ctx.saved_tensors
        xp = array_module(g)
        T, H = acts.shape[0], h0.shape[-1]
        dzx = xp.empty_like(acts)                             # (T, B, 4H)
        dh_next, dc_next = xp.zeros_like(h0), xp.zeros_like(c0)
        for t in range(T - 1, -1, -1):
            c_prev = out[t - 1, :, H:] if t > 0 else c0
            dz, dc_next = dispatch("lstm_cell_backward", acts[t], c_prev, tcs[t], g[t, :, :H] + dh_next, g[t, :, H:] + dc_next)
            dzx[t] = dz
            dh_next = dispatch("matmul", dz, w_hh)            # (B, H)
        h_prev = xp.concatenate([h0[None], out[:-1, :, :H]], axis=0).reshape(-1, H)  # (T*B, H)
        dw = dispatch("matmul", dzx.reshape(-1, 4 * H).T, h_prev)  # (4H, H) = sum_t dz_t^T h_{t-1}
        return dzx, dh_next, dc_next, dw


def _check(op, z, c_prev):
    if z.shape[-1] != 4 * c_prev.shape[-1] or z.shape[:-1] != c_prev.shape[:-1]:
        raise ShapeError(f"{op}: gate pre-activations of shape {z.shape} do not fit a cell state of shape "
                         f"{c_prev.shape} (expected (..., 4H) and (..., H))")


def lstm_cell(z, c_prev):
    """Fused cell: returns (h, c), each (B, H), from z (B, 4H) and c_prev (B, H)."""
    _check("lstm_cell", z, c_prev)
    H = c_prev.shape[-1]
    hc = LSTMCellFunction.apply(z, c_prev)                    # (B, 2H)
    return hc[..., :H], hc[..., H:]


def lstm_cell_composed(z, c_prev):
    """The same cell from primitives (sigmoid, tanh, mul, add, slicing): slower, obviously right."""
    _check("lstm_cell_composed", z, c_prev)
    H = c_prev.shape[-1]
    i, f = z[..., :H].sigmoid(), z[..., H:2 * H].sigmoid()
    g, o = z[..., 2 * H:3 * H].tanh(), z[..., 3 * H:].sigmoid()
    c = f * c_prev + i * g
    return o * c.tanh(), c


def lstm_sequence(zx, h0, c0, w_hh):
    """All steps of one layer as one node: zx (T, B, 4H) -> [h_t | c_t] (T, B, 2H)."""
    T, B, G = zx.shape
    H = h0.shape[-1]
    if G != 4 * H or h0.shape != (B, H) or c0.shape != (B, H) or w_hh.shape != (4 * H, H):
        raise ShapeError(f"lstm_sequence: shapes zx {zx.shape}, h0 {h0.shape}, c0 {c0.shape}, w_hh {w_hh.shape} "
                         f"do not fit (expected (T, B, 4H), (B, H), (B, H), (4H, H))")
    return LSTMSequence.apply(zx, h0, c0, w_hh)

