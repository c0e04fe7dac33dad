r"""A Llama-architecture decoder-only language model (SmolLM2-135M, Llama 2/3 style), loadable from GGUF.

$$h^{(0)} = E[\mathrm{ids}],\quad h^{(l)} = \mathrm{Block}_l(h^{(l-1)}),\quad
\mathrm{logits} = \mathrm{RMSNorm}(h^{(L)})\,E^\top \ \text{(tied embeddings)}$$

Each block is pre-norm with RMSNorm, grouped-query attention with rotary positions and a SwiGLU MLP
(``nn/llama.py``). No biases, no learned positions. Parameters of SmolLM2-135M: vocabulary
$V = 49152$, width $C = 576$, $L = 30$ blocks, $H = 9$ query heads and $H_{kv} = 3$ key/value heads of
size $d = 64$, MLP width 1536, RoPE base 100000, tied input/output embedding.

llama.cpp permutes the rows of $W_Q$ and $W_K$ when it converts a Hugging Face checkpoint, so that
RoPE can rotate adjacent feature pairs $(2i, 2i+1)$ instead of HF's $(i, i+d/2)$. Weights read from
GGUF therefore use ``rope_interleaved=True``; ``permute_qk_for_interleaved_rope`` applies the same
row permutation to an HF-layout matrix.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .. import backend
from .. import functional as F
from ..autograd import no_grad
from ..functional.shape import ShapeError
from ..nn.layers import Embedding
from ..nn.llama import KVCache, LlamaDecoderLayer, RMSNorm
from ..nn.module import Module, ModuleList
from ..tensor import Tensor


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


class LlamaForCausalLM(Module):
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
            from ..nn.layers import Linear
            self.lm_head = Linear(c.hidden_size, c.vocab_size, bias=False)
        for name, p in self.named_parameters():                          # HF's init: N(0, 0.02) matrices
            if p.ndim == 2:
                p.data = (backend.rng().standard_normal(p.shape) * c.initializer_range).astype(p.dtype)

    # [start:forward]
    def forward(self, ids, cache: KVCache | None = None):
        """Logits (B, T, V) for token ids (B, T); with a ``cache``, ids are the tokens after the cached ones."""
        ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
        if ids.ndim != 2:
            raise ShapeError(f"LlamaForCausalLM: ids must be (batch, time), got shape {ids.shape}")
        x = self.embed_tokens(ids)                                       # (B, T, C)
        for i, layer in enumerate(self.layers):
            x = layer(x, cache, i)
        x = self.norm(x)
        head = self.embed_tokens.weight if self.config.tie_word_embeddings else self.lm_head.weight
        return F.linear(x, head)                                        # (B, T, V)
    # [end:forward]

    def new_cache(self) -> KVCache:
        return KVCache(len(self.layers))

    @no_grad()
    def generate(self, ids, max_new_tokens=20, temperature=0.0, top_k=None, top_p=None, eos_token_id=None,
                 use_cache=True):
        """Continue ``ids`` (B, T) by ``max_new_tokens`` tokens: greedy when ``temperature == 0``, else
        sampling from softmax(logits / temperature), optionally cut to the top-k / nucleus top-p set.
        With ``use_cache`` the prompt is run once and each later step feeds only the newest token."""
        ids = np.array(ids.data if isinstance(ids, Tensor) else ids, dtype=np.int64)
        if ids.ndim == 1:
            ids = ids[None, :]
        eos = self.config.eos_token_id if eos_token_id is None else eos_token_id
        cache = self.new_cache() if use_cache else None
        step_in = ids
        done = np.zeros(ids.shape[0], dtype=bool)
        for _ in range(max_new_tokens):
            logits = self.forward(step_in, cache).numpy()[:, -1, :].astype(np.float64)   # (B, V)
            nxt = _pick(logits, temperature, top_k, top_p)
            if eos is not None:
                nxt = np.where(done, eos, nxt)
                done |= nxt == eos
            ids = np.concatenate([ids, nxt[:, None]], axis=1)
            step_in = nxt[:, None] if use_cache else ids
            if eos is not None and done.all():
                break
        return ids

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_gguf(cls, path, dtype=np.float32):
        """Build the model from a llama-architecture GGUF file (a path or an open ``GGUFFile``; weights
        dequantised to ``dtype``)."""
        from ..weights.gguf import GGUFError, GGUFFile

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


def _pick(logits, temperature, top_k, top_p):
    """Next token per row of (B, V) logits: argmax, or a sample from the tempered, truncated softmax."""
    if not temperature:
        return logits.argmax(axis=-1)
    z = logits / temperature
    if top_k:
        kth = np.sort(z, axis=-1)[:, -min(top_k, z.shape[-1])][:, None]
        z = np.where(z < kth, -np.inf, z)
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-p, axis=-1)
        sp = np.take_along_axis(p, order, axis=-1)
        keep_sorted = np.cumsum(sp, axis=-1) - sp < top_p          # keep until the mass reaches top_p
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=-1)
        p = np.where(keep, p, 0.0)
        p /= p.sum(axis=-1, keepdims=True)
    u = backend.rng().random((p.shape[0], 1))
    return np.minimum((np.cumsum(p, axis=-1) < u).sum(axis=-1), p.shape[-1] - 1)
