r"""Cut images into non-overlapping square patches and flatten each patch into one vector (ViT's first step).

An image batch $x \in \mathbb{R}^{B \times C \times H \times W}$ with patch side $P$ ($P$ divides $H$ and $W$)
becomes $N = \frac{H}{P}\cdot\frac{W}{P}$ patch vectors of length $CP^2$, patches in row-major order and
each vector channel-major (the order of ``torch.nn.functional.unfold`` and of a ``Conv2d`` weight
$(D, C, P, P)$ read as a $(D, CP^2)$ matrix):
$$y_{b,\ iW/P + j,\ cP^2 + uP + v} = x_{b,\ c,\ iP + u,\ jP + v}$$
A patch embedding is then one ``linear`` over these vectors, $E = \mathrm{patchify}(x)\,W^\top + b$, which
is exactly a convolution with kernel $P$ and stride $P$ (``nn/vision.py``).

Backward. Every input pixel lands in exactly one output entry, so patchify is a permutation of the
entries and its adjoint is the inverse permutation — the gradient goes back to the pixel it came from:
$$\bar x_{b,c,iP+u,jP+v} = \bar y_{b,\ iW/P+j,\ cP^2+uP+v}$$
In array terms the forward is ``reshape(B, C, H/P, P, W/P, P)``, a transpose to
``(B, H/P, W/P, C, P, P)`` and a ``reshape(B, N, CP^2)``; the backward undoes the three steps in reverse.
``patchify_composed`` builds the same function from ``reshape`` and ``permute``, to test this one.
"""
from __future__ import annotations

from ..autograd import Function
from ._util import ShapeError, positive_int

_FORWARD = (0, 2, 4, 1, 3, 5)        # (B, C, Hp, P, Wp, P) -> (B, Hp, Wp, C, P, P)
_BACKWARD = (0, 3, 1, 4, 2, 5)       # its inverse


class Patchify(Function):
    @staticmethod
    def forward(ctx, x, patch_size):
        B, C, H, W = x.shape
        P = patch_size
        ctx.shape, ctx.P = x.shape, P
        # [start:patchify-forward]
        y = x.reshape(B, C, H // P, P, W // P, P).transpose(_FORWARD)      # (B, H/P, W/P, C, P, P)
        return y.reshape(B, (H // P) * (W // P), C * P * P)                # (B, N, C P^2)
        # [end:patchify-forward]

    @staticmethod
    def backward(ctx, g):
        B, C, H, W = ctx.shape
        P = ctx.P
        gx = g.reshape(B, H // P, W // P, C, P, P).transpose(_BACKWARD)    # (B, C, H/P, P, W/P, P)
        return gx.reshape(B, C, H, W), None


def _check(x, patch_size):
    P = positive_int("patchify", "patch_size", patch_size)
    if x.ndim != 4:
        raise ShapeError(f"patchify: expected images of shape (B, C, H, W), got {tuple(x.shape)}")
    if x.shape[2] % P or x.shape[3] % P:
        raise ShapeError(f"patchify: image height and width {tuple(x.shape[2:])} are not multiples of "
                         f"patch_size={P}")


def patchify(x, patch_size: int):
    """Images (B, C, H, W) -> patch vectors (B, (H/P)(W/P), C P^2), patches row-major, channel-major inside."""
    _check(x, patch_size)
    return Patchify.apply(x, patch_size)


def patchify_composed(x, patch_size: int):
    """The same rearrangement from ``reshape`` and ``permute`` (their backward ops undo it)."""
    _check(x, patch_size)
    B, C, H, W = x.shape
    P = patch_size
    y = x.reshape(B, C, H // P, P, W // P, P).permute(_FORWARD)
    return y.reshape(B, (H // P) * (W // P), C * P * P)
