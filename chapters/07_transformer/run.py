"""Chapter 07 — Multi-head attention and the Transformer block. Run: python chapters/07_transformer/run.py [--fast] [--out DIR]"""
# %%
import os
import time

# The matrices here are small (at most 64 x 128): BLAS threads cost more than they give, and on a shared
# machine they fight each other. Set before NumPy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import matplotlib.pyplot as plt
import numpy as np

import tinygrad_llm as tg
import tinygrad_llm.functional as F
import tinygrad_llm.nn as nn
from tinygrad_llm import Tensor, backend
from tinygrad_llm.data.corpus import load_shakespeare
from tinygrad_llm.tokenizers import CharTokenizer

from chapters.common import chapter_args

args = chapter_args("07_transformer", __doc__)
out, results = args.out, args.results
r = np.random.default_rng(0)

# %% [markdown]
# ## 1. Multi-head attention = h small attentions, concatenated, then W^O
# %%
E, H, B, T = 16, 4, 2, 6
d = E // H
with backend.default_dtype(np.float64):
    mha = nn.MultiheadAttention(E, H, batch_first=True)
x = r.standard_normal((B, T, E))
y, w = mha(Tensor(x), average_attn_weights=False)            # y (B, T, E), w (B, H, T, T)
Wq, Wk, Wv = np.split(mha.in_proj_weight.numpy(), 3)
bq, bk, bv = np.split(mha.in_proj_bias.numpy(), 3)
heads = []
for j in range(H):                                            # head j uses rows j*d..(j+1)*d of each projection
    s = slice(j * d, (j + 1) * d)
    q, k, v = x @ Wq[s].T + bq[s], x @ Wk[s].T + bk[s], x @ Wv[s].T + bv[s]
    heads.append(F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v)).numpy())
concat = np.concatenate(heads, axis=-1)                        # Concat(head_1..head_h): (B, T, E)
y_hand = concat @ mha.out_proj.weight.numpy().T + mha.out_proj.bias.numpy()
print("MultiheadAttention == Concat(heads) W^O:", np.allclose(y.numpy(), y_hand, atol=1e-12))
print("attention weights per head:", w.shape, "each row sums to 1:", np.allclose(w.numpy().sum(-1), 1))

# %% [markdown]
# ## 2. Positions: attention is permutation-equivariant, so order must be added
# %%
perm = r.permutation(T)
y_perm, _ = mha(Tensor(x[:, perm]), need_weights=False)
print("permuting the input permutes the output:", np.allclose(y_perm.numpy(), y.numpy()[:, perm], atol=1e-12))
P = nn.sinusoidal_table(64 if args.fast else 128, 64, dtype=np.float64)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
axes[0].imshow(P.T, aspect="auto", cmap="RdBu")
axes[0].set_xlabel("position p")
axes[0].set_ylabel("feature")
axes[0].set_title("sinusoidal position table (d = 64)")
sim = P @ P.T
axes[1].plot(sim[20], label="P_20 . P_p")
axes[1].plot(sim[40], label="P_40 . P_p")
axes[1].set_xlabel("position p")
axes[1].set_title("dot products peak at the same position")
axes[1].legend()
fig.tight_layout()
fig.savefig(out / "positions.png", dpi=120)

# %% [markdown]
# ## 3. Encoder and decoder layers
# %%
with backend.default_dtype(np.float64):
    enc = nn.TransformerEncoderLayer(E, H, dim_feedforward=32, dropout=0.0, batch_first=True)
    dec = nn.TransformerDecoderLayer(E, H, dim_feedforward=32, dropout=0.0, batch_first=True)
src, tgt = r.standard_normal((B, 7, E)), r.standard_normal((B, T, E))
memory = enc(Tensor(src))
z = dec(Tensor(tgt), memory, tgt_is_causal=True)
print("encoder", memory.shape, "decoder", z.shape, "parameters:", enc.num_parameters(), dec.num_parameters())
tgt2 = tgt.copy()
tgt2[:, 3:] = r.standard_normal((B, T - 3, E))
z2 = dec(Tensor(tgt2), memory, tgt_is_causal=True)
print("decoder outputs at positions 0..2 ignore later tokens:", np.allclose(z.numpy()[:, :3], z2.numpy()[:, :3], atol=1e-12))

