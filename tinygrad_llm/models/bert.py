r"""BERT: an encoder-only Transformer (post-LN), with Hugging Face parameter names so checkpoints load as they are.

Embeddings, for token $w_t$ at position $t$ with segment $s_t$:
$$E_t = \mathrm{LayerNorm}(W^{word}_{w_t} + W^{pos}_{t} + W^{type}_{s_t})$$
Each encoder layer (post-LN: the residual is added *before* the normalisation):
$$A = \mathrm{LayerNorm}(X + \mathrm{MultiHead}(X)\,W^O), \qquad
  Y = \mathrm{LayerNorm}(A + \mathrm{GELU}(A W_1 + b_1) W_2 + b_2)$$
with the exact GELU $\mathrm{GELU}(x) = x\,\Phi(x) = \tfrac{x}{2}(1 + \mathrm{erf}(x/\sqrt2))$ and padding keys masked
out of every softmax ($M_{ij} = -\infty$ where token $j$ is padding). Pooler: $p = \tanh(W_p h_{[CLS]} + b_p)$.
Sentence embedding (sentence-transformers' mean pooling), with attention mask $m_t \in \{0, 1\}$:
$$u = \frac{\sum_t m_t h_t}{\max(\sum_t m_t, 10^{-9})}, \qquad e = \frac{u}{\max(\lVert u\rVert_2, 10^{-12})}$$
Sequence classification: $\mathrm{logits} = W_c\,\mathrm{Dropout}(p) + b_c$, trained with cross-entropy.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from .. import backend
from .. import functional as F
from ..autograd import no_grad
from ..nn import Dropout, Embedding, LayerNorm, Linear, Module, ModuleList
from ..tensor import Tensor


@dataclass
class BertConfig:
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    hidden_act: str = "gelu"
    pad_token_id: int = 0
    num_labels: int = 2

    @classmethod
    def from_dict(cls, d: dict) -> "BertConfig":
        known = {f.name for f in fields(cls)}
        cfg = cls(**{k: v for k, v in d.items() if k in known})
        if "id2label" in d and "num_labels" not in d:
            cfg.num_labels = len(d["id2label"])
        if cfg.hidden_act != "gelu":
            raise ValueError(f"BertConfig: only hidden_act='gelu' (erf form) is supported, got {cfg.hidden_act!r}")
        if cfg.hidden_size % cfg.num_attention_heads:
            raise ValueError(f"BertConfig: hidden_size {cfg.hidden_size} is not divisible by "
                             f"num_attention_heads {cfg.num_attention_heads}")
        return cfg

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"model_type": "bert"}


class BertEmbeddings(Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.word_embeddings = Embedding(cfg.vocab_size, cfg.hidden_size)
        self.position_embeddings = Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        self.token_type_embeddings = Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.LayerNorm = LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = Dropout(cfg.hidden_dropout_prob)
        for e in (self.word_embeddings, self.position_embeddings, self.token_type_embeddings):
            e.weight.data *= 0.02                    # BERT's initializer_range

    def forward(self, input_ids, token_type_ids):
        B, T = input_ids.shape
        pos = np.arange(T)[None, :]                                                    # (1, T)
        x = self.word_embeddings(input_ids) + self.position_embeddings(pos) + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(x))                                         # (B, T, C)


class BertSelfAttention(Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.num_heads, self.p = cfg.num_attention_heads, cfg.attention_probs_dropout_prob
        self.query = Linear(cfg.hidden_size, cfg.hidden_size)
        self.key = Linear(cfg.hidden_size, cfg.hidden_size)
        self.value = Linear(cfg.hidden_size, cfg.hidden_size)

    # [start:self-attention]
    def forward(self, x, mask):
        B, T, C = x.shape
        H, D = self.num_heads, C // self.num_heads
        q = self.query(x).reshape(B, T, H, D).permute(0, 2, 1, 3)    # (B, H, T, D)
        k = self.key(x).reshape(B, T, H, D).permute(0, 2, 1, 3)      # (B, H, T, D)
        v = self.value(x).reshape(B, T, H, D).permute(0, 2, 1, 3)    # (B, H, T, D)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.p,
                                           training=self.training)   # mask (B, 1, 1, T): True = attend
        return y.permute(0, 2, 1, 3).reshape(B, T, C)                # (B, T, C)
    # [end:self-attention]


class BertSelfOutput(Module):
    """Output projection, dropout, residual and LayerNorm (``attention.output`` and ``output`` in HF names)."""

    def __init__(self, d_in: int, cfg: BertConfig):
        super().__init__()
        self.dense = Linear(d_in, cfg.hidden_size)
        self.LayerNorm = LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = Dropout(cfg.hidden_dropout_prob)

    def forward(self, h, residual):
        return self.LayerNorm(residual + self.dropout(self.dense(h)))   # post-LN


class BertAttention(Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        setattr(self, "self", BertSelfAttention(cfg))       # HF's name: attention.self.query ...
        self.output = BertSelfOutput(cfg.hidden_size, cfg)

    def forward(self, x, mask):
        return self.output(getattr(self, "self")(x, mask), x)


class BertIntermediate(Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.dense = Linear(cfg.hidden_size, cfg.intermediate_size)

    def forward(self, x):
        return F.gelu(self.dense(x))                          # erf GELU


class BertLayer(Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.attention = BertAttention(cfg)
        self.intermediate = BertIntermediate(cfg)
        self.output = BertSelfOutput(cfg.intermediate_size, cfg)

    # [start:layer]
    def forward(self, x, mask):
        a = self.attention(x, mask)                      # LayerNorm(x + MultiHead(x))       (B, T, C)
        return self.output(self.intermediate(a), a)      # LayerNorm(a + FFN(a))             (B, T, C)
    # [end:layer]


class BertEncoder(Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.layer = ModuleList([BertLayer(cfg) for _ in range(cfg.num_hidden_layers)])

    def forward(self, x, mask):
        for layer in self.layer:
            x = layer(x, mask)
        return x


class BertPooler(Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.dense = Linear(cfg.hidden_size, cfg.hidden_size)

    def forward(self, h):
        return self.dense(h[:, 0]).tanh()                   # (B, C) from the [CLS] token


def _ids(x, name: str, shape=None) -> np.ndarray:
    a = np.asarray(x.data if isinstance(x, Tensor) else x)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or (a.size and a.dtype.kind not in "iub"):
        raise ValueError(f"BERT: {name} must be integer ids of shape (B, T), got {a.shape} {a.dtype}")
    if shape is not None and a.shape != shape:
        raise ValueError(f"BERT: {name} has shape {a.shape} but input_ids has {shape}")
    return a.astype(np.int64)


def _load_folder(folder) -> tuple[dict, dict]:
    from ..io.safetensors import load_file
    folder = Path(folder)
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise FileNotFoundError(f"BERT.from_pretrained: {folder} needs config.json and model.safetensors")
    return json.loads((folder / "config.json").read_text()), load_file(folder / "model.safetensors")


def _tokenizer(folder):
    from ..tokenizers.wordpiece import WordPiece
    folder = Path(folder)
    if not (folder / "vocab.txt").is_file():
        return None
    lower = True
    if (folder / "tokenizer_config.json").is_file():
        lower = json.loads((folder / "tokenizer_config.json").read_text()).get("do_lower_case", True)
    return WordPiece.from_vocab_file(folder / "vocab.txt", lowercase=lower)


class BertModel(Module):
    def __init__(self, config: BertConfig | None = None, add_pooling_layer: bool = True, **kwargs):
        super().__init__()
        self.config = cfg = config if config is not None else BertConfig(**kwargs)
        self.embeddings = BertEmbeddings(cfg)
        self.encoder = BertEncoder(cfg)
        self.pooler = BertPooler(cfg) if add_pooling_layer else None
        self.tokenizer = None

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        """(last hidden states (B, T, C), pooled output (B, C) or None)."""
        ids = _ids(input_ids, "input_ids")
        B, T = ids.shape
        if T > self.config.max_position_embeddings:
            raise ValueError(f"BERT: sequence length {T} exceeds max_position_embeddings "
                             f"{self.config.max_position_embeddings}")
        types = np.zeros_like(ids) if token_type_ids is None else _ids(token_type_ids, "token_type_ids", ids.shape)
        am = np.ones_like(ids) if attention_mask is None else _ids(attention_mask, "attention_mask", ids.shape)
        mask = (am != 0)[:, None, None, :]                                           # (B, 1, 1, T) keys to attend
        h = self.encoder(self.embeddings(ids, types), mask)                            # (B, T, C)
        return h, (self.pooler(h) if self.pooler is not None else None)

    # [start:mean-pooling]
    @staticmethod
    def mean_pool(h: np.ndarray, attention_mask: np.ndarray, normalize: bool = True) -> np.ndarray:
        m = attention_mask[..., None].astype(h.dtype)                  # (B, T, 1)
        u = (h * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)     # (B, C) mean over real tokens
        if not normalize:
            return u
        return u / np.maximum(np.linalg.norm(u, axis=-1, keepdims=True), 1e-12)
    # [end:mean-pooling]

    def encode(self, sentences, tokenizer=None, batch_size: int = 32, max_length: int = 256,
               normalize: bool = True) -> np.ndarray:
        """Mean-pooled (and L2-normalised) sentence embeddings, shape (N, C)."""
        tok = tokenizer or self.tokenizer
        if tok is None:
            raise ValueError("BertModel.encode: no tokenizer (load from a folder with vocab.txt or pass one)")
        sentences = [sentences] if isinstance(sentences, str) else list(sentences)
        was, out = self.training, []
        self.eval()
        with no_grad():
            for i in range(0, len(sentences), batch_size):
                enc = tok(sentences[i:i + batch_size], padding=True, truncation=True, max_length=max_length,
                          return_tensors="np")
                h, _ = self(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
                out.append(self.mean_pool(backend.to_device(h.data, "cpu"), enc["attention_mask"], normalize))
        self.train(was)
        return np.concatenate(out) if out else np.zeros((0, self.config.hidden_size), backend.get_default_dtype())

    @classmethod
    def from_pretrained(cls, folder, strict: bool = True):
        """Build from a Hugging Face folder (config.json + model.safetensors); keys may carry a ``bert.`` prefix."""
        conf, state = _load_folder(folder)
        state = {k[5:] if k.startswith("bert.") else k: v for k, v in state.items()}
        state = {k: v for k, v in state.items() if not k.endswith("position_ids")}   # a buffer, not a weight
        model = cls(BertConfig.from_dict(conf), add_pooling_layer=any(k.startswith("pooler.") for k in state))
        if strict:
            unexpected = [k for k in state if k.startswith(("cls.", "classifier."))]
            state = {k: v for k, v in state.items() if k not in unexpected}   # heads of other tasks
        model.load_state_dict(state, strict=strict)
        model.tokenizer = _tokenizer(folder)
        model.eval()
        return model


class BertForSequenceClassification(Module):
    def __init__(self, config: BertConfig | None = None, num_labels: int | None = None, **kwargs):
        super().__init__()
        cfg = config if config is not None else BertConfig(**kwargs)
        if num_labels is not None:
            cfg.num_labels = num_labels
        self.config = cfg
        self.bert = BertModel(cfg)
        self.dropout = Dropout(cfg.hidden_dropout_prob)
        self.classifier = Linear(cfg.hidden_size, cfg.num_labels)

    # [start:classification]
    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        """Logits (B, num_labels); with ``labels`` (B,) also the mean cross-entropy: (logits, loss)."""
        _, pooled = self.bert(input_ids, attention_mask, token_type_ids)    # (B, C)
        logits = self.classifier(self.dropout(pooled))                     # (B, num_labels)
        if labels is None:
            return logits
        return logits, F.cross_entropy(logits, np.asarray(labels, dtype=np.int64))
    # [end:classification]

    @property
    def tokenizer(self):
        return self.bert.tokenizer

    @classmethod
    def from_pretrained(cls, folder, num_labels: int | None = None):
        """Encoder weights from a folder; the classifier is loaded too when present, else freshly initialised."""
        conf, state = _load_folder(folder)
        cfg = BertConfig.from_dict(conf)
        model = cls(cfg, num_labels=num_labels)
        state = {k: v for k, v in state.items() if not k.endswith("position_ids")}
        state = {(k if k.startswith(("bert.", "classifier.")) else "bert." + k): v for k, v in state.items()}
        if "classifier.weight" in state and state["classifier.weight"].shape[0] != model.config.num_labels:
            state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
        own = set(model.state_dict())
        missing = [k for k in own if k not in state and not k.startswith("classifier.")]
        if missing:
            raise KeyError(f"BertForSequenceClassification.from_pretrained: {folder} lacks {missing[:5]}")
        model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
        model.bert.tokenizer = _tokenizer(folder)
        return model
