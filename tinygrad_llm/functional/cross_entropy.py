r"""Cross-entropy of integer targets under softmax(logits), fused with log-softmax.

With $p_{ij} = \mathrm{softmax}(z_i)_j$ and one-hot targets $y_{ij}$,
$$L = -\frac{1}{N}\sum_{i}\sum_{j} y_{ij}\log p_{ij} = \frac{1}{N}\sum_i \Big(\log\sum_j e^{z_{ij}} - z_{i t_i}\Big)$$
where the mean runs over the $N$ rows whose target is not ``ignore_index`` (``reduction='sum'``
drops the $1/N$; ``'none'`` returns the per-row losses).

Backward: $\partial L/\partial z_{ij} = (p_{ij} - y_{ij})/N$ — the predicted distribution minus the
truth, which is why softmax and cross-entropy are computed together. Ignored rows get zero.
The class axis is the last one: logits (..., C), targets (...).

``cross_entropy_forward`` / ``cross_entropy_backward`` are the plain-array references on rows
(N, C): the forward returns the loss and the per-row log-sum-exp
$\mathrm{lse}_i = m_i + \log\sum_j e^{z_{ij} - m_i}$, and the backward rebuilds
$p = e^{z - \mathrm{lse}}$ from it, so only N numbers are saved, not the (N, C) probabilities. On
the CPU ``_dispatch`` runs the fused kernel (``kernels/cross_entropy.py``) with the same arguments,
which reads each row once per pass.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backend import array_module
from ._dispatch import dispatch, reference
from ._util import ShapeError, data_of
from .softmax import log_softmax


@reference("cross_entropy_forward")
def cross_entropy_forward(logits, targets, ignore_index=-100, reduction="mean"):
    """(loss, lse) for logits (N, C) and integer targets (N,): the loss is a scalar for 'mean'/'sum' and
    (N,) for 'none' (0 on ignored rows); lse (N,) is what the backward needs."""
    xp = array_module(logits)
    m = logits.max(axis=-1, keepdims=True)                                        # (N, 1)
    lse = (m + xp.log(xp.exp(logits - m).sum(axis=-1, keepdims=True)))[:, 0]      # (N,)
    valid = targets != ignore_index
    picked = xp.take_along_axis(logits, xp.where(valid, targets, 0)[:, None], axis=1)[:, 0]
    loss = xp.where(valid, lse - picked, 0).astype(logits.dtype)                  # (N,)
    lse = lse.astype(logits.dtype)
    if reduction == "none":
        return loss, lse
    total = loss.astype(np.float64).sum()
    if reduction == "mean":
        count = int(valid.sum())
        total = total / count if count else total * np.nan                        # no kept row: nan, as PyTorch
    return xp.asarray(total, dtype=logits.dtype), lse


@reference("cross_entropy_backward")
def cross_entropy_backward(logits, targets, lse, g, ignore_index=-100, reduction="mean"):
    """d loss / d logits (N, C) times the upstream gradient ``g`` (a scalar, or (N,) for 'none')."""
    xp = array_module(logits)
    p = xp.exp(logits - lse[:, None])                                             # softmax, (N, C)
    valid = targets != ignore_index
    p[xp.arange(p.shape[0]), xp.where(valid, targets, 0)] -= 1                     # p - onehot
    if reduction == "none":
        scale = g * valid                                                         # (N,)
    else:
        count = int(valid.sum())
        scale = (g / max(count, 1) if reduction == "mean" else g) * valid         # no kept row: zero gradient
    return (p * scale[:, None]).astype(logits.dtype, copy=False)


class CrossEntropy(Function):
    @staticmethod
    def forward(ctx, logits, targets, ignore_index, reduction):
        z, t = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)           # (N, C), (N,)
        loss, lse = dispatch("cross_entropy_forward", z, t, ignore_index, reduction)
        ctx.save_for_backward(z, t, lse)
        ctx.shape, ctx.reduction, ctx.ignore_index = logits.shape, reduction, ignore_index
        return loss.reshape(targets.shape) if reduction == "none" else loss

    @staticmethod
    def backward(ctx, g):
        z, t, lse = ctx.saved_tensors
        g = g.reshape(-1) if ctx.reduction == "none" else g
        gz = dispatch("cross_entropy_backward", z, t, lse, g, ctx.ignore_index, ctx.reduction)
        return gz.reshape(ctx.shape), None, None, None


def _check(logits, targets, ignore_index, reduction):
    t = data_of(targets)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if not hasattr(t, "dtype"):
        t = np.asarray(t)
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
