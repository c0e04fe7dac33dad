r"""Embedding lookup: row $i_t$ of the table $E \in \mathbb{R}^{V \times C}$ for each token id.

$$y_t = E_{i_t,:}$$

Backward: every occurrence of id $v$ sends its gradient to row $v$, so repeated ids add up:
$$\bar E_{v,:} = \sum_{t : i_t = v} \bar y_t$$
(a scatter-add; equivalently $y = \mathrm{onehot}(i) E$ and $\bar E = \mathrm{onehot}(i)^\top \bar y$).
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function
from ..backend import array_module
from ._util import ShapeError, data_of


class Embedding(Function):
    @staticmethod
    def forward(ctx, ids, weight):
        ctx.save_for_backward(ids)
        ctx.shape = weight.shape
        return weight[ids]                                   # (..., C)

    @staticmethod
    def backward(ctx, g):
        (ids,) = ctx.saved_tensors
        xp = array_module(g)
        gw = xp.zeros(ctx.shape, dtype=g.dtype)              # (V, C)
        backend.scatter_add(gw, ids.reshape(-1), g.reshape(-1, ctx.shape[1]))
        return None, gw


def embedding(ids, weight):
    """Look up rows of ``weight`` (V, C) for integer ``ids`` of any shape; returns (*ids.shape, C)."""
    idx = data_of(ids)
    if not hasattr(idx, "dtype"):
        idx = np.asarray(idx)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: token ids must be integers, got dtype {idx.dtype}")
    if weight.ndim != 2:
        raise ShapeError(f"embedding: weight must be a (vocab, dim) matrix, got shape {weight.shape}")
    V = weight.shape[0]
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= V):
        bad = int(idx.max()) if int(idx.max()) >= V else int(idx.min())
        raise IndexError(f"embedding: token id {bad} is out of range for a vocabulary of size {V} "
                         f"(valid ids 0..{V - 1})")
    return Embedding.apply(idx, weight)
