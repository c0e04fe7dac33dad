r"""Fused layer normalisation over the last axis, forward and backward.

For a row $x$ of $D$ features, $\mu = \frac1D\sum_j x_j$, $\sigma^2 = \frac1D\sum_j (x_j-\mu)^2$,
$r = 1/\sqrt{\sigma^2+\epsilon}$, $\hat x = (x-\mu)\,r$:
$$y = \hat x \odot \gamma + \beta$$
Backward, with $\bar{\hat x} = \bar y \odot \gamma$ (differentiate $\hat x$ through $\mu$ and $r$):
$$\bar x = r\Big(\bar{\hat x} - \tfrac1D\textstyle\sum_j \bar{\hat x}_j - \hat x\,\tfrac1D\sum_j \bar{\hat x}_j\hat x_j\Big),
\qquad \bar\gamma = \textstyle\sum_{\text{rows}} \bar y\odot\hat x,\qquad \bar\beta = \sum_{\text{rows}}\bar y$$

The forward saves only $\mu$ and $r$ per row (not $\hat x$). The backward recomputes $\hat x$ on the
fly; $\bar\gamma$ and $\bar\beta$ are sums over rows, so each thread accumulates its own partial
sums over a contiguous block of rows and the blocks are added at the end (no two threads write
the same memory).
"""
from __future__ import annotations

import math

import numpy as np
from numba import get_num_threads, njit, prange

from .softmax import FASTMATH, PARALLEL_MIN


# [start:layernorm-forward-row]
@njit(cache=True, fastmath=FASTMATH)
def layer_norm_row(x, w, b, eps, y):
    """Normalise one row x (D,) into y; returns (mean, rstd)."""
    D = x.dtype.type(x.shape[0])
    s = x.dtype.type(0)
    for j in range(x.shape[0]):
        s += x[j]
    mean = s / D
    v = x.dtype.type(0)
    for j in range(x.shape[0]):              # two passes: no cancellation in E[x^2] - E[x]^2
        v += (x[j] - mean) * (x[j] - mean)
    rstd = x.dtype.type(1.0 / math.sqrt(v / D + eps))
    for j in range(x.shape[0]):
        y[j] = (x[j] - mean) * rstd * w[j] + b[j]
    return mean, rstd
# [end:layernorm-forward-row]


# [start:layernorm-backward-row]
@njit(cache=True, fastmath=FASTMATH)
def layer_norm_backward_row(x, w, mean, rstd, g, dx, dw, db):
    """dx for one row; adds this row's share into the partial sums dw, db."""
    D = x.dtype.type(x.shape[0])
    s1 = x.dtype.type(0)                     # sum of gxhat
    s2 = x.dtype.type(0)                     # sum of gxhat * xhat
    for j in range(x.shape[0]):
        xhat = (x[j] - mean) * rstd
        gxhat = g[j] * w[j]
        s1 += gxhat
        s2 += gxhat * xhat
        dw[j] += g[j] * xhat
        db[j] += g[j]
    s1 /= D
    s2 /= D
    for j in range(x.shape[0]):
        xhat = (x[j] - mean) * rstd
        dx[j] = rstd * (g[j] * w[j] - s1 - xhat * s2)
# [end:layernorm-backward-row]


@njit(cache=True)
def _forward_serial(x, w, b, eps, y, mean, rstd):
    for i in range(x.shape[0]):
        mean[i], rstd[i] = layer_norm_row(x[i], w, b, eps, y[i])


@njit(cache=True, parallel=True)
def _forward_parallel(x, w, b, eps, y, mean, rstd):
    for i in prange(x.shape[0]):
        mean[i], rstd[i] = layer_norm_row(x[i], w, b, eps, y[i])


@njit(cache=True, parallel=True)
def _backward_blocks(x, w, mean, rstd, g, dx, dwp, dbp):
    """Row block c = rows [c N / P, (c+1) N / P) accumulates into dwp[c], dbp[c]; P = dwp.shape[0]."""
    N, P = x.shape[0], dwp.shape[0]
    for c in prange(P):
        for i in range(c * N // P, (c + 1) * N // P):
            layer_norm_backward_row(x[i], w, mean[i], rstd[i], g[i], dx[i], dwp[c], dbp[c])


@njit(cache=True)
def _backward_serial(x, w, mean, rstd, g, dx, dwp, dbp):
    for i in range(x.shape[0]):
        layer_norm_backward_row(x[i], w, mean[i], rstd[i], g[i], dx[i], dwp[0], dbp[0])


def _rows(a, dtype, op):
    a = np.asarray(a)
    if a.dtype != dtype:
        raise TypeError(f"{op}: expected {dtype}, got {a.dtype}")
    return np.ascontiguousarray(a).reshape(-1, a.shape[-1])


def _params(weight, bias, D, dtype, op):
    w = np.ones(D, dtype) if weight is None else np.ascontiguousarray(weight, dtype=dtype)
    b = np.zeros(D, dtype) if bias is None else np.ascontiguousarray(bias, dtype=dtype)
    if w.shape != (D,) or b.shape != (D,):
        raise ValueError(f"{op}: weight/bias must have shape ({D},), got {w.shape} and {b.shape}")
    return w, b


def layer_norm_forward(x, weight, bias, eps=1e-5):
    """(y, mean, rstd) as the reference ``functional.layernorm.layer_norm_forward``; x (..., D), mean/rstd (N,)."""
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64) or x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"layer_norm_forward: expected float32/float64 (..., D>0), got {x.dtype} {x.shape}")
    x2 = _rows(x, x.dtype, "layer_norm_forward")
    w, b = _params(weight, bias, x2.shape[1], x.dtype, "layer_norm_forward")
    y = np.empty_like(x2)
    mean = np.empty(x2.shape[0], x.dtype)
    rstd = np.empty(x2.shape[0], x.dtype)
    (_forward_parallel if x2.size >= PARALLEL_MIN else _forward_serial)(x2, w, b, eps, y, mean, rstd)
    return y.reshape(x.shape), mean, rstd


def layer_norm_backward(x, weight, mean, rstd, g):
    """(dx, dweight, dbias) as the reference ``functional.layernorm.layer_norm_backward`` (dweight, dbias None
    without weight)."""
    x = np.asarray(x)
    x2 = _rows(x, x.dtype, "layer_norm_backward")
    g2 = _rows(g, x.dtype, "layer_norm_backward")
    if g2.shape != x2.shape:
        raise ValueError(f"layer_norm_backward: g {np.shape(g)} must match x {x.shape}")
    N, D = x2.shape
    w, _ = _params(weight, None, D, x.dtype, "layer_norm_backward")
    P = min(get_num_threads(), N) if x2.size >= PARALLEL_MIN else 1
    dwp = np.zeros((max(P, 1), D), x.dtype)
    dbp = np.zeros((max(P, 1), D), x.dtype)
    dx = np.empty_like(x2)
    mean = np.ascontiguousarray(mean, dtype=x.dtype).reshape(-1)
    rstd = np.ascontiguousarray(rstd, dtype=x.dtype).reshape(-1)
    (_backward_blocks if P > 1 else _backward_serial)(x2, w, mean, rstd, g2, dx, dwp, dbp)
    if weight is None:
        return dx.reshape(x.shape), None, None
    return dx.reshape(x.shape), dwp.sum(0), dbp.sum(0)