# %% [markdown]
# ## 4. Pre-LN vs post-LN: the gradients at initialisation (Xiong et al. 2020, Fig. 3)
# A character language model on Shakespeare: embedding (scaled by sqrt(d)) + sinusoidal positions, L causal
# self-attention layers with a ReLU FFN, the output layer tied to the embedding, cross-entropy. Linear weights
# Xavier-uniform, biases 0, LayerNorm gamma 1 and beta 0, no dropout: the paper's initialisation. Pre-LN adds the
# final LayerNorm. For each layer l we measure the norm of the *expected* gradient of the FFN weights W^1 and W^2
# (the gradient averaged over K mini-batches, then the Frobenius norm, as in the paper), for 10 seeds (each a new
# initialisation and new batches). Then, as in the paper's Theorem 1, the last layer's W^2 for several depths L.
# %%
CH = dict(d=32, ffn=64, heads=4, layers=4, batch=8, seq=32, batches=2, seeds=3, depths=[2, 4, 8]) if args.fast \
    else dict(d=64, ffn=128, heads=4, layers=6, batch=16, seq=64, batches=4, seeds=10, depths=[2, 4, 6, 8, 12])
results.record("setup", CH)
corpus = load_shakespeare()[:1_000_000]
char_tok = CharTokenizer.train(corpus)
corpus_ids = np.array(char_tok.encode(corpus))


def xavier_(w, rng):
    """Xavier (Glorot) uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out)), for a (out, in) weight."""
    a = np.sqrt(6.0 / sum(w.shape))
    w.data[...] = rng.uniform(-a, a, w.shape).astype(w.data.dtype)


class CharTransformerLM(nn.Module):
    """Embedding * sqrt(d) + sinusoids -> L causal layers -> (final LayerNorm if pre-LN) -> logits = h E^T."""

    def __init__(self, vocab, d, ffn, heads, layers, norm_first, rng, max_len=512):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.emb.weight.data[...] = rng.normal(0.0, d ** -0.5, (vocab, d))
        self.layers = nn.ModuleList([nn.TransformerEncoderLayer(d, heads, ffn, dropout=0.0, batch_first=True,
                                                                norm_first=norm_first) for _ in range(layers)])
        for layer in self.layers:
            for w, b in [(layer.self_attn.in_proj_weight, layer.self_attn.in_proj_bias),
                         (layer.self_attn.out_proj.weight, layer.self_attn.out_proj.bias),
                         (layer.linear1.weight, layer.linear1.bias), (layer.linear2.weight, layer.linear2.bias)]:
                xavier_(w, rng)
                b.data[...] = 0.0
        self.final = nn.LayerNorm(d) if norm_first else None
        self.scale, self.pos = np.sqrt(d), nn.sinusoidal_table(max_len, d, dtype=self.emb.weight.data.dtype)

    def forward(self, idx):                                    # (B, T) -> (B, T, V)
        h = self.emb(idx) * self.scale + Tensor(self.pos[: idx.shape[1]])
        for layer in self.layers:
            h = layer(h, is_causal=True)
        if self.final is not None:
            h = self.final(h)
        return h @ self.emb.weight.T                            # tied output layer


def expected_ffn_gradients(norm_first, layers, seed):
    """||mean over K batches of dL/dW||_F for W^1 and W^2 of every layer, one initialisation (seed)."""
    rng = np.random.default_rng(seed)
    tg.manual_seed(seed)
    model = CharTransformerLM(char_tok.vocab_size, CH["d"], CH["ffn"], CH["heads"], layers, norm_first, rng)
    g1 = [np.zeros(l.linear1.weight.shape) for l in model.layers]
    g2 = [np.zeros(l.linear2.weight.shape) for l in model.layers]
    B, T, K = CH["batch"], CH["seq"], CH["batches"]
    for _ in range(K):
        starts = rng.integers(0, len(corpus_ids) - T - 1, B)
        x = np.stack([corpus_ids[i:i + T] for i in starts])
        y = np.stack([corpus_ids[i + 1:i + T + 1] for i in starts])
        model.zero_grad()
        F.cross_entropy(model(x), y).backward()
        for l, layer in enumerate(model.layers):
            g1[l] += layer.linear1.weight.grad.numpy() / K
            g2[l] += layer.linear2.weight.grad.numpy() / K
    return [np.linalg.norm(g) for g in g1], [np.linalg.norm(g) for g in g2]


