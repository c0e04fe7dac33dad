r"""Plain NumPy formulas that every Numba kernel in this package must equal (the tests compare them).

Matrix product: $C_{ij} = \sum_k A_{ik} B_{kj}$.

Softmax along the last axis and its vector-Jacobian product (Jacobian $y_i(\delta_{ij} - y_j)$):
$$y = \frac{e^{x - m}}{\sum_j e^{x_j - m}},\qquad \bar x = y \odot (\bar y - \textstyle\sum_j \bar y_j y_j)$$

Cross-entropy of integer targets $t_i$ (rows with $t_i$ = ``ignore_index`` are left out), with
$\mathrm{lse}_i = m_i + \log\sum_j e^{z_{ij} - m_i}$:
$$\ell_i = \mathrm{lse}_i - z_{i t_i},\qquad \frac{\partial \ell_i}{\partial z_{ij}} = p_{ij} - [j = t_i]$$

Layer normalisation over the last axis ($D$ features), $\hat x = (x - \mu)\,r$, $r = 1/\sqrt{\sigma^2 + \epsilon}$:
$$y = \hat x \odot \gamma + \beta,\qquad
\bar x = r\Big(\bar{\hat x} - \tfrac{1}{D}\textstyle\sum_j \bar{\hat x}_j - \hat x\, \tfrac{1}{D}\sum_j \bar{\hat x}_j \hat x_j\Big),\quad \bar{\hat x} = \bar y \odot \gamma$$
$$\bar\gamma = \textstyle\sum_{\text{rows}} \bar y \odot \hat x,\qquad \bar\beta = \sum_{\text{rows}} \bar y$$

GELU, exact and tanh forms ($\Phi$ is the standard normal CDF):
$$\mathrm{gelu}(h) = h\,\Phi(h) = \tfrac{h}{2}\big(1 + \mathrm{erf}(h/\sqrt 2)\big)
\approx \tfrac{h}{2}\big(1 + \tanh(\sqrt{2/\pi}\,(h + 0.044715 h^3))\big)$$
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend


def matmul(a, b):
    return np.matmul(a, b)


def softmax_forward(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_backward(y, g):
    return y * (g - (g * y).sum(axis=-1, keepdims=True))


def cross_entropy_forward(logits, targets, ignore_index=-100, reduction="mean"):
    """(loss, lse): the loss (scalar for 'mean'/'sum', (N,) for 'none'; 0 on ignored rows) and the
    per-row log-sum-exp (N,) that backward needs. logits (N, C), targets (N,) integers."""
    m = logits.max(axis=-1, keepdims=True)                                     # (N, 1)
    lse = (m + np.log(np.exp(logits - m).sum(axis=-1, keepdims=True)))[:, 0]   # (N,)
    valid = targets != ignore_index
    safe = np.where(valid, targets, 0)
    picked = np.take_along_axis(logits, safe[:, None], axis=1)[:, 0]
    loss = np.where(valid, lse - picked, 0).astype(logits.dtype)               # (N,)
    if reduction == "none":
        return loss, lse.astype(logits.dtype)
    total = loss.astype(np.float64).sum()
    total = total / valid.sum() if reduction == "mean" else total
    return np.asarray(total, dtype=logits.dtype), lse.astype(logits.dtype)


def cross_entropy_backward(logits, targets, lse, g, ignore_index=-100, reduction="mean"):
    """d loss / d logits times the upstream gradient g (a scalar, or (N,) for 'none')."""
    p = np.exp(logits - lse[:, None])                               # softmax, (N, C)
    valid = targets != ignore_index
    p[np.arange(len(targets)), np.where(valid, targets, 0)] -= 1    # p - onehot
    if reduction == "none":
        scale = g * valid                                           # (N,)
    else:
        count = valid.sum()
        scale = (g / max(count, 1) if reduction == "mean" else g) * valid   # no rows kept: zero grad
    return (p * scale[:, None]).astype(logits.dtype)


def layer_norm_forward(x, weight, bias, eps=1e-5):
    """y, mean (N,), rstd (N,) for x (N, D); ``weight``/``bias`` (D,) or None."""
    mean = x.mean(axis=-1)
    var = ((x - mean[:, None]) ** 2).mean(axis=-1)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean[:, None]) * rstd[:, None]
    y = xhat if weight is None else xhat * weight
    y = y if bias is None else y + bias
    return y.astype(x.dtype), mean.astype(x.dtype), rstd.astype(x.dtype)


def layer_norm_backward(x, weight, mean, rstd, g):
    """(dx, dweight, dbias) for x, g (N, D); dweight/dbias are None when weight is None."""
    D = x.shape[-1]
    xhat = (x - mean[:, None]) * rstd[:, None]
    gxhat = g if weight is None else g * weight
    dx = rstd[:, None] * (gxhat - gxhat.sum(-1, keepdims=True) / D
                          - xhat * (gxhat * xhat).sum(-1, keepdims=True) / D)
    dw = None if weight is None else (g * xhat).sum(0)
    db = None if weight is None else g.sum(0)
    return dx.astype(x.dtype), dw, db


def gelu(h, approximate="none"):
    if approximate == "tanh":
        c = math.sqrt(2 / math.pi)
        return 0.5 * h * (1 + np.tanh(c * (h + 0.044715 * h ** 3)))
    return 0.5 * h * (1 + backend.erf(h / math.sqrt(2)))


def gelu_backward(h, g, approximate="none"):
    if approximate == "tanh":
        c = math.sqrt(2 / math.pi)
        t = np.tanh(c * (h + 0.044715 * h ** 3))
        return g * (0.5 * (1 + t) + 0.5 * h * (1 - t * t) * c * (1 + 3 * 0.044715 * h * h))
    cdf = 0.5 * (1 + backend.erf(h / math.sqrt(2)))
    pdf = np.exp(-0.5 * h * h) / math.sqrt(2 * math.pi)
    return g * (cdf + h * pdf)


def linear_bias_gelu(x, w, b, approximate="none"):
    """gelu(x W^T + b), PyTorch layout W (out, in); returns (y, h) with h the pre-activation."""
    h = x @ w.T + (0 if b is None else b)
    return gelu(h, approximate), h
