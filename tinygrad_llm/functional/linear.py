r"""Affine map applied to the last axis, with PyTorch's weight layout (out_features, in_features).

$$y = x W^\top + b,\qquad x: (\dots, C_{in}),\ W: (C_{out}, C_{in}),\ b: (C_{out})$$

Backward (flattening the leading dims into $N$ rows, $X: (N, C_{in})$, $\bar Y: (N, C_{out})$):
$$\bar X = \bar Y W,\qquad \bar W = \bar Y^\top X,\qquad \bar b = \textstyle\sum_n \bar Y_n$$
It is ``matmul`` + ``add`` in one node: one saved input, no transposed copy, one bias reduction.

``linear_bias_gelu`` / ``linear_bias_gelu_backward`` are the plain-array references of the fused
$\mathrm{gelu}(xW^\top + b)$ kernel (``kernels/linear.py``); no op uses that kernel yet (chapter 02
and ``bench/kernels.py`` measure it).
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import array_module
from ._dispatch import reference
from ._util import ShapeError
from .gelu import gelu_backward, gelu_forward


@reference("linear_bias_gelu")
def linear_bias_gelu(x, w, b=None, approximate="none"):
    """(y, h) with $h = xW^\\top + b$ (W (out, in) as in PyTorch) and $y = \\mathrm{gelu}(h)$."""
    h = x @ w.T if b is None else x @ w.T + b
    return gelu_forward(h, approximate), h


@reference("linear_bias_gelu_backward")
def linear_bias_gelu_backward(x, w, h, gy, approximate="none"):
    """(dx, dw, db) of $y = \\mathrm{gelu}(xW^\\top + b)$ from x, w, the pre-activation h and dL/dy."""
    gh = gelu_backward(h, gy, approximate)                  # (..., out)
    x2, gh2 = x.reshape(-1, x.shape[-1]), gh.reshape(-1, gh.shape[-1])
    return gh @ w, gh2.T @ x2, gh2.sum(axis=0)


class Linear(Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        y = x.reshape(-1, x.shape[-1]) @ weight.T          # (N, C_out): one GEMM for all rows
        if bias is not None:
            y += bias
        return y.reshape(x.shape[:-1] + (weight.shape[0],))

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        xp = array_module(g)
        g2 = g.reshape(-1, g.shape[-1])                    # (N, C_out)
        gx = (g2 @ w).reshape(x.shape) if ctx.needs_input_grad[0] else None  # (..., C_in)
        gw = xp.matmul(g2.T, x.reshape(-1, x.shape[-1])) if ctx.needs_input_grad[1] else None
        gb = g2.sum(axis=0) if ctx.has_bias else None
        return gx, gw, gb


def linear(x, weight, bias=None):
    if x.shape[-1] != weight.shape[-1] or weight.ndim != 2:
        raise ShapeError(f"linear: input of shape {x.shape} does not fit weight of shape {weight.shape} "
                         f"(expected (..., {weight.shape[-1]}))")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ShapeError(f"linear: bias of shape {bias.shape} does not fit weight of shape {weight.shape}")
    return Linear.apply(x, weight, bias)
