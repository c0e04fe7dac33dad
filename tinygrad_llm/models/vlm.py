r"""A vision-language model: a ViT reads the image, a projector turns its patches into tokens, a decoder writes.

The three parts of nanoVLM (and of LLaVA, Idefics, SmolVLM), built from the library's own pieces:

1. the vision encoder, a ViT (``models/vit.py``): image $\to$ class token + $S \times S$ patch tokens $H$;
2. the modality projector (``nn/vision.py``): pixel shuffle with factor $r$ and a linear map,
   $Z = \mathrm{PixelShuffle}_r(H)\,W_{mp}^\top$ — $S^2/r^2$ image tokens of the decoder's width;
3. a decoder-only language model (``models/gpt.py``, or the pretrained Llama of ``models/llama.py``)
   that reads the image tokens as a prefix before the text, $h_0 = [\,Z;\ W_{te}[x]\,] + W_{pe}$, and is
   trained with the usual next-token loss on the text only (image tokens are never predicted):
$$\mathcal L_{\mathrm{LM}} = -\frac{1}{\lvert\mathcal T\rvert}\sum_{t \in \mathcal T} \log p_\theta(x_{t+1} \mid Z, x_{\le t})$$
where $\mathcal T$ are the positions whose next token is a target (the caption, or the answer of a question).

Beyond nanoVLM, a CLIP-style contrastive head: the ViT's class token and a small text encoder (a
Transformer encoder over the caption, read at its ``<eos>`` token) are mapped into one $E$-dimensional
space, $a_i = W_{img}\,h^{\mathrm{cls}}_i$, $b_i = W_{txt}\,g^{\mathrm{eos}}_i$, and trained with InfoNCE
(``functional/info_nce.py``) and a learned temperature $e^{-t}$. The same space answers retrieval: the
caption nearest an image, the image nearest a caption, by cosine similarity
$$\mathrm{sim}(i, j) = \frac{a_i^\top b_j}{\lVert a_i\rVert\,\lVert b_j\rVert}$$
Set ``embed_dim=0`` for a model without it.

Generation passes the image tokens to the decoding loop as ``prefix`` (``generation/prefix.py``): the
first step puts $Z$ and the prompt in the KV cache, every later step feeds one token.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import backend
from .. import functional as F
from ..autograd import no_grad
from ..functional import ShapeError
from ..nn import (Embedding, LayerNorm, LearnedPositionalEmbedding, Linear, ModalityProjector, Module, ModuleList,
                  Parameter, TransformerEncoderLayer)
from ..tensor import Tensor
from .config import ModelConfig
from .gpt import GPT, GPTConfig
from .vit import ViT, ViTConfig, as_image_tensor


@dataclass
class VLMConfig(ModelConfig):
    vocab_size: int = 40
    image_size: int = 32
    patch_size: int = 4
    channels: int = 3
    vit_dim: int = 64              # the vision encoder (and the text encoder of the contrastive head)
    vit_depth: int = 3
    vit_heads: int = 4
    shuffle_factor: int = 2        # pixel shuffle r: (S/r)^2 image tokens of width r^2 * vit_dim
    n_layer: int = 2               # the GPT decoder
    n_head: int = 4
    n_embd: int = 96
    block_size: int = 48           # image tokens + text tokens
    embed_dim: int = 64            # contrastive space (0: no contrastive head)
    text_layers: int = 1
    text_max_len: int = 32
    dropout: float = 0.0

    PRESETS: ClassVar[dict] = {
        "tiny": dict(vit_dim=32, vit_depth=1, vit_heads=2, n_layer=1, n_head=2, n_embd=32, embed_dim=32),
        "cpu": dict(vit_dim=64, vit_depth=3, vit_heads=4, n_layer=2, n_head=4, n_embd=96, embed_dim=64),
    }
    SIZES: ClassVar[tuple] = ("vocab_size", "image_size", "patch_size", "channels", "vit_dim", "vit_depth",
                              "vit_heads", "shuffle_factor", "n_layer", "n_head", "n_embd", "block_size",
                              "text_layers", "text_max_len")

    def __post_init__(self):
        self.check()
        if self.embed_dim < 0:
            raise ValueError(f"VLMConfig: embed_dim must be >= 0, got {self.embed_dim}")
        vit = self.vit_config()                                  # checks patch and head divisibility
        if vit.grid % self.shuffle_factor:
            raise ValueError(f"VLMConfig: the {vit.grid}x{vit.grid} patch grid cannot be pixel-shuffled with "
                             f"factor {self.shuffle_factor}")
        if self.block_size <= self.image_tokens:
            raise ValueError(f"VLMConfig: block_size={self.block_size} leaves no room for text after "
                             f"{self.image_tokens} image tokens")
        self.gpt_config()

    @property
    def image_tokens(self) -> int:
        """How many prefix tokens an image becomes: $(S/r)^2$."""
        return (self.image_size // self.patch_size // self.shuffle_factor) ** 2

    def num_parameters(self) -> int:
        r"""Parameters of a ``VisionLanguageModel`` of this config (with its GPT decoder), from the formula
        alone: the ViT, the projector $r^2 D_v D_\ell$, the GPT, and with a contrastive head the text encoder
        ($V D_v + T_{max} D_v$, ``text_layers`` blocks of $12 D_v^2 + 13 D_v$, $2 D_v$), the two projections
        $2 D_v E$ and the temperature."""
        D, E = self.vit_dim, self.embed_dim
        n = (self.vit_config().num_parameters() + self.shuffle_factor ** 2 * D * self.n_embd
             + self.gpt_config().num_parameters())
        if E:
            n += (self.vocab_size + self.text_max_len) * D + self.text_layers * (12 * D * D + 13 * D) + 2 * D
            n += 2 * D * E + 1
        return n

    def num_tensors(self) -> int:
        """Arrays in the ``state_dict``: the ViT's, 1 for the projector, the GPT's, and with a contrastive head
        2 embeddings + 12 a text block + 2 + 2 projections + the temperature."""
        n = self.vit_config().num_tensors() + 1 + self.gpt_config().num_tensors()
        return n + (7 + 12 * self.text_layers if self.embed_dim else 0)

    def vit_config(self) -> ViTConfig:
        return ViTConfig(image_size=self.image_size, patch_size=self.patch_size, channels=self.channels,
                         dim=self.vit_dim, depth=self.vit_depth, heads=self.vit_heads, dropout=self.dropout)

    def gpt_config(self) -> GPTConfig:
        return GPTConfig(vocab_size=self.vocab_size, block_size=self.block_size, n_layer=self.n_layer,
                         n_head=self.n_head, n_embd=self.n_embd, dropout=self.dropout)


class TextEncoder(Module):
    """Token + position embeddings, pre-LN encoder layers (padding masked), LayerNorm; the output at the
    last real token (``<eos>``) of each row is the text's feature."""

    def __init__(self, vocab_size: int, dim: int, heads: int, layers: int, max_len: int):
        super().__init__()
        self.tok = Embedding(vocab_size, dim)
        self.tok.weight.data *= 0.02
        self.pos = LearnedPositionalEmbedding(max_len, dim)
        self.layers = ModuleList([TransformerEncoderLayer(dim, heads, 4 * dim, 0.0, activation="gelu",
                                                          batch_first=True, norm_first=True) for _ in range(layers)])
        self.norm = LayerNorm(dim)

    def forward(self, ids, lengths):
        ids, lengths = np.asarray(ids), np.asarray(lengths)
        B, T = ids.shape
        pad = np.arange(T)[None, :] >= lengths[:, None]                      # (B, T): True where padding
        x = self.pos(self.tok(ids))                                          # (B, T, D)
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=pad)
        x = self.norm(x)
        return x[np.arange(B), lengths - 1]                                  # (B, D): the <eos> features


