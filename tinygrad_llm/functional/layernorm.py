r"""Layer normalisation over the last dimensions (the feature axis of each token).

$$\mu = \frac{1}{D}\sum_i x_i,\quad \sigma^2 = \frac{1}{D}\sum_i (x_i-\mu)^2,\quad
\hat x = \frac{x-\mu}{\sqrt{\sigma^2+\epsilon}},\quad y = \gamma \odot \hat x + \beta$$

Backward, with $r = 1/\sqrt{\sigma^2+\epsilon}$ and $\bar{\hat x} = \gamma \odot \bar y$:
$$\bar\gamma = \sum_{\text{rows}} \bar y \odot \hat x,\qquad \bar\beta = \sum_{\text{rows}} \bar y,\qquad
\bar x = r\Big(\bar{\hat x} - \mathrm{mean}(\bar{\hat x}) - \hat x\,\mathrm{mean}(\bar{\hat x}\odot\hat x)\Big)$$
(the two means remove the directions that normalisation took out: shifts and scalings).
``layer_norm_composed`` builds it from mean, sub, mul and sqrt to test this one.

``layer_norm_forward`` / ``layer_norm_backward`` are the plain-array references over the last axis:
the forward returns $y$ with the row mean $\mu$ and $r$ (N numbers each), the backward rebuilds
$\hat x = (x - \mu)\,r$ from them. On the CPU ``_dispatch`` runs the fused kernel
(``kernels/layernorm.py``, both passes one row at a time) with the same arguments.
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import array_module
from ._dispatch import dispatch, reference
from ._util import ShapeError


@reference("layer_norm_forward")
def layer_norm_forward(x, weight, bias, eps=1e-5):
    """(y, mean, rstd) for x (..., D) over the last axis; mean and rstd = 1/sqrt(var + eps) are (N,) for the
    N rows; ``weight``/``bias`` (D,) or None."""
    xp = array_module(x)
    x2 = x.reshape(-1, x.shape[-1])                           # (N, D)
    mu = x2.mean(axis=-1, keepdims=True)                      # (N, 1)
    xc = x2 - mu
    r = 1.0 / xp.sqrt((xc * xc).mean(axis=-1, keepdims=True) + eps)
    xhat = xc * r                                             # (N, D)
    y = xhat if weight is None else xhat * weight
    y = y if bias is None else y + bias
    return y.reshape(x.shape), mu[:, 0], r[:, 0]


@reference("layer_norm_backward")
def layer_norm_backward(x, weight, mean, rstd, g):
    """(dx, dweight, dbias) for x and g (..., D); dweight and dbias are None when ``weight`` is None."""
    x2, g2 = x.reshape(-1, x.shape[-1]), g.reshape(-1, x.shape[-1])     # (N, D)
    r = rstd[:, None]
    xhat = (x2 - mean[:, None]) * r
    dxhat = g2 if weight is None else g2 * weight
    dx = r * (dxhat - dxhat.mean(axis=-1, keepdims=True) - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True))
    if weight is None:
        return dx.reshape(x.shape), None, None
    return dx.reshape(x.shape), (g2 * xhat).sum(axis=0), g2.sum(axis=0)


class LayerNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, D, eps):
        x2 = x.reshape(-1, D)                                      # (N, D)
        w = None if weight is None else weight.reshape(-1)
        b = None if bias is None else bias.reshape(-1)
        y, mean, rstd = dispatch("layer_norm_forward", x2, w, b, eps)
        ctx.save_for_backward(x2, mean, rstd, w)
        ctx.shape, ctx.has_bias = x.shape, bias is not None
        ctx.pshape = weight.shape if weight is not None else (bias.shape if bias is not None else None)
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        x2, mean, rstd, w = ctx.saved_tensors
        g2 = g.reshape(x2.shape)                                   # (N, D)
        gx, gw, gb = dispatch("layer_norm_backward", x2, w, mean, rstd, g2)
        gw = gw.reshape(ctx.pshape) if w is not None else None
        gb = (g2.sum(axis=0) if gb is None else gb).reshape(ctx.pshape) if ctx.has_bias else None
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
