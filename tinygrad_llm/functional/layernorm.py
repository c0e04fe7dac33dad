r"""Layer normalisation over the last dimensions (the feature axis of each token).

$$\mu = \frac{1}{D}\sum_i x_i,\quad \sigma^2 = \frac{1}{D}\sum_i (x_i-\mu)^2,\quad
\hat x = \frac{x-\mu}{\sqrt{\sigma^2+\epsilon}},\quad y = \gamma \odot \hat x + \beta$$

Backward, with $r = 1/\sqrt{\sigma^2+\epsilon}$ and $\bar{\hat x} = \gamma \odot \bar y$:
$$\bar\gamma = \sum_{\text{rows}} \bar y \odot \hat x,\qquad \bar\beta = \sum_{\text{rows}} \bar y,\qquad
\bar x = r\Big(\bar{\hat x} - \mathrm{mean}(\bar{\hat x}) - \hat x\,\mathrm{mean}(\bar{\hat x}\odot\hat x)\Big)$$
(the two means remove the directions that normalisation took out: shifts and scalings).
``layer_norm_composed`` builds it from mean, sub, mul and sqrt to test this one.
On the CPU with kernels on, ``kernels/layernorm.py`` runs both passes fused, one row at a time,
saving the row mean and $r$ instead of $\hat x$.
"""
from __future__ import annotations

from .. import kernels
from ..autograd import Function
from ..backend import array_module
from ._util import ShapeError


def layer_norm_reference(x, weight, bias, eps):
    """Forward in plain array code over the last axis; returns y, x_hat and r = 1/sqrt(var + eps)."""
    xp = array_module(x)
    mu = x.mean(axis=-1, keepdims=True)                       # (N, 1)
    xc = x - mu
    r = 1.0 / xp.sqrt((xc * xc).mean(axis=-1, keepdims=True) + eps)
    xhat = xc * r                                             # (N, D)
    y = xhat if weight is None else xhat * weight
    return (y if bias is None else y + bias), xhat, r


class LayerNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, D, eps):
        shape = x.shape
        x2 = x.reshape(-1, D)                                      # (N, D)
        w = None if weight is None else weight.reshape(-1)
        b = None if bias is None else bias.reshape(-1)
        ctx.kernel = kernels.applicable(x2, w, b)
        if ctx.kernel:                                             # fused Numba kernel
            ctx.shape, ctx.has_bias = shape, bias is not None
            ctx.pshape = weight.shape if weight is not None else (bias.shape if bias is not None else None)
            y, mean, rstd = kernels.layer_norm_forward(x2, w, b, eps)
            ctx.save_for_backward(x2, mean, rstd, w)
            return y.reshape(shape)
        y, xhat, r = layer_norm_reference(x2, w, b, eps)
        ctx.save_for_backward(xhat, r, w)
        ctx.shape, ctx.has_bias = shape, bias is not None
        ctx.pshape = weight.shape if weight is not None else (bias.shape if bias is not None else None)
        return y.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        if ctx.kernel:
            x2, mean, rstd, w = ctx.saved_tensors
            g2 = g.reshape(x2.shape)                               # (N, D)
            gx, gw, gb = kernels.layer_norm_backward(x2, w, mean, rstd, g2)
            gw = gw.reshape(ctx.pshape) if w is not None else None
            gb = (g2.sum(axis=0) if gb is None else gb).reshape(ctx.pshape) if ctx.has_bias else None
            return gx.reshape(ctx.shape), gw, gb, None, None
        xhat, r, w = ctx.saved_tensors
        g2 = g.reshape(xhat.shape)                                 # (N, D)
        gw = (g2 * xhat).sum(axis=0).reshape(ctx.pshape) if w is not None else None
        gb = g2.sum(axis=0).reshape(ctx.pshape) if ctx.has_bias else None
        dxhat = g2 if w is None else g2 * w
        gx = r * (dxhat - dxhat.mean(axis=-1, keepdims=True) - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True))
        return gx.reshape(ctx.shape), gw, gb, None, None


def _check(x, normalized_shape, weight, bias):
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(x.shape[x.ndim - len(ns):]) != ns:
        raise ShapeError(f"layer_norm: input of shape {x.shape} does not end in normalized_shape {ns}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != ns:
            raise ShapeError(f"layer_norm: {name} of shape {p.shape} does not match normalized_shape {ns}")
    D = 1
    for n in ns:
        D *= n
    return ns, D


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    _, D = _check(x, normalized_shape, weight, bias)
    return LayerNorm.apply(x, weight, bias, D, eps)


def layer_norm_composed(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """The same normalisation from primitives (mean, sub, mul, sqrt, div)."""
    ns, _ = _check(x, normalized_shape, weight, bias)
    axes = tuple(range(x.ndim - len(ns), x.ndim))
    mu = x.mean(axes, keepdims=True)
    xc = x - mu
    y = xc / ((xc * xc).mean(axes, keepdims=True) + eps).sqrt()
    if weight is not None:
        y = y * weight
    return y + bias if bias is not None else y
