r"""Softmax and log-softmax along one axis, computed stably by subtracting the row maximum.

$$\mathrm{softmax}(x)_i = \frac{e^{x_i}}{\sum_j e^{x_j}} = \frac{e^{x_i - m}}{\sum_j e^{x_j - m}},\quad m = \max_j x_j$$
$$\mathrm{log\_softmax}(x)_i = x_i - m - \log \sum_j e^{x_j - m}$$

Backward. The Jacobian of softmax is $\partial y_i/\partial x_j = y_i(\delta_{ij} - y_j)$, so the
vector-Jacobian product never needs the matrix:
$$\bar x = y \odot \left(\bar y - \textstyle\sum_j \bar y_j y_j\right)$$
and for log-softmax ($\partial y_i/\partial x_j = \delta_{ij} - \mathrm{softmax}_j$):
$$\bar x = \bar y - \mathrm{softmax}(x) \textstyle\sum_j \bar y_j$$
``softmax_composed`` builds the same function from exp, max, sum and div, to test the fused one.
On the CPU with kernels on, softmax along the last axis runs the fused Numba kernel
(``kernels/softmax.py``: one pass over each row, forward and backward).
"""
from __future__ import annotations

from .. import kernels
from ..autograd import Function
from ..backend import array_module
from ._util import normalize_axis


def softmax_reference(x, axis):
    xp = array_module(x)
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax_reference(x, axis):
    xp = array_module(x)
    z = x - x.max(axis=axis, keepdims=True)
    return z - xp.log(xp.exp(z).sum(axis=axis, keepdims=True))


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        if axis == x.ndim - 1 and kernels.applicable(x):
            y = kernels.softmax_forward(x)                    # fused Numba kernel
            ctx.save_for_backward(y)
            return y
        # [start:softmax-forward]
        y = softmax_reference(x, axis)
        # [end:softmax-forward]
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        if ctx.axis == y.ndim - 1 and kernels.applicable(y, g):
            return kernels.softmax_backward(y, g), None       # fused Numba kernel
        # [start:softmax-backward]
        gx = y * (g - (g * y).sum(axis=ctx.axis, keepdims=True))
        # [end:softmax-backward]
        return gx, None


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, axis):
        y = log_softmax_reference(x, axis)
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        xp = array_module(g)
        return g - xp.exp(y) * g.sum(axis=ctx.axis, keepdims=True), None


def softmax(x, axis=-1):
    return Softmax.apply(x, normalize_axis("softmax", axis, x.ndim))


def log_softmax(x, axis=-1):
    return LogSoftmax.apply(x, normalize_axis("log_softmax", axis, x.ndim))


def softmax_composed(x, axis=-1):
    """The same softmax from primitives (exp, max, sub, sum, div): slower, obviously right."""
    e = (x - x.max(axis=axis, keepdims=True).detach()).exp()
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax_composed(x, axis=-1):
    z = x - x.max(axis=axis, keepdims=True).detach()
    return z - z.exp().sum(axis=axis, keepdims=True).log()
