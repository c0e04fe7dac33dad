r"""RMS normalisation (Llama, SmolLM2): LayerNorm without the mean and without the bias.

$$\mathrm{RMSNorm}(x) = \frac{x}{\sqrt{\frac{1}{D}\sum_i x_i^2 + \epsilon}} \odot \gamma$$

Backward, with $r = 1/\sqrt{\frac1D\sum_i x_i^2+\epsilon}$, $\hat x = x\,r$ and $\bar{\hat x} = \gamma \odot \bar y$:
$\partial r/\partial x_j = -r^3 x_j / D$, so
$$\bar x = r\Big(\bar{\hat x} - \hat x\,\mathrm{mean}(\bar{\hat x}\odot\hat x)\Big),\qquad
\bar\gamma = \sum_{\text{rows}} \bar y \odot \hat x$$
(the LayerNorm backward with the mean-shift term gone, because no mean was subtracted).
``rms_norm_composed`` builds the same function from mean, mul and sqrt to test this one.
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import array_module
from ._util import ShapeError


class RMSNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, eps):
        xp = array_module(x)
        # [start:forward]
        r = 1.0 / xp.sqrt((x * x).mean(axis=-1, keepdims=True) + eps)   # (..., 1)
        xhat = x * r                                                    # (..., D)
        y = xhat if weight is None else xhat * weight
        # [end:forward]
        ctx.save_for_backward(xhat, r, weight)
        return y.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        xhat, r, w = ctx.saved_tensors
        # [start:backward]
        dxhat = g if w is None else g * w                               # (..., D)
        gx = r * (dxhat - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True))
        gw = None if w is None else (g * xhat).reshape(-1, xhat.shape[-1]).sum(axis=0)
        # [end:backward]
        return gx, gw, None


def _check(x, weight):
    if x.ndim == 0:
        raise ShapeError("rms_norm: input must have at least one dimension, got a scalar")
    if weight is not None and tuple(weight.shape) != (x.shape[-1],):
        raise ShapeError(f"rms_norm: weight of shape {weight.shape} does not match the last axis of input {x.shape}")


def rms_norm(x, weight=None, eps=1e-6):
    """Normalise ``x`` (..., D) by its root mean square over the last axis, then scale by ``weight`` (D,)."""
    _check(x, weight)
    return RMSNorm.apply(x, weight, eps)


def rms_norm_composed(x, weight=None, eps=1e-6):
    """The same normalisation from primitives (mul, mean, sqrt, div)."""
    _check(x, weight)
    y = x / ((x * x).mean(-1, keepdims=True) + eps).sqrt()
    return y if weight is None else y * weight
