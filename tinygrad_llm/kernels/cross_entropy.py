r"""Fused log-softmax + negative log-likelihood (cross-entropy with integer targets), forward and backward.

For a row of logits $z$ (C classes) and its target $t$:
$$\mathrm{lse} = m + \log\sum_j e^{z_j - m},\qquad \ell = \mathrm{lse} - z_t,\qquad
\frac{\partial \ell}{\partial z_j} = e^{z_j - \mathrm{lse}} - [j = t]$$
Rows whose target is ``ignore_index`` contribute 0 and get a zero gradient. ``'mean'`` divides the
sum by the number of kept rows $N$, so the backward scale is $g/N$; ``'sum'`` uses $g$ and
``'none'`` the per-row $g_i$.

The NumPy reference (``functional/cross_entropy.py``, same arguments and results) walks the (N, C)
logits several times and makes (N, C) temporaries. The fused forward reads each row once and keeps
only two numbers per row (loss and lse); the backward rebuilds $p = e^{z - \mathrm{lse}}$ on the fly
while writing the gradient, again one pass per row.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .fast_exp import fexp
from .softmax import FASTMATH, PARALLEL_MIN


# [start:ce-forward-row]
@njit(cache=True, fastmath=FASTMATH)
def ce_forward_row(z, t, ignore_index):
    """(loss, lse) of one row of logits z (C,) with target t."""
    m = z[0]
    for j in range(1, z.shape[0]):
        m = max(m, z[j])
    s = z.dtype.type(0)
    for j in range(z.shape[0]):
        s += fexp(z[j] - m)
    lse = m + math.log(s)
    loss = z.dtype.type(0) if t == ignore_index else lse - z[t]
    return loss, lse
# [end:ce-forward-row]


# [start:ce-backward-row]
@njit(cache=True, fastmath=FASTMATH)
def ce_backward_row(z, t, lse, scale, ignore_index, gz):
    """gz = scale * (softmax(z) - onehot(t)) for one row; zero when t is ignored."""
    if t == ignore_index:
        gz[:] = 0
        return
    for j in range(z.shape[0]):
        gz[j] = scale * fexp(z[j] - lse)
    gz[t] -= scale
# [end:ce-backward-row]


@njit(cache=True)
def _forward_serial(z, t, ignore_index, loss, lse):
    for i in range(z.shape[0]):
        loss[i], lse[i] = ce_forward_row(z[i], t[i], ignore_index)


@njit(cache=True, parallel=True)
def _forward_parallel(z, t, ignore_index, loss, lse):
    for i in prange(z.shape[0]):
        loss[i], lse[i] = ce_forward_row(z[i], t[i], ignore_index)


@njit(cache=True)
def _backward_serial(z, t, lse, scale, ignore_index, gz):
    for i in range(z.shape[0]):
        ce_backward_row(z[i], t[i], lse[i], scale[i], ignore_index, gz[i])


@njit(cache=True, parallel=True)
def _backward_parallel(z, t, lse, scale, ignore_index, gz):
    for i in prange(z.shape[0]):
        ce_backward_row(z[i], t[i], lse[i], scale[i], ignore_index, gz[i])


def _check(logits, targets, op):
    logits, targets = np.asarray(logits), np.asarray(targets)
    if logits.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: logits must be float32 or float64, got {logits.dtype}")
    if targets.dtype.kind not in "iu":
        raise TypeError(f"{op}: targets must be integers, got {targets.dtype}")
    if logits.ndim != 2 or targets.shape != logits.shape[:1] or logits.shape[1] == 0:
        raise ValueError(f"{op}: expected logits (N, C) with C > 0 and targets (N,), "
                         f"got {logits.shape} and {targets.shape}")
    return np.ascontiguousarray(logits), np.ascontiguousarray(targets, dtype=np.int64)


def _check_range(t, C, ignore_index, op):
    bad = (t != ignore_index) & ((t < 0) | (t >= C))
    if bad.any():
        raise IndexError(f"{op}: target {int(t[bad][0])} is out of range for {C} classes "
                         f"(ignore_index={ignore_index})")


def cross_entropy_forward(logits, targets, ignore_index=-100, reduction="mean"):
    """(loss, lse) as the reference ``functional.cross_entropy.cross_entropy_forward``."""
    z, t = _check(logits, targets, "cross_entropy_forward")
    _check_range(t, z.shape[1], ignore_index, "cross_entropy_forward")
    loss = np.empty(z.shape[0], dtype=z.dtype)
    lse = np.empty(z.shape[0], dtype=z.dtype)
    (_forward_parallel if z.size >= PARALLEL_MIN else _forward_serial)(z, t, ignore_index, loss, lse)
    if reduction == "none":
        return loss, lse
    if reduction not in ("mean", "sum"):
        raise ValueError(f"cross_entropy_forward: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    total = loss.astype(np.float64).sum()
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):   # all rows ignored: nan, as PyTorch
            total = total / np.count_nonzero(t != ignore_index)
    return np.asarray(total, dtype=z.dtype), lse


def cross_entropy_backward(logits, targets, lse, g, ignore_index=-100, reduction="mean"):
    """Gradient w.r.t. the logits (N, C), as the reference ``functional.cross_entropy.cross_entropy_backward``."""
    z, t = _check(logits, targets, "cross_entropy_backward")
    N = z.shape[0]
    if reduction == "none":
        scale = np.ascontiguousarray(np.broadcast_to(g, (N,)), dtype=z.dtype)
    else:
        g = float(g)
        if reduction == "mean":
            count = np.count_nonzero(t != ignore_index)
            g = g / count if count else 0.0
        scale = np.full(N, g, dtype=z.dtype)
    gz = np.empty_like(z)
    (_backward_parallel if z.size >= PARALLEL_MIN else _backward_serial)(
        z, t, np.ascontiguousarray(lse, dtype=z.dtype), scale, ignore_index, gz)
    return gz
