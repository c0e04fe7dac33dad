r"""Inverted dropout: zero each element with probability $p$ during training and rescale the rest.

$$y = \frac{m \odot x}{1-p},\qquad m_i \sim \mathrm{Bernoulli}(1-p)$$
so $\mathbb{E}[y] = x$ and evaluation needs no change: in eval mode (or $p = 0$) $y = x$.
Backward: $\bar x = m \odot \bar y / (1-p)$, with the same mask. The mask comes from the seeded
generator in ``backend`` so runs repeat.
"""
from __future__ import annotations

from .. import backend
from ..autograd import Function


class Dropout(Function):
    @staticmethod
    def forward(ctx, x, p):
        keep = backend.random_uniform(x.shape, like_array=x, dtype=x.dtype) >= p
        scale = x.dtype.type(1.0 / (1.0 - p))
        mask = keep * scale                                   # 0 or 1/(1-p)
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask, None


def dropout(x, p=0.5, training=True):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    return Dropout.apply(x, p)
