"""Chapter 07 — Multi-head attention and the Transformer block. Run: python chapters/07_transformer/run.py [--fast] [--out DIR]"""
# %%


import matplotlib.pyplot as plt
import numpy as np

import tinygrad_llm as tg
import tinygrad_llm.functional as F
import tinygrad_llm.nn as nn
from tinygrad_llm import Tensor, backend

from chapters.common import chapter_args

args = chapter_args("07_transformer", __doc__)
out = args.out
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
# ## 4. Pre-LN vs post-LN: gradient size through a deep stack at initialisation
# %%
depth = 6 if args.fast else 24
E2, H2 = (32, 4)
xs = r.standard_normal((4, 16, E2))
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
for norm_first in (False, True):
    tg.manual_seed(1)
    with backend.default_dtype(np.float64):
        layers = [nn.TransformerEncoderLayer(E2, H2, 4 * E2, dropout=0.0, batch_first=True, norm_first=norm_first)
                  for _ in range(depth)]
        final = nn.LayerNorm(E2) if norm_first else None
    h = Tensor(xs)
    streams = []
    for layer in layers:
        streams.append(h.retain_grad() if h.requires_grad else h)
        h = layer(h)
    if final is not None:
        h = final(h)
    (h * Tensor(r.standard_normal(h.shape))).sum().backward()
    norms = [np.sqrt(sum((p.grad.numpy() ** 2).sum() for p in layer.parameters())) for layer in layers]
    stream = [np.linalg.norm(t.grad.numpy()) for t in streams[1:]]          # dL/d(input of layer l), l >= 2
    label = "pre-LN" if norm_first else "post-LN"
    axes[0].semilogy(range(1, depth + 1), norms, "o-", label=label)
    axes[1].semilogy(range(2, depth + 1), stream, "o-", label=label)
    print(f"{label}: parameter-gradient norm layer 1 {norms[0]:.3g}, layer {depth} {norms[-1]:.3g}; "
          f"residual-stream gradient at layer 2 {stream[0]:.3g}, layer {depth} {stream[-1]:.3g}")
for ax in axes:
    ax.set_xlabel("layer (1 = closest to the input)")
    ax.legend()
axes[0].set_ylabel("gradient norm of the layer's parameters")
axes[1].set_ylabel("gradient norm at the layer's input")
fig.suptitle(f"{depth} encoder layers at initialisation")
fig.tight_layout()
fig.savefig(out / "preln_vs_postln.png", dpi=120)
