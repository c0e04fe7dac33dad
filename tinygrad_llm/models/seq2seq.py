r"""The encoder–decoder Transformer (Vaswani et al., 2017) for sequence-to-sequence tasks, and its decoders.

The encoder reads the whole source $x_{1..S}$ at once (no causal mask; padding keys masked):
$$H^{(0)} = \sqrt{d}\,E_{\mathrm{src}}[x] + P,\qquad H^{(l)} = \mathrm{EncoderLayer}(H^{(l-1)}),\qquad M = \mathrm{LN}(H^{(L)})$$
The decoder reads the target shifted right ($y_0 = \langle\mathrm{bos}\rangle$) under a causal mask and looks at
the encoder's output $M$ ("memory") through cross-attention, whose queries come from the decoder and keys
and values from the encoder:
$$\mathrm{CrossAttn}(Z, M) = \mathrm{softmax}\!\left(\frac{(Z W^Q)(M W^K)^\top}{\sqrt{d_k}} + B_{\mathrm{pad}}\right) M W^V$$
($B_{\mathrm{pad}} = -\infty$ on padded source positions). Each decoder layer is masked self-attention,
cross-attention, feed-forward, each with a residual connection and LayerNorm. The output distribution is
$$p(y_t \mid y_{<t}, x) = \mathrm{softmax}\big(\mathrm{LN}(Z^{(L)}_t)\, W_{\mathrm{out}}^\top\big)$$
with $W_{\mathrm{out}} = E_{\mathrm{tgt}}$ when the output layer is tied to the target embedding.
Training maximises $\sum_t \log p(y_t \mid y_{<t}, x)$ with the true prefix fed in (teacher forcing).

Decoding goes through the generation protocol (``Seq2SeqDecoder`` below): greedy decoding is
``generation.generate`` and beam search ``generation/beam.py``, the same code that decodes GPT and SmolLM2;
``<pad>`` and ``<bos>`` are never generated.
"""
from __future__ import annotations

import contextlib
import math

import numpy as np

from .. import backend
from .. import functional as F
from ..autograd import no_grad
from ..generation import beam_search as generation_beam_search
from ..generation import generate
from ..nn import Embedding, LayerNorm, Linear, Module, ModuleList, Parameter
from ..nn.positional import SinusoidalPositionalEncoding
from ..nn.transformer import TransformerDecoderLayer, TransformerEncoderLayer
from ..tensor import Tensor


def _ids(x):
    a = x.data if isinstance(x, Tensor) else np.asarray(x)
    if a.dtype.kind not in "iu" or a.ndim != 2:
        raise TypeError(f"Seq2SeqTransformer: token ids must be a (batch, length) integer array, "
                        f"got dtype {a.dtype} and shape {a.shape}")
    return a


def causal_padding_mask(T: int) -> np.ndarray:
    """(T, T) boolean mask in PyTorch's attn_mask convention: True where query i must NOT see key j (j > i)."""
    return np.triu(np.ones((T, T), dtype=bool), k=1)


