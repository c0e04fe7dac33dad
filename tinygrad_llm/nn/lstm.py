r"""``LSTMCell`` and the multi-layer ``LSTM`` with PyTorch's names, layouts and gate order (i, f, g, o).

Per step, with $W_{ih}$ (4H, C), $W_{hh}$ (4H, H) stacking the gates in the order i, f, g, o:
$$z_t = x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh}$$
$$c_t = \sigma(z_f) \odot c_{t-1} + \sigma(z_i) \odot \tanh(z_g),\qquad h_t = \sigma(z_o) \odot \tanh(c_t)$$
(the gate formulas and their backward live in ``functional/lstm_cell.py``). Layer $l > 0$ reads the
hidden states of layer $l-1$ as its input. Initialisation is PyTorch's: every weight and bias
$\sim \mathcal U(-1/\sqrt H, 1/\sqrt H)$.

The layer computes the input projection of all $T$ steps as one matrix product, then runs the recurrence as
one fused node (``lstm_sequence``), so the Python work per step is one small matrix product and a few
array operations. Truncated BPTT: feed ``(h.detach(), c.detach())`` of one chunk as the next chunk's state.
"""
from __future__ import annotations

import math

from .. import backend
from .. import functional as F
from ..functional import ShapeError
from ..tensor import Tensor
from .module import Module, Parameter


def _uniform(shape, bound):
    return Parameter(backend.rng().uniform(-bound, bound, size=shape).astype(backend.get_default_dtype()))


class LSTMCell(Module):
    """One step: ``h, c = cell(x, (h, c))`` with x (B, C), h and c (B, H)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, fused: bool = True):
        super().__init__()
        self.input_size, self.hidden_size, self.fused = input_size, hidden_size, fused
        k = 1.0 / math.sqrt(hidden_size)
        self.weight_ih = _uniform((4 * hidden_size, input_size), k)    # (4H, C)
        self.weight_hh = _uniform((4 * hidden_size, hidden_size), k)   # (4H, H)
        self.bias_ih = _uniform((4 * hidden_size,), k) if bias else None
        self.bias_hh = _uniform((4 * hidden_size,), k) if bias else None

    def forward(self, x, state=None):
        if x.shape[-1] != self.input_size:
            raise ShapeError(f"LSTMCell: input of shape {x.shape} does not fit input_size={self.input_size}")
        if state is None:
            zeros = Tensor(backend.array_module(x.data).zeros(x.shape[:-1] + (self.hidden_size,), dtype=x.dtype))
            state = (zeros, zeros)
        h, c = state
        # [start:cell]
        z = F.linear(x, self.weight_ih, self.bias_ih) + F.linear(h, self.weight_hh, self.bias_hh)  # (B, 4H)
        return (F.lstm_cell if self.fused else F.lstm_cell_composed)(z, c)  # h, c: (B, H)
        # [end:cell]

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}"


class LSTM(Module):
    """``output, (h_n, c_n) = lstm(x, (h0, c0))``.

    x is (T, B, C), or (B, T, C) with ``batch_first=True``; h0, c0 are (num_layers, B, H) and default to
    zeros; output is the last layer's $h_t$ for every step, h_n and c_n the last step of every layer.
    Parameters are named ``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``, ... like PyTorch.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, dropout
        k = 1.0 / math.sqrt(hidden_size)
        for l in range(num_layers):
            C = input_size if l == 0 else hidden_size
            setattr(self, f"weight_ih_l{l}", _uniform((4 * hidden_size, C), k))            # (4H, C)
            setattr(self, f"weight_hh_l{l}", _uniform((4 * hidden_size, hidden_size), k))  # (4H, H)
            if bias:
                setattr(self, f"bias_ih_l{l}", _uniform((4 * hidden_size,), k))
                setattr(self, f"bias_hh_l{l}", _uniform((4 * hidden_size,), k))

    def _bias(self, l):
        if not self.bias:
            return None
        return getattr(self, f"bias_ih_l{l}") + getattr(self, f"bias_hh_l{l}")             # (4H,)

    def forward(self, x, state=None):
        if x.ndim != 3 or x.shape[-1] != self.input_size:
            raise ShapeError(f"LSTM: input of shape {x.shape} does not fit input_size={self.input_size} "
                             f"(expected {'(B, T, C)' if self.batch_first else '(T, B, C)'})")
        if self.batch_first:
            x = x.transpose(0, 1)                                                           # (T, B, C)
        T, B, H, L = x.shape[0], x.shape[1], self.hidden_size, self.num_layers
        if state is None:
            zeros = Tensor(backend.array_module(x.data).zeros((B, H), dtype=x.dtype))
            h0, c0 = [zeros] * L, [zeros] * L
        else:
            h0, c0 = state
            if tuple(h0.shape) != (L, B, H) or tuple(c0.shape) != (L, B, H):
                raise ShapeError(f"LSTM: initial state shapes {h0.shape}, {c0.shape} do not fit "
                                 f"(num_layers, batch, hidden) = {(L, B, H)}")
            h0, c0 = [h0[l] for l in range(L)], [c0[l] for l in range(L)]
        h_n, c_n = [], []
        # [start:layers]
        for l in range(L):
            zx = F.linear(x, getattr(self, f"weight_ih_l{l}"), self._bias(l))           # (T, B, 4H): all steps at once
            hc = F.lstm_sequence(zx, h0[l], c0[l], getattr(self, f"weight_hh_l{l}"))   # (T, B, 2H) = [h_t | c_t]
            x = hc[..., :H]                                                             # (T, B, H)
            h_n.append(hc[-1, :, :H])
            c_n.append(hc[-1, :, H:])
            if self.dropout and self.training and l < L - 1:
                x = F.dropout(x, self.dropout, True)
        # [end:layers]
        out = x.transpose(0, 1) if self.batch_first else x
        return out, (F.stack(h_n, 0), F.stack(c_n, 0))

    def extra_repr(self):
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"batch_first={self.batch_first}")
