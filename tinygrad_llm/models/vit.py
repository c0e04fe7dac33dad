r"""ViT: the Vision Transformer encoder (Dosovitskiy et al., 2021) — an image read as a sequence of patches.

Patches of $P \times P$ pixels become $N = HW/P^2$ tokens through one linear map (``nn/vision.py``:
``PatchEmbedding``); a learned class token is put in front and a learned position embedding added,
then $L$ pre-LN Transformer encoder blocks (``nn/transformer.py``, no mask: every patch sees every patch)
and a final LayerNorm:
$$z_0 = [\,x_{\mathrm{cls}};\ \mathrm{patchify}(x)\,W^\top + b\,] + E_{\mathrm{pos}},\qquad
z_l = \mathrm{Block}(z_{l-1}),\qquad h = \mathrm{LN}(z_L)$$
Row 0 of $h$ (the class token) summarises the image (the contrastive head of ``models/vlm.py`` reads it);
rows $1..N$ are the patch tokens on an $\frac{H}{P} \times \frac{W}{P}$ grid (the modality projector reads them).

The position embedding is learned, but it starts from 2-D sinusoids (as in MAE) rather than noise, so
from the first step every patch token carries its row and column: for patch $(i, j)$ the first half
of the features is the 1-D table of ``nn/positional.py`` at position $i$, the second half at $j$,
$$E_{\mathrm{pos}}[1 + iG + j] = [\,P_{i,:};\ P_{j,:}\,]\ \ (P \text{ of width } D/2),\qquad E_{\mathrm{pos}}[0] = 0$$
A small model trained for minutes on CPU learns "left of" much sooner this way.

A block is ``TransformerEncoderLayer(norm_first=True, activation="gelu")`` with LayerNorm $\epsilon = 10^{-6}$
and an MLP of width $4D$, as in the original ViT and in ``torch.nn.TransformerEncoderLayer`` with those
options. Parameters: $C P^2 D + D$ (patch embedding) $+\ (N + 2) D$ (class token, positions)
$+\ L\,(12D^2 + 13D) + 2D$.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import backend
from .. import functional as F
from ..functional import ShapeError
from ..nn import (Dropout, LayerNorm, Module, ModuleList, Parameter, PatchEmbedding, TransformerEncoderLayer,
                  sinusoidal_table)
from .config import ModelConfig


@dataclass
class ViTConfig(ModelConfig):
    image_size: int = 32
    patch_size: int = 4
    channels: int = 3
    dim: int = 64
    depth: int = 3
    heads: int = 4
    mlp_ratio: int = 4
    dropout: float = 0.0
    layer_norm_eps: float = 1e-6

    PRESETS: ClassVar[dict] = {"tiny": dict(dim=32, depth=1, heads=2), "cpu": dict(dim=64, depth=3, heads=4)}
    SIZES: ClassVar[tuple] = ("image_size", "patch_size", "channels", "dim", "depth", "heads", "mlp_ratio")

    def __post_init__(self):
        self.check()
        if self.image_size % self.patch_size:
            raise ValueError(f"ViTConfig: image_size={self.image_size} is not a multiple of patch_size={self.patch_size}")
        if self.dim % self.heads:
            raise ValueError(f"ViTConfig: dim={self.dim} is not divisible by heads={self.heads}")

    @property
    def grid(self) -> int:
        """Patches per side."""
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid ** 2

    def num_parameters(self) -> int:
        r"""Parameters of a ``ViT`` of this config, from the formula alone: the patch embedding $CP^2D + D$,
        the class token and positions $(N + 2)D$, per block $(4 + 2m)D^2 + (9 + m)D$ (attention $4D^2 + 4D$,
        MLP of ratio $m$ $2mD^2 + (m + 1)D$, two LayerNorms $4D$), the final LayerNorm $2D$."""
        C, P, D, m = self.channels, self.patch_size, self.dim, self.mlp_ratio
        block = (4 + 2 * m) * D * D + (9 + m) * D
        return C * P * P * D + D + (self.num_patches + 2) * D + self.depth * block + 2 * D

    def num_tensors(self) -> int:
        """Arrays in a ``ViT``'s ``state_dict``: 4 (patch weight and bias, class token, positions), 12 a block, 2."""
        return 6 + 12 * self.depth


