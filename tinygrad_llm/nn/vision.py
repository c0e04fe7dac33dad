r"""The two layers that connect images to a Transformer: patch embedding (in) and modality projector (out).

**PatchEmbedding** turns an image into a sequence of tokens, one per $P \times P$ patch: cut the image into
patches and flatten them (``functional/patchify.py``), then map every patch vector with one linear layer,
$$E = \mathrm{patchify}(x)\,W^\top + b,\qquad x: (B, C, H, W),\ W: (D, C P^2),\ E: (B, HW/P^2, D)$$
The weight is stored as PyTorch's ``Conv2d`` stores it, $(D, C, P, P)$: a convolution with kernel $P$
and stride $P$ computes exactly these dot products (each output position sees one patch, no overlap),
so the weights of a PyTorch or Hugging Face ViT load unchanged; flattening the last three axes gives
the $(D, CP^2)$ matrix of the linear map. Initialisation as ``Conv2d``: $\mathcal U(\pm 1/\sqrt{CP^2})$.

**ModalityProjector** (nanoVLM's name) turns the vision encoder's $S \times S$ grid of width-$D_v$ tokens
into tokens the language model can read: pixel shuffle gathers each $r \times r$ block into one token of
width $r^2 D_v$ (``functional/pixel_shuffle.py``, $r^2$ times fewer tokens), and a linear map without
bias brings them to the decoder's width $D_\ell$:
$$Z = \mathrm{PixelShuffle}_r(H)\,W_{mp}^\top,\qquad H: (B, S^2, D_v),\ W_{mp}: (D_\ell, r^2 D_v),\ Z: (B, S^2/r^2, D_\ell)$$
"""
from __future__ import annotations

import math

from .. import functional as F
from ..functional import ShapeError
from .layers import Linear, _uniform
from .module import Module, Parameter


class PatchEmbedding(Module):
    def __init__(self, in_channels: int, embed_dim: int, patch_size: int, bias: bool = True):
        super().__init__()
        self.in_channels, self.embed_dim, self.patch_size = in_channels, embed_dim, patch_size
        bound = 1.0 / math.sqrt(in_channels * patch_size * patch_size)
        self.weight = Parameter(_uniform((embed_dim, in_channels, patch_size, patch_size), bound))  # (D, C, P, P)
        self.bias = Parameter(_uniform((embed_dim,), bound)) if bias else None

    # [start:patch-embedding]
    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ShapeError(f"PatchEmbedding: expected images (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        patches = F.patchify(x, self.patch_size)                        # (B, N, C P^2)
        W = self.weight.reshape(self.embed_dim, -1)                     # (D, C P^2): the conv kernel, flattened
        return F.linear(patches, W, self.bias)                          # (B, N, D)
    # [end:patch-embedding]

    def extra_repr(self):
        return f"{self.in_channels}, {self.embed_dim}, patch_size={self.patch_size}"


class ModalityProjector(Module):
    def __init__(self, in_dim: int, out_dim: int, factor: int = 2):
        super().__init__()
        self.in_dim, self.out_dim, self.factor = in_dim, out_dim, factor
        self.proj = Linear(in_dim * factor * factor, out_dim, bias=False)

    # [start:projector]
    def forward(self, x):                                               # (B, S*S, D_v), no class token
        return self.proj(F.pixel_shuffle(x, self.factor))               # (B, S*S / r^2, D_l)
    # [end:projector]

    def extra_repr(self):
        return f"{self.in_dim} x {self.factor}^2 -> {self.out_dim}"
