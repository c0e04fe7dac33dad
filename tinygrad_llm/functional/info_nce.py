r"""InfoNCE, the symmetric contrastive loss of CLIP: pull matching image–text pairs together, push the rest apart.

A batch holds $B$ pairs: image embeddings $x_i$ and text embeddings $y_i$ (rows of two $(B, E)$ matrices),
pair $i$ matching. Both are L2-normalised, and their cosine similarities, scaled by a learned
$s = e^{t}$ (the inverse temperature $1/\tau$, learned in log space as CLIP's ``logit_scale``), are the
logits of two classification problems — for each image, which of the $B$ texts is its own, and for each
text, which image:
$$u_i = \frac{x_i}{\lVert x_i\rVert},\quad v_j = \frac{y_j}{\lVert y_j\rVert},\quad S_{ij} = e^{t}\,u_i^\top v_j$$
$$\mathcal L = \frac{1}{2B}\sum_{i=1}^{B}\Big(\log\sum_{j} e^{S_{ij}} - S_{ii}\Big) + \frac{1}{2B}\sum_{j=1}^{B}\Big(\log\sum_{i} e^{S_{ij}} - S_{jj}\Big)$$
the mean of the cross-entropy of the rows (image → text) and of the columns (text → image) with the
diagonal as targets. The other $B-1$ pairs of the batch are the negatives, so a larger batch is a harder
task; with random embeddings $\mathcal L \approx \log B$.

Backward (upstream gradient $\bar{\mathcal L}$; ``cross_entropy.py`` gives each half). With
$P = \mathrm{softmax}$ of the rows of $S$ and $Q = \mathrm{softmax}$ of its columns,
$$\bar S = \frac{\bar{\mathcal L}}{2B}\,\big(P + Q - 2I\big)$$
then through $S = e^t\,U V^\top$ (a product, as in ``matmul.py``) and $\partial S_{ij}/\partial t = S_{ij}$:
$$\bar U = e^{t}\,\bar S\,V,\qquad \bar V = e^{t}\,\bar S^\top U,\qquad \bar t = \textstyle\sum_{ij} \bar S_{ij} S_{ij}$$
and through the normalisation $u = x/\lVert x\rVert$, whose Jacobian $(I - u u^\top)/\lVert x\rVert$ removes the
part of the gradient along $u$ (stretching $x$ does not change $u$):
$$\bar x_i = \frac{\bar u_i - u_i\,(u_i^\top \bar u_i)}{\lVert x_i\rVert}$$
and the same for $\bar y_j$ from $\bar v_j$. As in ``torch.nn.functional.normalize``, norms below
$\epsilon = 10^{-12}$ are clamped to $\epsilon$ (and that row's gradient is then $\bar u_i/\epsilon$).
``info_nce_composed`` builds the loss from ``sqrt``, ``matmul``, ``exp`` and ``cross_entropy``, to test this one.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backend import array_module
from ._util import ShapeError
from .softmax import log_softmax_reference

EPS = 1e-12


class InfoNCE(Function):
    @staticmethod
    def forward(ctx, x, y, t):
        xp = array_module(x, y)
        B = x.shape[0]
        # [start:info-nce-forward]
        nx = xp.maximum(xp.sqrt((x * x).sum(-1, keepdims=True)), EPS)   # (B, 1)
        ny = xp.maximum(xp.sqrt((y * y).sum(-1, keepdims=True)), EPS)
        u, v = x / nx, y / ny                                          # unit rows
        s = xp.exp(t)                                                  # inverse temperature
        S = s * (u @ v.T)                                              # (B, B) scaled cosine similarities
        log_p = log_softmax_reference(S, 1)                            # image i -> which text
        log_q = log_softmax_reference(S, 0)                            # text j -> which image
        loss = -(xp.trace(log_p) + xp.trace(log_q)) / (2 * B)
        # [end:info-nce-forward]
        ctx.save_for_backward(u, v, nx, ny, S, xp.exp(log_p), xp.exp(log_q))
        ctx.s, ctx.t_shape = s, xp.shape(t)
        return xp.asarray(loss, dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):
        u, v, nx, ny, S, P, Q = ctx.saved_tensors
        xp = array_module(u)
        B, s = S.shape[0], ctx.s
        # [start:info-nce-backward]
        gS = g * (P + Q - 2 * xp.eye(B, dtype=S.dtype)) / (2 * B)      # (B, B)
        gu, gv = s * (gS @ v), s * (gS.T @ u)                          # (B, E) each
        gt = (gS * S).sum()
        gx = (gu - u * (u * gu).sum(-1, keepdims=True) * (nx > EPS)) / nx
        gy = (gv - v * (v * gv).sum(-1, keepdims=True) * (ny > EPS)) / ny
        # [end:info-nce-backward]
        return gx, gy, xp.reshape(gt, ctx.t_shape).astype(S.dtype)


def _check(x, y, logit_scale):
    if x.ndim != 2 or y.ndim != 2 or x.shape != y.shape:
        raise ShapeError(f"info_nce: expected two (B, E) embedding matrices of the same shape, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[0] < 1:
        raise ShapeError("info_nce: the batch is empty")
    if int(np.prod(np.shape(getattr(logit_scale, "data", logit_scale)))) != 1:
        raise ShapeError(f"info_nce: logit_scale must be one number, got shape {np.shape(logit_scale.data)}")


def info_nce(image_emb, text_emb, logit_scale):
    """Symmetric InfoNCE of matching rows of ``image_emb`` and ``text_emb`` (B, E); ``logit_scale`` is the
    log of the inverse temperature (a scalar tensor, learned). Returns the mean loss (a scalar)."""
    _check(image_emb, text_emb, logit_scale)
    return InfoNCE.apply(image_emb, text_emb, logit_scale)


def info_nce_composed(image_emb, text_emb, logit_scale):
    """The same loss from primitives: normalise, similarity matrix, cross-entropy of rows and of columns."""
    from .cross_entropy import cross_entropy
    from .elementwise import exp, sqrt
    from .reduce import sum as sum_
    _check(image_emb, text_emb, logit_scale)
    u = image_emb / sqrt(sum_(image_emb * image_emb, -1, True))
    v = text_emb / sqrt(sum_(text_emb * text_emb, -1, True))
    S = exp(logit_scale.reshape(())) * (u @ v.transpose(0, 1))
    labels = np.arange(S.shape[0])
    return (cross_entropy(S, labels) + cross_entropy(S.transpose(0, 1), labels)) / 2