def decoder_width(decoder) -> int:
    c = decoder.config
    return getattr(c, "n_embd", None) or c.hidden_size


class VisionLanguageModel(Module):
    def __init__(self, config: VLMConfig | None = None, decoder=None, **kwargs):
        super().__init__()
        cfg = config if config is not None else VLMConfig(**kwargs)
        self.config = cfg
        self.vision = ViT(cfg.vit_config())
        self.decoder = decoder if decoder is not None else GPT(cfg.gpt_config())
        self.projector = ModalityProjector(cfg.vit_dim, decoder_width(self.decoder), cfg.shuffle_factor)
        if cfg.embed_dim:
            self.text = TextEncoder(cfg.vocab_size, cfg.vit_dim, cfg.vit_heads, cfg.text_layers, cfg.text_max_len)
            self.image_proj = Linear(cfg.vit_dim, cfg.embed_dim, bias=False)
            self.text_proj = Linear(cfg.vit_dim, cfg.embed_dim, bias=False)
            self.logit_scale = Parameter(np.array(math.log(1 / 0.07), backend.get_default_dtype()))   # CLIP's start

    # ---------------------------------------------------------------- the parts
    def images(self, pixels) -> Tensor:
        """uint8 pixels (B, H, W, C) -> the float tensor (B, C, H, W) the ViT reads."""
        return Tensor(as_image_tensor(pixels))

    # [start:vlm-forward]
    def image_prefix(self, vision_tokens):
        """ViT output (B, 1 + S^2, D_v) -> image tokens for the decoder (B, S^2 / r^2, D_l)."""
        return self.projector(vision_tokens[:, 1:])                     # the patches, not the class token

    def forward(self, images, ids, targets=None, image_index=None):
        """Next-token logits (B_text, T, V) of text ``ids`` written after the image tokens of
        ``images[image_index]`` (default: row i reads image i); with ``targets`` (-100 = no target)
        also the mean cross-entropy."""
        prefix = self.image_prefix(self.vision(images))                 # (B_img, P, D_l)
        if image_index is not None:
            prefix = prefix[np.asarray(image_index)]                    # (B_text, P, D_l)
        logits = self.decoder(ids, prefix=prefix)                       # (B_text, T, V)
        if targets is None:
            return logits
        return logits, F.cross_entropy(logits, np.asarray(targets))
    # [end:vlm-forward]

    # ---------------------------------------------------------------- contrastive head
    def _need_head(self):
        if not self.config.embed_dim:
            raise ValueError("VisionLanguageModel: this model has no contrastive head (embed_dim=0)")

    def image_embedding(self, vision_tokens):
        """(B, E) image embeddings from the class token of the ViT output."""
        self._need_head()
        return self.image_proj(vision_tokens[:, 0])

    def text_embedding(self, ids, lengths):
        """(B, E) text embeddings of padded ``ids`` (B, T) with ``lengths`` real tokens each."""
        self._need_head()
        return self.text_proj(self.text(ids, lengths))

    def contrastive_loss(self, vision_tokens, ids, lengths):
        """InfoNCE of the images (their ViT output) against their captions."""
        return F.info_nce(self.image_embedding(vision_tokens), self.text_embedding(ids, lengths), self.logit_scale)

    # ---------------------------------------------------------------- inference
    def generate(self, images, prompt, max_new_tokens: int = 20, **kwargs):
        """Continue ``prompt`` (ids (T,) for every image, or (B, T)) after each image's tokens; keyword
        arguments as ``generation.generate`` (``eos_token_id``, ``num_beams``, ``do_sample`` ...)."""
        with no_grad():
            prefix = self.image_prefix(self.vision(images))
        room = self.config.block_size - prefix.shape[1] - np.atleast_2d(prompt).shape[1]
        if getattr(self.decoder.config, "block_size", None) is not None and max_new_tokens > room:
            if room < 1:
                raise ValueError(f"VisionLanguageModel: the prompt does not fit after {prefix.shape[1]} image tokens "
                                 f"(block_size {self.config.block_size})")
            max_new_tokens = room
        return self.decoder.generate(prompt, max_new_tokens, prefix=prefix.data, **kwargs)

    def embed(self, images=None, ids=None, lengths=None):
        """Unit-length embeddings (numpy) of images and/or texts, for retrieval."""
        out = []
        with no_grad():
            if images is not None:
                out.append(self.image_embedding(self.vision(images)).numpy())
            if ids is not None:
                out.append(self.text_embedding(ids, lengths).numpy())
        out = [a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12) for a in out]
        return out[0] if len(out) == 1 else tuple(out)

    @property
    def block_size(self):
        return self.config.block_size


def check_pixels(pixels, config: VLMConfig) -> np.ndarray:
    """Pixels as the model needs them — uint8 (B, H, W, C) of its image size and channel count — or an error."""
    a = np.asarray(pixels)
    if a.ndim == 3:
        a = a[None]
    want = (config.image_size, config.image_size, config.channels)
    if a.ndim != 4 or tuple(a.shape[1:]) != want:
        raise ShapeError(f"expected images of {want[0]}x{want[1]} pixels with {want[2]} channels, got shape "
                         f"{tuple(a.shape[1:]) if a.ndim == 4 else a.shape}")
    if a.dtype != np.uint8:
        raise TypeError(f"expected uint8 pixels, got {a.dtype}")
    return a
