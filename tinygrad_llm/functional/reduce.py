r"""Reductions over axes: sum, mean, max (and var, composed from them).

- sum: $y = \sum_{i \in A} x_i$; every summed element receives the whole gradient,
  $\bar x = \mathrm{broadcast}(\bar y)$.
- mean: $y = \frac{1}{n}\sum_{i \in A} x_i$; $\bar x = \mathrm{broadcast}(\bar y) / n$.
- max: $y = \max_{i \in A} x_i$; the gradient goes to the arg-max, split evenly between ties:
  $\bar x_i = \bar y\,[x_i = y] / \#\{j : x_j = y\}$.
- var: $\frac{1}{n - c}\sum_i (x_i - \bar x)^2$, built from mean, sub, mul (its gradient comes from theirs).
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import array_module
from ._util import ShapeError


def _axes(op, axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out, nd = [], ndim if ndim > 0 else 1  # (`max` is shadowed by the op below)
    for a in axes:
        if not -ndim <= a < nd:
            raise ShapeError(f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions")
        out.append(a % nd)
    return tuple(sorted(set(out)))


def _expand(g, shape, axes, keepdims):
    """Put the reduced axes back (size 1) so g broadcasts against the input."""
    xp = array_module(g)
    if not keepdims:
        g = g.reshape(tuple(1 if i in axes else n for i, n in enumerate(shape)))
    return xp.broadcast_to(g, shape)


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdims):
        ctx.shape, ctx.axes, ctx.keepdims = x.shape, axes, keepdims
        return array_module(x).asarray(x.sum(axis=axes, keepdims=keepdims))

    @staticmethod
    def backward(ctx, g):
        return _expand(g, ctx.shape, ctx.axes, ctx.keepdims), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdims):
        ctx.shape, ctx.axes, ctx.keepdims = x.shape, axes, keepdims
        ctx.n = 1
        for a in axes:
            ctx.n *= x.shape[a]
        return array_module(x).asarray(x.mean(axis=axes, keepdims=keepdims))

    @staticmethod
    def backward(ctx, g):
        return _expand(g / ctx.n, ctx.shape, ctx.axes, ctx.keepdims), None, None


class Max(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdims):
        if x.size == 0:
            raise ShapeError(f"max: cannot reduce an empty tensor of shape {x.shape}")
        y = x.max(axis=axes, keepdims=True)
        ctx.save_for_backward(x == y)
        ctx.shape, ctx.axes, ctx.keepdims = x.shape, axes, keepdims
        return array_module(x).asarray(y if keepdims else y.reshape([n for i, n in enumerate(x.shape) if i not in axes]))

    @staticmethod
    def backward(ctx, g):
        (hit,) = ctx.saved_tensors
        count = hit.sum(axis=ctx.axes, keepdims=True)
        return _expand(g, ctx.shape, ctx.axes, ctx.keepdims) * hit / count, None, None


def sum(x, axis=None, keepdims=False):  # noqa: A001
    return Sum.apply(x, _axes("sum", axis, x.ndim), keepdims)


def mean(x, axis=None, keepdims=False):
    return Mean.apply(x, _axes("mean", axis, x.ndim), keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001
    return Max.apply(x, _axes("max", axis, x.ndim), keepdims)


def var(x, axis=None, keepdims=False, correction=0):
    axes = _axes("var", axis, x.ndim)
    n = 1
    for a in axes:
        n *= x.shape[a]
    d = x - mean(x, axes, keepdims=True)
    return sum(d * d, axes, keepdims) / (n - correction)
