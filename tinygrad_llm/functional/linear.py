r"""Affine map applied to the last axis, with PyTorch's weight layout (out_features, in_features).

$$y = x W^\top + b,\qquad x: (\dots, C_{in}),\ W: (C_{out}, C_{in}),\ b: (C_{out})$$

Backward (flattening the leading dims into $N$ rows, $X: (N, C_{in})$, $\bar Y: (N, C_{out})$):
$$\bar X = \bar Y W,\qquad \bar W = \bar Y^\top X,\qquad \bar b = \textstyle\sum_n \bar Y_n$$
It is ``matmul`` + ``add`` in one node: one saved input, no transposed copy, one bias reduction.
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import array_module
from ._util import ShapeError


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
