r"""A Llama-architecture decoder-only language model (SmolLM2-135M, Llama 2/3 style), loadable from GGUF.

$$h^{(0)} = E[\mathrm{ids}],\quad h^{(l)} = \mathrm{Block}_l(h^{(l-1)}),\quad
\mathrm{logits} = \mathrm{RMSNorm}(h^{(L)})\,E^\top \ \text{(tied embeddings)}$$

Each block is pre-norm with RMSNorm, grouped-query attention with rotary positions and a SwiGLU MLP
(the classes below). No biases, no learned positions. Parameters of SmolLM2-135M: vocabulary
$V = 49152$, width $C = 576$, $L = 30$ blocks, $H = 9$ query heads and $H_{kv} = 3$ key/value heads of
size $d = 64$, MLP width 1536, RoPE base 100000, tied input/output embedding.

llama.cpp permutes the rows of $W_Q$ and $W_K$ when it converts a Hugging Face checkpoint, so that
RoPE can rotate adjacent feature pairs $(2i, 2i+1)$ instead of HF's $(i, i+d/2)$. Weights read from
GGUF therefore use ``rope_interleaved=True``; ``permute_qk_for_interleaved_rope`` applies the same
row permutation to an HF-layout matrix.

The blocks (as in Llama 2/3 and Mistral): RMSNorm, rotary embedding, SwiGLU MLP and grouped-query attention with a KV cache. Names follow Hugging Face's ``LlamaModel``.

| layer | formula | op file |
|---|---|---|
| RMSNorm | $y = \frac{x}{\sqrt{\mathrm{mean}(x^2) + \epsilon}} \odot \gamma$ | functional/rmsnorm.py |
| RotaryEmbedding | rotate pair $i$ at position $p$ by $\theta_{p,i} = p\,b^{-2i/d}$ | functional/rope.py |
| LlamaMLP | $\big(\mathrm{SiLU}(xW_g^\top) \odot xW_u^\top\big) W_d^\top$ | functional/swiglu.py |
| GroupedQueryAttention | $H$ query heads share $H_{kv}$ key/value heads, $H/H_{kv}$ each | functional/attention.py |

Grouped-query attention. With $H$ query heads and $H_{kv}$ key/value heads ($H_{kv}$ divides $H$),
query head $h$ reads key/value head $\lfloor h\,H_{kv}/H \rfloor$. The KV cache holds $2 \cdot L \cdot
H_{kv} \cdot T \cdot d$ numbers, a factor $H/H_{kv}$ (3 for SmolLM2) smaller than with one K and V
per query head. We never copy K and V $H/H_{kv}$ times: the queries are reshaped into groups
(B, H_kv, H/H_kv, T, d) and the keys (B, H_kv, 1, S, d) broadcast over the group axis.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .. import backend
from .. import functional as F
from ..autograd import no_grad
from ..functional import ShapeError
from ..functional.rmsnorm import rms_norm
from ..functional.rope import rope, rope_angles
from ..functional.swiglu import swiglu
from ..generation import GenerationMixin, KVCache
from ..io.gguf import GGUFError, GGUFFile
from ..nn import Embedding, Linear, Module, ModuleList, Parameter
from ..tensor import Tensor


class RMSNorm(Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.dim, self.eps = dim, eps
        self.weight = Parameter(np.ones((dim,), backend.get_default_dtype()))   # (D,)

    def forward(self, x):
        return rms_norm(x, self.weight, self.eps)

    def extra_repr(self):
        return f"{self.dim}, eps={self.eps}"


class RotaryEmbedding(Module):
    """Rotates queries/keys by their positions; cos/sin are computed for the positions of each call
    (T x d/2 numbers, no table of max_position_embeddings rows to keep per layer; nothing is trained)."""

    def __init__(self, head_dim: int, max_position_embeddings: int = 2048, base: float = 10000.0,
                 interleaved: bool = True):
        super().__init__()
        self.head_dim, self.base, self.interleaved = head_dim, base, interleaved
        self.max_position_embeddings = max_position_embeddings

    def forward(self, x, start_pos: int = 0):
        """Rotate ``x`` (B, H, T, d) whose tokens sit at positions start_pos..start_pos+T-1."""
        T = x.shape[-2]
        if start_pos + T > self.max_position_embeddings:
            raise ValueError(f"RotaryEmbedding: position {start_pos + T - 1} requested but the model was built "
                             f"for {self.max_position_embeddings} positions (max_position_embeddings)")
        cos, sin = rope_angles(self.head_dim, np.arange(start_pos, start_pos + T), self.base, x.dtype)  # (T, d/2)
        return rope(x, cos, sin, self.interleaved)                     # apply moves cos, sin to x's device

    def extra_repr(self):
        return f"head_dim={self.head_dim}, base={self.base}, interleaved={self.interleaved}"


class LlamaMLP(Module):
    def __init__(self, hidden_size: int, intermediate_size: int):
        super().__init__()
        self.gate_proj = Linear(hidden_size, intermediate_size, bias=False)
        self.up_proj = Linear(hidden_size, intermediate_size, bias=False)
        self.down_proj = Linear(intermediate_size, hidden_size, bias=False)

    def forward(self, x):                                            # (B, T, C)
        return self.down_proj(swiglu(self.gate_proj(x), self.up_proj(x)))


class GroupedQueryAttention(Module):
    def __init__(self, hidden_size: int, num_heads: int, num_kv_heads: int, head_dim: int | None = None,
                 max_position_embeddings: int = 2048, rope_base: float = 10000.0, rope_interleaved: bool = True):
        super().__init__()
        if num_heads % num_kv_heads:
            raise ValueError(f"GroupedQueryAttention: num_heads={num_heads} is not a multiple of "
                             f"num_kv_heads={num_kv_heads}")
        self.num_heads, self.num_kv_heads = num_heads, num_kv_heads
        self.head_dim = head_dim or hidden_size // num_heads
        self.q_proj = Linear(hidden_size, num_heads * self.head_dim, bias=False)
        self.k_proj = Linear(hidden_size, num_kv_heads * self.head_dim, bias=False)
        self.v_proj = Linear(hidden_size, num_kv_heads * self.head_dim, bias=False)
        self.o_proj = Linear(num_heads * self.head_dim, hidden_size, bias=False)
        self.rotary = RotaryEmbedding(self.head_dim, max_position_embeddings, rope_base, rope_interleaved)

    # [start:gqa]
    def forward(self, x, cache: KVCache | None = None, layer: int = 0):
        B, T, _ = x.shape
        H, Hkv, d = self.num_heads, self.num_kv_heads, self.head_dim
        start = cache.seen(layer) if cache is not None else 0
        q = self.q_proj(x).reshape(B, T, H, d).transpose(1, 2)        # (B, H, T, d)
        k = self.k_proj(x).reshape(B, T, Hkv, d).transpose(1, 2)      # (B, Hkv, T, d)
        v = self.v_proj(x).reshape(B, T, Hkv, d).transpose(1, 2)      # (B, Hkv, T, d)
        q, k = self.rotary(q, start), self.rotary(k, start)
        if cache is not None:                                          # inference: keys of earlier tokens
            k_all, v_all = cache.update(layer, k.data, v.data)
            k, v = Tensor(k_all), Tensor(v_all)                        # (B, Hkv, S, d), S = start + T
        q = q.reshape(B, Hkv, H // Hkv, T, d)                          # query groups share one K/V head
        k, v = k.unsqueeze(2), v.unsqueeze(2)                          # (B, Hkv, 1, S, d)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)    # (B, Hkv, H/Hkv, T, d)
        y = y.reshape(B, H, T, d).transpose(1, 2).reshape(B, T, H * d)
        return self.o_proj(y)                                          # (B, T, C)
    # [end:gqa]

    def extra_repr(self):
        return f"num_heads={self.num_heads}, num_kv_heads={self.num_kv_heads}, head_dim={self.head_dim}"


class LlamaDecoderLayer(Module):
    """Pre-norm block: $h = x + \\mathrm{Attn}(\\mathrm{RMSNorm}(x))$, $y = h + \\mathrm{MLP}(\\mathrm{RMSNorm}(h))$."""

    def __init__(self, hidden_size, intermediate_size, num_heads, num_kv_heads, head_dim=None, eps=1e-6,
                 max_position_embeddings=2048, rope_base=10000.0, rope_interleaved=True):
        super().__init__()
        self.input_layernorm = RMSNorm(hidden_size, eps)
        self.self_attn = GroupedQueryAttention(hidden_size, num_heads, num_kv_heads, head_dim,
                                               max_position_embeddings, rope_base, rope_interleaved)
        self.post_attention_layernorm = RMSNorm(hidden_size, eps)
        self.mlp = LlamaMLP(hidden_size, intermediate_size)

    def forward(self, x, cache=None, layer=0):
        h = x + self.self_attn(self.input_layernorm(x), cache, layer)
        return h + self.mlp(self.post_attention_layernorm(h))


@dataclass
class LlamaConfig:
    vocab_size: int = 49152
    hidden_size: int = 576
    intermediate_size: int = 1536
    num_hidden_layers: int = 30
    num_attention_heads: int = 9
    num_key_value_heads: int = 3
    head_dim: int | None = None
    max_position_embeddings: int = 8192
    rms_norm_eps: float = 1e-5
    rope_theta: float = 100000.0
    rope_interleaved: bool = True
    tie_word_embeddings: bool = True
    initializer_range: float = 0.02
    bos_token_id: int | None = None
    eos_token_id: int | None = None


def permute_qk_for_interleaved_rope(w, n_heads: int):
    """Reorder the rows of an HF-layout $W_Q$ or $W_K$ (n_heads * d, C) the way llama.cpp does:
    within each head, row $i$ and row $i + d/2$ (HF's rotation pair) become rows $2i$ and $2i+1$."""
    w = np.asarray(w)
    out_f = w.shape[0]
    d = out_f // n_heads
    return w.reshape(n_heads, 2, d // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


class LlamaForCausalLM(GenerationMixin, Module):
    def __init__(self, config: LlamaConfig):
        super().__init__()
        self.config = config
        c = config
        self.embed_tokens = Embedding(c.vocab_size, c.hidden_size)
        self.layers = ModuleList(
            LlamaDecoderLayer(c.hidden_size, c.intermediate_size, c.num_attention_heads, c.num_key_value_heads,
                              c.head_dim, c.rms_norm_eps, c.max_position_embeddings, c.rope_theta,
                              c.rope_interleaved)
            for _ in range(c.num_hidden_layers))
        self.norm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        if not c.tie_word_embeddings:
            self.lm_head = Linear(c.hidden_size, c.vocab_size, bias=False)
        for name, p in self.named_parameters():                          # HF's init: N(0, 0.02) matrices
            if p.ndim == 2:
                p.data = (backend.rng().standard_normal(p.shape) * c.initializer_range).astype(p.dtype)

    # [start:forward]
    def forward(self, ids, cache: KVCache | None = None, logits_to_keep: int = 0, logits_mask=None):
        """Logits (B, T, V) for token ids (B, T); with a ``cache``, ids are the tokens after the cached ones.
        ``logits_to_keep=k > 0`` returns only the last k positions' logits (decoding needs the last one);
        with ``logits_mask`` (B, T) booleans only the marked positions' logits, (N, V) in row-major order."""
        ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
        if ids.ndim != 2:
            raise ShapeError(f"LlamaForCausalLM: ids must be (batch, time), got shape {ids.shape}")
        x = self.embed_tokens(ids)                                       # (B, T, C)
        for i, layer in enumerate(self.layers):
            x = layer(x, cache, i)
        if logits_to_keep:
            x = x[:, -logits_to_keep:]                                   # (B, k, C)
        x = self.norm(x)
        if logits_mask is not None:                                      # a loss on a few positions only:
            x = x[np.asarray(logits_mask, dtype=bool)]                   # (N, C), no (B, T, V) head to pay
        head = self.embed_tokens.weight if self.config.tie_word_embeddings else self.lm_head.weight
        return F.linear(x, head)                                        # (B, T, V) or (N, V)
    # [end:forward]

    def new_cache(self) -> KVCache:
        return KVCache(len(self.layers))

    # ------------------------------------------------------------------ generation hooks
    def next_logits(self, ids, state=None, use_cache=True):
        """Logits (B, V) of the token after ``ids`` (B, n), for ``generation.generate``. With ``use_cache``
        the first call runs the whole prompt and later calls only the tokens the cache has not seen."""
        ids = np.asarray(ids)
        with no_grad():
            if not use_cache:
                return self.forward(ids, logits_to_keep=1).numpy()[:, -1], None
            if state is None:
                state = {"cache": self.new_cache()}
            logits = self.forward(ids[:, state["cache"].seen():], state["cache"], logits_to_keep=1)  # (B, 1, V)
        return logits.numpy()[:, -1], state

    @staticmethod
    def reorder_state(state, index):
        """Keep/duplicate batch rows of the cache (beam search)."""
        if state is not None:
            state["cache"].reorder(index)
        return state

    @property
    def default_eos_token_id(self):
        """``generate`` stops rows at the model's end-of-sequence token unless ``eos_token_id`` says otherwise."""
        return self.config.eos_token_id

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_gguf(cls, path, dtype=np.float32):
        """Build the model from a llama-architecture GGUF file (a path or an open ``GGUFFile``; weights
        dequantised to ``dtype``)."""
        from ..io.gguf import GGUFError, GGUFFile

        f = path if isinstance(path, GGUFFile) else GGUFFile(path)
        md = f.metadata
        arch = md.get("general.architecture")
        if arch != "llama":
            raise GGUFError(f"{path}: architecture {arch!r} is not 'llama'")

        def key(k, default=None):
            v = md.get(f"llama.{k}", default)
            if v is None:
                raise GGUFError(f"{path}: metadata key 'llama.{k}' is missing")
            return v

        n_layers = int(key("block_count"))
        n_heads = int(key("attention.head_count"))
        hidden = int(key("embedding_length"))
        vocab = int(md.get("llama.vocab_size") or len(md.get("tokenizer.ggml.tokens", [])))
        tied = "output.weight" not in f.tensor_names
        cfg = LlamaConfig(
            vocab_size=vocab, hidden_size=hidden, intermediate_size=int(key("feed_forward_length")),
            num_hidden_layers=n_layers, num_attention_heads=n_heads,
            num_key_value_heads=int(key("attention.head_count_kv", n_heads)),
            head_dim=int(md.get("llama.rope.dimension_count", hidden // n_heads)),
            max_position_embeddings=int(key("context_length", 2048)),
            rms_norm_eps=float(key("attention.layer_norm_rms_epsilon", 1e-5)),
            rope_theta=float(key("rope.freq_base", 10000.0)), rope_interleaved=True, tie_word_embeddings=tied,
            bos_token_id=md.get("tokenizer.ggml.bos_token_id"), eos_token_id=md.get("tokenizer.ggml.eos_token_id"))
        with backend.default_dtype(dtype):
            model = cls(cfg)
        model.load_state_dict({ours: f.tensor(theirs, dtype) for ours, theirs in gguf_names(cfg).items()})
        model.gguf_metadata = md
        return model.eval()

    def config_dict(self):
        return asdict(self.config)


def gguf_names(cfg: LlamaConfig) -> dict:
    """Our parameter name -> GGUF tensor name."""
    names = {"embed_tokens.weight": "token_embd.weight", "norm.weight": "output_norm.weight"}
    if not cfg.tie_word_embeddings:
        names["lm_head.weight"] = "output.weight"
    per_layer = {"input_layernorm.weight": "attn_norm", "self_attn.q_proj.weight": "attn_q",
                 "self_attn.k_proj.weight": "attn_k", "self_attn.v_proj.weight": "attn_v",
                 "self_attn.o_proj.weight": "attn_output", "post_attention_layernorm.weight": "ffn_norm",
                 "mlp.gate_proj.weight": "ffn_gate", "mlp.up_proj.weight": "ffn_up", "mlp.down_proj.weight": "ffn_down"}
    for i in range(cfg.num_hidden_layers):
        for ours, theirs in per_layer.items():
            names[f"layers.{i}.{ours}"] = f"blk.{i}.{theirs}.weight"
    return names