def sincos_2d(grid: int, dim: int) -> np.ndarray:
    """(1 + grid^2, dim) starting values of the position embedding: zeros for the class token, then
    [row sinusoid; column sinusoid] for each patch in row-major order."""
    half = sinusoidal_table(grid, dim // 2, dtype=np.float64)                   # (G, D/2)
    rows, cols = np.divmod(np.arange(grid * grid), grid)
    table = np.zeros((1 + grid * grid, dim))
    table[1:, :dim // 2], table[1:, dim // 2:2 * (dim // 2)] = half[rows], half[cols]
    return table


def vit_block(cfg: ViTConfig) -> TransformerEncoderLayer:
    """One ViT encoder block: pre-LN self-attention + GELU MLP of width ``mlp_ratio * dim``."""
    return TransformerEncoderLayer(cfg.dim, cfg.heads, cfg.mlp_ratio * cfg.dim, cfg.dropout, activation="gelu",
                                   layer_norm_eps=cfg.layer_norm_eps, batch_first=True, norm_first=True)


class ViT(Module):
    def __init__(self, config: ViTConfig | None = None, **kwargs):
        super().__init__()
        cfg = config if config is not None else ViTConfig(**kwargs)
        self.config = cfg
        dt = backend.get_default_dtype()
        self.patch_embed = PatchEmbedding(cfg.channels, cfg.dim, cfg.patch_size)
        self.cls_token = Parameter((backend.rng().standard_normal((1, 1, cfg.dim)) * 0.02).astype(dt))
        self.pos_embed = Parameter(sincos_2d(cfg.grid, cfg.dim)[None].astype(dt))          # (1, 1 + N, D)
        self.drop = Dropout(cfg.dropout)
        self.blocks = ModuleList([vit_block(cfg) for _ in range(cfg.depth)])
        self.norm = LayerNorm(cfg.dim, eps=cfg.layer_norm_eps)

    # [start:vit-forward]
    def forward(self, images):
        """Images (B, C, H, W) -> tokens (B, 1 + N, D): the class token, then the N patch tokens."""
        c = self.config
        if images.ndim != 4 or tuple(images.shape[1:]) != (c.channels, c.image_size, c.image_size):
            raise ShapeError(f"ViT: expected images of shape (B, {c.channels}, {c.image_size}, {c.image_size}), "
                             f"got {tuple(images.shape)}")
        x = self.patch_embed(images)                                    # (B, N, D)
        cls = self.cls_token.expand(x.shape[0], 1, c.dim)               # (B, 1, D)
        x = self.drop(F.concat([cls, x], 1) + self.pos_embed)           # (B, 1 + N, D)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)
    # [end:vit-forward]

    def num_parameters_formula(self) -> int:
        """$CP^2D + D + (N + 2)D + L(12D^2 + 13D) + 2D$ (checked against ``num_parameters`` in the tests)."""
        c = self.config
        D = c.dim
        return (c.channels * c.patch_size ** 2 * D + D + (c.num_patches + 2) * D
                + c.depth * ((2 * c.mlp_ratio + 4) * D * D + (c.mlp_ratio + 9) * D) + 2 * D)


def as_image_tensor(images, dtype=None):
    """uint8 pixels (B, H, W, C) in 0..255 -> float (B, C, H, W) in [-1, 1], the ViT's input."""
    a = np.asarray(images)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ShapeError(f"as_image_tensor: expected pixels (B, H, W, C) or (H, W, C), got shape {a.shape}")
    x = a.astype(dtype or backend.get_default_dtype()) / 127.5 - 1.0
    return x.transpose(0, 3, 1, 2)