t0, c0 = time.perf_counter(), time.process_time()
per_layer = {}                                                   # name -> (seeds, layers) arrays for W1, W2
for norm_first, name in [(False, "post-LN"), (True, "pre-LN")]:
    runs = [expected_ffn_gradients(norm_first, CH["layers"], seed) for seed in range(CH["seeds"])]
    per_layer[name] = {"W1": np.array([r[0] for r in runs]), "W2": np.array([r[1] for r in runs])}
by_depth = {name: np.array([[expected_ffn_gradients(name == "pre-LN", L, 100 + seed)[1][-1] for L in CH["depths"]]
                            for seed in range(CH["seeds"])]) for name in ("post-LN", "pre-LN")}
results.record("seconds", {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0})

fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
layers_axis = np.arange(1, CH["layers"] + 1)
for name, color in [("post-LN", "C3"), ("pre-LN", "C0")]:
    for ax, w in zip(axes[:2], ("W1", "W2")):
        a = per_layer[name][w]
        ax.plot(layers_axis, a.mean(0), "o-", color=color, label=name)
        ax.fill_between(layers_axis, a.min(0), a.max(0), color=color, alpha=0.2)
    a = by_depth[name]
    axes[2].plot(CH["depths"], a.mean(0), "o-", color=color, label=name)
    axes[2].fill_between(CH["depths"], a.min(0), a.max(0), color=color, alpha=0.2)
for ax, w in zip(axes[:2], ("W^1", "W^2")):
    ax.set_xlabel("layer l (1 = next to the input)")
    ax.set_title(f"FFN ${w}$ of layer l, {CH['layers']} layers")
    ax.set_xticks(layers_axis)
axes[0].set_ylabel("norm of the expected gradient")
axes[2].set_xlabel("number of layers L")
axes[2].set_title("FFN $W^2$ of the last layer")
axes[2].set_xticks(CH["depths"])
for ax in axes:
    ax.set_ylim(bottom=0)
    ax.legend()
fig.suptitle(f"gradients at initialisation: mean and min-max over {CH['seeds']} seeds "
             f"(d = {CH['d']}, {CH['heads']} heads, character LM on Shakespeare)", fontsize=10)
fig.tight_layout()
fig.savefig(out / "preln_vs_postln.png", dpi=120)

summary = {}
for name in ("post-LN", "pre-LN"):
    for w in ("W1", "W2"):
        a = per_layer[name][w]
        ratio = a[:, -1] / a[:, 0]
        summary[f"{name} {w}"] = {"mean": a.mean(0), "min": a.min(0), "max": a.max(0),
                                   "last_over_first": {"mean": ratio.mean(), "min": ratio.min(), "max": ratio.max()}}
        print(f"{name} {w}: layer 1 {a[:, 0].mean():.3f} ({a[:, 0].min():.3f}-{a[:, 0].max():.3f}), layer "
              f"{CH['layers']} {a[:, -1].mean():.3f} ({a[:, -1].min():.3f}-{a[:, -1].max():.3f}); last/first "
              f"{ratio.mean():.2f} ({ratio.min():.2f}-{ratio.max():.2f})")
    a = by_depth[name]
    summary[f"{name} last W2 by depth"] = {"depths": CH["depths"], "mean": a.mean(0), "min": a.min(0), "max": a.max(0)}
    print(f"{name}: last layer's W2 for L = {CH['depths']}: " + ", ".join(f"{v:.3f}" for v in a.mean(0)))
results.record("gradients", summary)