class Seq2SeqTransformer(Module):
    """Encoder stack + decoder stack + output layer, batch-first: ``model(src, tgt_in) -> logits (B, T, V)``."""

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, d_model: int = 64, nhead: int = 4,
                 num_encoder_layers: int = 2, num_decoder_layers: int = 2, dim_feedforward: int = 256,
                 dropout: float = 0.1, activation: str = "relu", norm_first: bool = True,
                 share_embeddings: bool = False, tie_output: bool = True, max_len: int = 256,
                 pad_id: int = 0, bos_id: int = 1, eos_id: int = 2):
        super().__init__()
        if share_embeddings and src_vocab_size != tgt_vocab_size:
            raise ValueError(f"Seq2SeqTransformer: share_embeddings needs one vocabulary, got sizes "
                             f"{src_vocab_size} (source) and {tgt_vocab_size} (target)")
        self.d_model, self.pad_id, self.bos_id, self.eos_id = d_model, pad_id, bos_id, eos_id
        self.norm_first, self.tie_output, self.share_embeddings = norm_first, tie_output, share_embeddings
        self.src_embed = self._embedding(src_vocab_size, d_model)
        self.tgt_embed = self.src_embed if share_embeddings else self._embedding(tgt_vocab_size, d_model)
        self.pos = SinusoidalPositionalEncoding(d_model, max_len=max_len)
        kw = dict(d_model=d_model, nhead=nhead, dim_feedforward=dim_feedforward, dropout=dropout,
                  activation=activation, batch_first=True, norm_first=norm_first)
        self.encoder_layers = ModuleList([TransformerEncoderLayer(**kw) for _ in range(num_encoder_layers)])
        self.decoder_layers = ModuleList([TransformerDecoderLayer(**kw) for _ in range(num_decoder_layers)])
        # pre-LN stacks end with a LayerNorm (the residual stream itself is never normalised)
        self.encoder_norm = LayerNorm(d_model) if norm_first else None
        self.decoder_norm = LayerNorm(d_model) if norm_first else None
        self.generator = None if tie_output else Linear(d_model, tgt_vocab_size)
        self.config = dict(src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size, d_model=d_model,
                           nhead=nhead, num_encoder_layers=num_encoder_layers,
                           num_decoder_layers=num_decoder_layers, dim_feedforward=dim_feedforward,
                           dropout=dropout, activation=activation, norm_first=norm_first,
                           share_embeddings=share_embeddings, tie_output=tie_output, max_len=max_len,
                           pad_id=pad_id, bos_id=bos_id, eos_id=eos_id)

    @staticmethod
    def _embedding(V, d):
        emb = Embedding(V, d)
        # std d^-1/2, so that sqrt(d) * E[x] has unit-variance entries, like the positions it is added to
        emb.weight = Parameter(backend.rng().normal(0.0, d ** -0.5, (V, d)).astype(backend.get_default_dtype()))
        return emb

    def _embed(self, table, ids):
        return self.pos(table(ids) * math.sqrt(self.d_model))          # (B, T, d)

    # [start:encode]
    def encode(self, src, src_key_padding_mask=None):
        """Memory M (B, S, d) for source ids (B, S); padded positions (True in the mask) are never attended."""
        src = _ids(src)
        if src_key_padding_mask is None:
            src_key_padding_mask = src == self.pad_id                   # (B, S), True = padding
        h = self._embed(self.src_embed, src)                            # (B, S, d)
        for layer in self.encoder_layers:
            h = layer(h, src_key_padding_mask=src_key_padding_mask)
        return self.encoder_norm(h) if self.encoder_norm is not None else h
    # [end:encode]

    # [start:decode]
    def decode(self, tgt_in, memory, memory_key_padding_mask, tgt_key_padding_mask=None):
        """Next-token logits (B, T, V) for target prefixes (B, T) that start with <bos>."""
        tgt_in = _ids(tgt_in)
        T = tgt_in.shape[1]
        if tgt_key_padding_mask is None:
            tgt_key_padding_mask = tgt_in == self.pad_id                # (B, T)
        z = self._embed(self.tgt_embed, tgt_in)                         # (B, T, d)
        causal = causal_padding_mask(T)                                 # (T, T), True = future
        for layer in self.decoder_layers:
            z = layer(z, memory, tgt_mask=causal, tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=True)
        if self.decoder_norm is not None:
            z = self.decoder_norm(z)
        if self.generator is not None:
            return self.generator(z)                                    # (B, T, V)
        return F.linear(z, self.tgt_embed.weight)                       # tied: W_out = E_tgt
    # [end:decode]

    def forward(self, src, tgt_in, src_key_padding_mask=None, tgt_key_padding_mask=None):
        src = _ids(src)
        if src_key_padding_mask is None:
            src_key_padding_mask = src == self.pad_id
        memory = self.encode(src, src_key_padding_mask)
        return self.decode(tgt_in, memory, src_key_padding_mask, tgt_key_padding_mask)

    def loss(self, src, tgt_in, tgt_out):
        """Mean cross-entropy of the next target token over non-padding positions (teacher forcing)."""
        logits = self(src, tgt_in)                                      # (B, T, V)
        return F.cross_entropy(logits, _ids(tgt_out), ignore_index=self.pad_id)

    # ------------------------------------------------------------------ decoding
    @property
    def never_generated(self):
        """<pad> and <bos> are inputs only: a decoder never outputs them."""
        return (self.pad_id, self.bos_id)

    def greedy_decode(self, src, max_len: int = 32):
        return greedy_decode(self, src, max_len)

    def beam_search(self, src, num_beams: int = 4, max_len: int = 32, length_penalty: float = 1.0):
        return beam_search(self, src, num_beams, max_len, length_penalty)


