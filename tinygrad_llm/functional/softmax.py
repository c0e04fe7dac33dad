r"""Softmax and log-softmax along one axis, computed stably by subtracting the row maximum.

$$\mathrm{softmax}(x)_i = \frac{e^{x_i}}{\sum_j e^{x_j}} = \frac{e^{x_i - m}}{\sum_j e^{x_j - m}},\quad m = \max_j x_j$$
$$\mathrm{log\_softmax}(x)_i = x_i - m - \log \sum_j e^{x_j - m}$$

Backward. The Jacobian of softmax is $\partial y_i/\partial x_j = y_i(\delta_{ij} - y_j)$, so the
vector-Jacobian product never needs the matrix:
$$\bar x = y \odot \left(\bar y - \textstyle\sum_j \bar y_j y_j\right)$$
and for log-softmax ($\partial y_i/\partial x_j = \delta_{ij} - \mathrm{softmax}_j$):
$$\bar x = \bar y - \mathrm{softmax}(x) \textstyle\sum_j \bar y_j$$
``softmax_composed`` builds the same function from exp, max, sum and div, to test the fused one.

``softmax_forward`` / ``softmax_backward`` are the plain-array references (NumPy or CuPy); along the
last axis on the CPU, ``_dispatch`` runs the fused Numba kernel instead (``kernels/softmax.py``: one
pass over each row), which takes the same arguments.
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import array_module
from ._dispatch import dispatch, reference
from ._util import normalize_axis


@reference("softmax_forward")
def softmax_forward(x, axis=-1):
    """$y = e^{x - m} / \\sum_j e^{x_j - m}$ along ``axis`` (plain arrays)."""
    xp = array_module(x)
    # [start:softmax-forward]
    e = xp.exp(x - x.max(axis=axis, keepdims=True))      # subtract the row maximum: no overflow
    y = e / e.sum(axis=axis, keepdims=True)
    # [end:softmax-forward]
    return y


@reference("softmax_backward")
def softmax_backward(y, g, axis=-1):
    """$\\bar x = y \\odot (\\bar y - \\sum_j \\bar y_j y_j)$ from the output ``y`` (plain arrays)."""
    # [start:softmax-backward]
    gx = y * (g - (g * y).sum(axis=axis, keepdims=True))
    # [end:softmax-backward]
    return gx


def log_softmax_reference(x, axis=-1):
    """$x - m - \\log \\sum_j e^{x_j - m}$ along ``axis`` (plain arrays)."""
    xp = array_module(x)
    z = x - x.max(axis=axis, keepdims=True)
    return z - xp.log(xp.exp(z).sum(axis=axis, keepdims=True))


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, axis):
        y = dispatch("softmax_forward", x, axis)
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return dispatch("softmax_backward", y, g, ctx.axis), None


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
