r"""Cross-entropy of integer targets under softmax(logits), fused with log-softmax.

With $p_{ij} = \mathrm{softmax}(z_i)_j$ and one-hot targets $y_{ij}$,
$$L = -\frac{1}{N}\sum_{i}\sum_{j} y_{ij}\log p_{ij} = \frac{1}{N}\sum_i \Big(\log\sum_j e^{z_{ij}} - z_{i t_i}\Big)$$
where the mean runs over the $N$ rows whose target is not ``ignore_index`` (``reduction='sum'``
drops the $1/N$; ``'none'`` returns the per-row losses).

Backward: $\partial L/\partial z_{ij} = (p_{ij} - y_{ij})/N$ — the predicted distribution minus the
truth, which is why softmax and cross-entropy are computed together. Ignored rows get zero.
The class axis is the last one: logits (..., C), targets (...).
On the CPU with kernels on, ``kernels/cross_entropy.py`` computes loss and gradient in one pass
per row and saves only the per-row log-sum-exp instead of the (N, C) log-probabilities.
"""
from __future__ import annotations

import numpy as np

from .. import backend, kernels
from ..autograd import Function
from ..backend import array_module
from ._util import ShapeError, data_of
from .softmax import log_softmax, log_softmax_reference


class CrossEntropy(Function):
    @staticmethod
    def forward(ctx, logits, targets, ignore_index, reduction):
        ctx.shape, ctx.reduction, ctx.ignore_index = logits.shape, reduction, ignore_index
        ctx.kernel = kernels.applicable(logits) and not backend.is_gpu_array(targets)
        if ctx.kernel:                                              # fused Numba kernel
            z, t = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
            loss, lse = kernels.cross_entropy_forward(z, t, ignore_index, reduction)
            ctx.save_for_backward(z, t, lse)
            return loss.reshape(targets.shape) if reduction == "none" else loss
        xp = array_module(logits)
        C = logits.shape[-1]
        z = logits.reshape(-1, C)                                   # (N, C)
        t = targets.reshape(-1)                                     # (N,)
        valid = t != ignore_index                                   # (N,)
        safe_t = xp.where(valid, t, 0)
        logp = log_softmax_reference(z, -1)                         # (N, C)
        nll = -xp.take_along_axis(logp, safe_t[:, None], axis=1)[:, 0] * valid
        count = int(valid.sum())
        ctx.save_for_backward(logp, safe_t, valid)
        ctx.shape, ctx.reduction, ctx.count = logits.shape, reduction, count
        if reduction == "none":
            return nll.reshape(targets.shape)
        total = nll.sum()
        return xp.asarray(total / count if reduction == "mean" else total, dtype=logits.dtype)

    @staticmethod
    def backward(ctx, g):
        if ctx.kernel:
            z, t, lse = ctx.saved_tensors
            g = g.reshape(-1) if ctx.reduction == "none" else g
            gz = kernels.cross_entropy_backward(z, t, lse, g, ctx.ignore_index, ctx.reduction)
            return gz.reshape(ctx.shape), None, None, None
        logp, safe_t, valid = ctx.saved_tensors
        xp = array_module(logp)
        grad = xp.exp(logp)                                         # p, (N, C)
        grad[xp.arange(grad.shape[0]), safe_t] -= 1                 # p - y
        grad *= valid[:, None]
        if ctx.reduction == "none":
            grad *= g.reshape(-1, 1)
        else:
            grad *= g / ctx.count if ctx.reduction == "mean" else g
        return grad.reshape(ctx.shape), None, None, None


def _check(logits, targets, ignore_index, reduction):
    t = data_of(targets)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if not hasattr(t, "dtype"):
        t = np.asarray(t)
    t = backend.like(t, logits.data)
    if t.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: targets must be integer class ids, got dtype {t.dtype}")
    if tuple(t.shape) != tuple(logits.shape[:-1]):
        raise ShapeError(f"cross_entropy: logits of shape {logits.shape} need targets of shape "
                         f"{logits.shape[:-1]}, got {tuple(t.shape)}")
    C = logits.shape[-1]
    bad = (t != ignore_index) & ((t < 0) | (t >= C))
    if bool(bad.any()):
        first = int(t[bad].reshape(-1)[0])
        raise IndexError(f"cross_entropy: target {first} is out of range for {C} classes "
                         f"(valid 0..{C - 1}, or ignore_index={ignore_index})")
    return t


def cross_entropy(logits, targets, ignore_index=-100, reduction="mean"):
    """Mean (or summed) negative log-likelihood of ``targets`` under ``softmax(logits)`` (class axis last)."""
    t = _check(logits, targets, ignore_index, reduction)
    return CrossEntropy.apply(logits, t, ignore_index, reduction)


def cross_entropy_composed(logits, targets, ignore_index=-100, reduction="mean"):
    """The same loss from primitives (log_softmax, getitem, sum, div)."""
    t = _check(logits, targets, ignore_index, reduction)
    xp = array_module(t)
    C = logits.shape[-1]
    flat_t = t.reshape(-1)
    valid = flat_t != ignore_index
    logp = log_softmax(logits.reshape(-1, C), -1)
    picked = logp[xp.arange(flat_t.shape[0]), xp.where(valid, flat_t, 0)] * valid.astype(logits.dtype)
    if reduction == "none":
        return -picked.reshape(t.shape)
    total = -picked.sum()
    return total / int(valid.sum()) if reduction == "mean" else total
