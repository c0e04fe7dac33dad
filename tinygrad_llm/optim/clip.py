r"""Gradient clipping by global norm.

$$\lVert g \rVert = \sqrt{\textstyle\sum_p \sum_i g_{p,i}^2},\qquad g \leftarrow g \cdot \min\!\Big(1, \frac{c}{\lVert g \rVert + 10^{-6}}\Big)$$
All gradients are scaled by the same factor, so the update keeps its direction.
"""
from __future__ import annotations

import math


def clip_grad_norm_(parameters, max_norm: float) -> float:
    """Scale gradients in place so their global L2 norm is at most ``max_norm``; returns the norm before."""
    grads = [p.grad.data for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    total = math.sqrt(sum(float((g.astype("float64") ** 2).sum()) for g in grads))
    scale = max_norm / (total + 1e-6)
    if scale < 1.0:
        for g in grads:
            g *= g.dtype.type(scale)
    return total
