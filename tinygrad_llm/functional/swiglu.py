r"""SwiGLU, the gated activation of the Llama feed-forward block.

$$\mathrm{SwiGLU}(a, b) = \mathrm{SiLU}(a) \odot b,\qquad \mathrm{SiLU}(a) = a\,\sigma(a) = \frac{a}{1+e^{-a}}$$

In the MLP, $a = xW_{\mathrm{gate}}^\top$ and $b = xW_{\mathrm{up}}^\top$, and the block returns
$\mathrm{SwiGLU}(a, b)\,W_{\mathrm{down}}^\top$ (three matrices instead of GPT-2's two, so the hidden
size is about $\frac23 \cdot 4C$ for the same parameter count).

Backward: $\mathrm{SiLU}'(a) = \sigma(a) + a\,\sigma(a)(1-\sigma(a)) = \sigma(a)\big(1 + a(1-\sigma(a))\big)$, so
$$\bar a = \bar y \odot b \odot \sigma(a)\big(1 + a(1-\sigma(a))\big),\qquad \bar b = \bar y \odot a\,\sigma(a)$$
``swiglu_composed`` builds it from sigmoid and mul to test this one.
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import array_module
from ._util import ShapeError


class SwiGLU(Function):
    @staticmethod
    def forward(ctx, a, b):
        xp = array_module(a)
        # [start:forward]
        s = 0.5 * (1.0 + xp.tanh(0.5 * a))      # sigma(a), without overflow for large |a|
        silu = a * s                             # SiLU(a)
        y = silu * b
        # [end:forward]
        ctx.save_for_backward(a, b, s, silu)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, s, silu = ctx.saved_tensors
        # [start:backward]
        ga = g * b * s * (1.0 + a * (1.0 - s))
        gb = g * silu
        # [end:backward]
        return ga, gb


def silu(x):
    """$\\mathrm{SiLU}(x) = x\\,\\sigma(x)$ (also called swish), composed from sigmoid and mul."""
    return x * x.sigmoid()


def swiglu(a, b):
    """``silu(a) * b`` for a gate ``a`` and a value ``b`` of the same shape, fused with an analytic backward."""
    if tuple(a.shape) != tuple(b.shape):
        raise ShapeError(f"swiglu: gate of shape {a.shape} and value of shape {b.shape} must have the same shape")
    return SwiGLU.apply(a, b)


def swiglu_composed(a, b):
    """The same function from primitives (sigmoid, mul)."""
    if tuple(a.shape) != tuple(b.shape):
        raise ShapeError(f"swiglu: gate of shape {a.shape} and value of shape {b.shape} must have the same shape")
    return silu(a) * b
