r"""Rotary position embedding (RoPE): rotate each pair of query/key features by an angle that
grows with the position, so $q_m^\top k_n$ depends on positions only through $m - n$.

For a head of size $d$, pair $i \in \{0, \dots, d/2-1\}$ at position $p$ turns by
$\theta_{p,i} = p\,b^{-2i/d}$ (base $b$: 10000 in the paper, 100000 in SmolLM2):
$$\begin{pmatrix} y_{2i} \\ y_{2i+1} \end{pmatrix} =
\begin{pmatrix} \cos\theta_{p,i} & -\sin\theta_{p,i} \\ \sin\theta_{p,i} & \cos\theta_{p,i} \end{pmatrix}
\begin{pmatrix} x_{2i} \\ x_{2i+1} \end{pmatrix}$$
Which two features form pair $i$ is a convention. The paper and llama.cpp (GGUF files) pair
neighbours $(2i, 2i+1)$ (``interleaved=True``); Hugging Face pairs $(i, i + d/2)$ ("rotate half").
The two give the same attention scores once the rows of $W_Q$ and $W_K$ are permuted to match,
which is exactly the permutation llama.cpp applies when it converts a checkpoint.

Backward: a rotation is orthogonal, its inverse is its transpose, the rotation by $-\theta$:
$$\bar x_{2i} = \cos\theta\,\bar y_{2i} + \sin\theta\,\bar y_{2i+1},\qquad
\bar x_{2i+1} = -\sin\theta\,\bar y_{2i} + \cos\theta\,\bar y_{2i+1}$$
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backend import array_module, get_default_dtype
from ._util import ShapeError, data_of
from .shape import concat, stack


def rope_angles(head_dim: int, positions, base: float = 10000.0, dtype=None):
    """cos and sin of $\\theta_{p,i} = p\\,b^{-2i/d}$, each of shape (len(positions), head_dim // 2)."""
    if head_dim % 2:
        raise ShapeError(f"rope_angles: head_dim must be even, got {head_dim}")
    inv_freq = base ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)   # (d/2,)
    theta = np.outer(np.asarray(positions, dtype=np.float64), inv_freq)          # (T, d/2)
    dt = dtype or get_default_dtype()
    return np.cos(theta).astype(dt), np.sin(theta).astype(dt)


def _halves(x, interleaved):
    d = x.shape[-1]
    return (x[..., 0::2], x[..., 1::2]) if interleaved else (x[..., : d // 2], x[..., d // 2:])


def _join(xp, a, b, interleaved):
    if interleaved:
        return xp.stack([a, b], axis=-1).reshape(a.shape[:-1] + (2 * a.shape[-1],))
    return xp.concatenate([a, b], axis=-1)


class RoPE(Function):
    @staticmethod
    def forward(ctx, x, cos, sin, interleaved):
        xp = array_module(x)
        ctx.save_for_backward(cos, sin)
        ctx.interleaved = interleaved
        # [start:forward]
        x1, x2 = _halves(x, interleaved)            # (..., T, d/2) each: the two features of every pair
        y1 = x1 * cos - x2 * sin
        y2 = x1 * sin + x2 * cos
        # [end:forward]
        return _join(xp, y1, y2, interleaved).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        cos, sin = ctx.saved_tensors
        xp = array_module(g)
        # [start:backward]
        g1, g2 = _halves(g, ctx.interleaved)
        gx1 = g1 * cos + g2 * sin                   # rotate back by -theta
        gx2 = -g1 * sin + g2 * cos
        # [end:backward]
        return _join(xp, gx1, gx2, ctx.interleaved), None, None, None


def rope(x, cos, sin, interleaved=True):
    """Rotate ``x`` (..., T, d) by the angles whose ``cos``/``sin`` are (T, d/2) (see ``rope_angles``)."""
    c, s = data_of(cos), data_of(sin)
    if x.ndim < 2 or x.shape[-1] % 2:
        raise ShapeError(f"rope: input must be (..., T, d) with even d, got shape {x.shape}")
    want = (x.shape[-2], x.shape[-1] // 2)
    if tuple(c.shape) != want or tuple(s.shape) != want:
        raise ShapeError(f"rope: cos/sin of shapes {c.shape}/{s.shape} do not fit input {x.shape} "
                         f"(expected {want})")
    c = c.astype(x.dtype, copy=False) if hasattr(c, "dtype") else np.asarray(c, dtype=x.dtype)
    s = s.astype(x.dtype, copy=False) if hasattr(s, "dtype") else np.asarray(s, dtype=x.dtype)
    return RoPE.apply(x, c, s, bool(interleaved))


def rope_composed(x, cos, sin, interleaved=True):
    """The same rotation from primitives (getitem, mul, sub, add, stack/concat)."""
    d = x.shape[-1]
    x1, x2 = (x[..., 0::2], x[..., 1::2]) if interleaved else (x[..., : d // 2], x[..., d // 2:])
    y1 = x1 * cos - x2 * sin
    y2 = x1 * sin + x2 * cos
    if interleaved:
        return stack([y1, y2], axis=-1).reshape(x.shape)
    return concat([y1, y2], axis=-1)
