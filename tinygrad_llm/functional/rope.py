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

Precision of the angles. A float32 number near 3,400 is a multiple of $2^{-12}$, so a float32 angle
$\theta_{p,i}$ at position $p \approx 3{,}400$ is off the exact one by up to $1.2\cdot10^{-4}$ rad (after the
rounding of $b^{-2i/d}$ too: $2.1\cdot10^{-4}$ rad for SmolLM2's $d = 64$, $b = 10^5$). transformers forms
the angles in float32 (``LlamaRotaryEmbedding``: float32 inverse frequencies times float32 positions), and a
float32 model here does the same by default (``rope_angles(..., angle_dtype=None)`` follows ``dtype``):
inverse frequencies $1/b^{2i/d}$ rounded to float32 as transformers rounds them (bit for bit for SmolLM2),
products $p \cdot f_i$ rounded to float32, their cosine and sine. With these, SmolLM2's logits at positions
3,000..3,399 of a 3,400-token context are within $10^{-4}$ of transformers' on the same GGUF (measured
$6.7\cdot10^{-5}$; ``tests/test_rope_precision.py``), and over the whole context within $1.3\cdot10^{-4}$,
the float32 noise floor (transformers' float32 logits are $10^{-4}$ from its own float64 forward). With
angles formed in float64 (``angle_dtype=np.float64``: closer to the exact rotation, and the default for
float64 arrays) the logits drift from transformers' with the position, to $7\cdot10^{-4}$ near 3,400 tokens
on the same text (up to $2.8\cdot10^{-3}$ on others).
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backend import array_module, get_default_dtype
from ._util import ShapeError, data_of
from .shape import concat, stack


def rope_angles(head_dim: int, positions, base: float = 10000.0, dtype=None, angle_dtype=None):
    """cos and sin of $\\theta_{p,i} = p\\,b^{-2i/d}$, each of shape (len(positions), head_dim // 2), in ``dtype``.

    ``angle_dtype`` is the precision in which the angles are formed: float32 reproduces transformers'
    float32 computation (see the module docstring), float64 is the exact-as-possible path; by default it is
    ``dtype`` (float32 angles for a float32 model, float64 angles for float64 arrays)."""
    if head_dim % 2:
        raise ShapeError(f"rope_angles: head_dim must be even, got {head_dim}")
    dt = np.dtype(dtype or get_default_dtype())
    adt = np.dtype(angle_dtype) if angle_dtype is not None else (np.dtype(np.float32) if dt == np.float32
                                                                 else np.dtype(np.float64))
    if adt == np.float32:
        expo = np.arange(0, head_dim, 2).astype(np.float32) / np.float32(head_dim)        # 2i/d in float32
        inv_freq = np.float32(1.0) / (np.float64(base) ** expo.astype(np.float64)).astype(np.float32)
        theta = np.asarray(positions, dtype=np.float32)[:, None] * inv_freq[None, :]     # (T, d/2), float32
        theta = theta.astype(np.float64)               # cos/sin of the float32 angles, rounded once
    elif adt == np.float64:
        inv_freq = base ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)   # (d/2,)
        theta = np.outer(np.asarray(positions, dtype=np.float64), inv_freq)          # (T, d/2)
    else:
        raise ValueError(f"rope_angles: angle_dtype must be float32 or float64, got {adt}")
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
