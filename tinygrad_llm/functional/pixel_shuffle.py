r"""Pixel shuffle of a token grid (nanoVLM's modality projector): fewer, wider image tokens.

A vision encoder returns $N = S^2$ tokens of width $D$ laid out on an $S \times S$ grid. Pixel shuffle
with factor $r$ ($r$ divides $S$) gathers every $r \times r$ block of neighbouring tokens into one token
of width $r^2 D$, so the language model reads $N/r^2$ image tokens instead of $N$:
$$y_{b,\ I S/r + J,\ (ur + v) D + d} = x_{b,\ (Ir + u) S + (Jr + v),\ d},\qquad 0 \le u, v < r$$
Token $(I, J)$ of the output is the concatenation of the $r^2$ input tokens of its block, read row by
row. (This is space-to-depth — PyTorch calls the image version ``pixel_unshuffle``; nanoVLM and the
Idefics3 / SmolVLM papers call the token version pixel shuffle. Only the order inside the $r^2 D$
vector differs from ``pixel_unshuffle``, which puts the channel first.)

Backward. Every input entry appears exactly once in the output, so the op is a permutation and the
gradient of an input entry is the output gradient at the place it moved to:
$$\bar x_{b,\ (Ir + u) S + (Jr + v),\ d} = \bar y_{b,\ I S/r + J,\ (ur + v) D + d}$$
As arrays: ``reshape(B, S/r, r, S/r, r, D)``, swap the two middle axes, ``reshape(B, N/r^2, r^2 D)``;
swapping two axes is its own inverse, so the backward is the same swap between the inverse reshapes.
``pixel_shuffle_composed`` builds it from ``reshape`` and ``permute``, to test this one.
"""
from __future__ import annotations

import math

from ..autograd import Function
from ._util import ShapeError, positive_int

_SWAP = (0, 1, 3, 2, 4, 5)          # (B, S/r, r, S/r, r, D) <-> (B, S/r, S/r, r, r, D); its own inverse


class PixelShuffle(Function):
    @staticmethod
    def forward(ctx, x, factor):
        B, N, D = x.shape
        r, S = factor, math.isqrt(N)
        ctx.shape, ctx.r = x.shape, r
        # [start:pixel-shuffle-forward]
        y = x.reshape(B, S // r, r, S // r, r, D).transpose(_SWAP)          # (B, S/r, S/r, r, r, D)
        return y.reshape(B, (S // r) ** 2, r * r * D)                       # (B, N / r^2, r^2 D)
        # [end:pixel-shuffle-forward]

    @staticmethod
    def backward(ctx, g):
        B, N, D = ctx.shape
        r, S = ctx.r, math.isqrt(N)
        gx = g.reshape(B, S // r, S // r, r, r, D).transpose(_SWAP)        # (B, S/r, r, S/r, r, D)
        return gx.reshape(B, N, D), None


def _check(x, factor):
    r = positive_int("pixel_shuffle", "factor", factor)
    if x.ndim != 3:
        raise ShapeError(f"pixel_shuffle: expected tokens of shape (B, N, D), got {tuple(x.shape)}")
    S = math.isqrt(x.shape[1])
    if S * S != x.shape[1]:
        raise ShapeError(f"pixel_shuffle: {x.shape[1]} tokens do not form a square grid")
    if S % r:
        raise ShapeError(f"pixel_shuffle: a {S}x{S} token grid cannot be cut into {r}x{r} blocks")


def pixel_shuffle(x, factor: int):
    """Tokens (B, S*S, D) on a square grid -> (B, (S/r)^2, r^2 D): each r x r block becomes one token."""
    _check(x, factor)
    return PixelShuffle.apply(x, factor)


def pixel_shuffle_composed(x, factor: int):
    """The same rearrangement from ``reshape`` and ``permute``."""
    _check(x, factor)
    B, N, D = x.shape
    r, S = factor, math.isqrt(N)
    y = x.reshape(B, S // r, r, S // r, r, D).permute(_SWAP)
    return y.reshape(B, (S // r) ** 2, r * r * D)