class Seq2SeqDecoder:
    r"""The decoder of a ``Seq2SeqTransformer`` seen through the generation protocol (``generation/``).

    The sources are encoded once; ``next_logits(ids, state)`` reads target prefixes ``ids`` (rows starting
    with ``<bos>``) and the memory of their sources. Rows of ``ids`` are the sources repeated
    consecutively (``np.repeat``), the layout ``generate`` and ``beam_search`` use, so with $n$ rows for $B$
    sources row $i$ belongs to source $\lfloor i B / n \rfloor$. The state is the (memory, padding mask) of
    each row, which ``reorder_state`` reorders for beam search.
    """

    def __init__(self, model: "Seq2SeqTransformer", src):
        self.model = model
        src = _ids(src)
        self.src_pad = src == model.pad_id                                  # (B, S), True = padding
        was_training = model.training
        model.eval()
        with no_grad():
            self.memory = model.encode(src, self.src_pad)                   # (B, S, d), computed once
        model.train(was_training)

    @property
    def training(self):
        return self.model.training

    def eval(self):
        self.model.eval()
        return self

    def train(self, mode: bool = True):
        self.model.train(mode)
        return self

    def next_logits(self, ids, state=None, use_cache=True):
        if state is None:
            rows = np.repeat(np.arange(len(self.src_pad)), ids.shape[0] // len(self.src_pad))
            state = {"memory": self.memory[rows], "src_pad": self.src_pad[rows]}
        with no_grad():
            logits = self.model.decode(ids, state["memory"], state["src_pad"]).data[:, -1]   # (B, V), last position
        return logits, state

    @staticmethod
    def reorder_state(state, rows):
        return {"memory": state["memory"][rows], "src_pad": state["src_pad"][rows]}


def _bos_column(model, n):
    return np.full((n, 1), model.bos_id, dtype=np.int64)                    # every output starts with <bos>


# [start:greedy]
def greedy_decode(model: Seq2SeqTransformer, src, max_len: int = 32) -> list[list[int]]:
    """Argmax decoding of a batch; returns each output's token ids without <bos> and <eos>."""
    decoder = Seq2SeqDecoder(model, src)
    ys = generate(decoder, _bos_column(model, len(decoder.src_pad)), max_new_tokens=max_len,
                  eos_token_id=model.eos_id, suppress_tokens=model.never_generated)   # (B, 1 + t)
    return [_strip(row[1:], model.eos_id, model.pad_id) for row in ys]
# [end:greedy]


def _strip(ids, eos_id, pad_id):
    out = []
    for i in ids:
        if i == eos_id:
            break
        if i != pad_id:
            out.append(int(i))
    return out


def beam_search(model: Seq2SeqTransformer, src, num_beams: int = 4, max_len: int = 32,
                length_penalty: float = 1.0, return_all: bool = False):
    """Beam search (``generation/beam.py``) for a batch of sources, all beams of all sources as one decoder batch.

    Returns the best hypothesis per source (ids without <bos>/<eos>), or with ``return_all=True`` a list per
    source of ``(score, ids)`` sorted best first, ``score`` being the length-penalised log-probability.
    """
    if num_beams < 1 or max_len < 1:
        raise ValueError(f"beam_search: num_beams and max_len must be >= 1, got {num_beams} and {max_len}")
    decoder = Seq2SeqDecoder(model, src)
    was_training = model.training
    model.eval()
    try:
        found = generation_beam_search(decoder, _bos_column(model, len(decoder.src_pad)), max_len, num_beams,
                                       model.eos_id, length_penalty, suppress_tokens=model.never_generated)
    finally:
        model.train(was_training)
    results = [[(s, _strip(y, model.eos_id, model.pad_id)) for s, y in hyps] for hyps in found]
    return results if return_all else [r[0][1] for r in results]


@contextlib.contextmanager
def record_cross_attention(model: Seq2SeqTransformer):
    """Inside this block every decoder layer's cross-attention keeps its weights (B, T, S), averaged over
    heads, in the yielded list (one entry per layer per decoder call)."""
    store, originals = [], []
    for layer in model.decoder_layers:
        mha = layer.multihead_attn
        original = mha.forward

        def forward(query, key, value, *args, _orig=original, **kwargs):
            kwargs["need_weights"], kwargs["average_attn_weights"] = True, True
            out, w = _orig(query, key, value, *args, **kwargs)
            store.append(np.array(w.data if isinstance(w, Tensor) else w))
            return out, w

        originals.append((mha, original))
        mha.forward = forward
    try:
        yield store
    finally:
        for mha, original in originals:
            mha.forward = original
