"""Chapter 06 — Attention. Run: python chapters/06_attention/run.py [--fast] [--out DIR]"""
# %%


import matplotlib.pyplot as plt
import numpy as np

import tinygrad_llm as tg
import tinygrad_llm.functional as F
from tinygrad_llm import Tensor
from tinygrad_llm.data import load_shakespeare

from chapters.common import chapter_args

args = chapter_args("06_attention", __doc__)
out = args.out
r = np.random.default_rng(0)

# %% [markdown]
# ## 1. Attention as a soft dictionary lookup
# %%
keys = np.eye(4)                                           # four keys, orthogonal
values = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
query = 6.0 * keys[[1]]                                    # a query close to key 1
out_ = F.scaled_dot_product_attention(Tensor(query), Tensor(keys), Tensor(values), scale=1.0).numpy()
args.results.record("lookup_output", out_[0])
print("query ~ key 1 -> output", np.round(out_, 3), "(value 1 is [0, 1])")

# %% [markdown]
# ## 2. The fused node equals the composed formula (forward and gradients)
# %%
q, k, v = (Tensor(r.standard_normal((2, 5, 8)), requires_grad=True) for _ in range(3))
q2, k2, v2 = (Tensor(t.numpy().copy(), requires_grad=True) for t in (q, k, v))
a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
b = F.scaled_dot_product_attention_composed(q2, k2, v2, is_causal=True)
a.sum().backward()
b.sum().backward()
same = all(np.allclose(x.grad.numpy(), y.grad.numpy(), atol=1e-12) for x, y in [(q, q2), (k, k2), (v, v2)])
print("fused == composed:", np.allclose(a.numpy(), b.numpy(), atol=1e-13) and same)

# %% [markdown]
# ## 3. Why divide by sqrt(d_k): softmax saturation
# %%
dims = [4, 16, 64, 256] if args.fast else [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
n = 200 if args.fast else 2000
T = 16
stats = {"unscaled": [], "scaled": []}
for d in dims:
    qs, ks = r.standard_normal((n, 1, d)), r.standard_normal((n, T, d))
    logits = (qs @ ks.transpose(0, 2, 1))[:, 0]            # (n, T): variance d
    for name, s in [("unscaled", 1.0), ("scaled", 1 / np.sqrt(d))]:
        p = F.softmax(Tensor(logits * s), axis=-1).numpy()
        stats[name].append((p.max(-1).mean(), (p * (1 - p)).max(-1).mean()))
    print(f"d_k={d:5d}: var(q.k) = {logits.var():8.1f}; mean max prob unscaled {stats['unscaled'][-1][0]:.3f}, "
          f"scaled {stats['scaled'][-1][0]:.3f}")
args.results.record("saturation", {"keys": T, "samples": n, "d_k": dims,
                                   **{name: {"max_weight": [s[0] for s in st], "max_slope": [s[1] for s in st]}
                                      for name, st in stats.items()}})
fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
for name, st in stats.items():
    axes[0].semilogx(dims, [s[0] for s in st], "o-", label=name, base=2)
    axes[1].semilogx(dims, [s[1] for s in st], "o-", label=name, base=2)
axes[0].set_ylabel("mean of the largest weight")
axes[1].set_ylabel(r"largest softmax slope $p_i(1-p_i)$")
for ax in axes:
    ax.set_xlabel(r"$d_k$")
    ax.legend()
axes[0].set_title(f"softmax over {T} keys saturates without scaling")
axes[1].set_title("...and its gradient vanishes")
fig.tight_layout()
fig.savefig(out / "scaling.png", dpi=120)

# %% [markdown]
# ## 4. Masks: causal and padding; every row still sums to one
# %%
w = F.attention_weights(Tensor(r.standard_normal((1, 5, 4))), Tensor(r.standard_normal((1, 5, 4))), is_causal=True).numpy()[0]
print("causal weights (rows sum to", np.round(w.sum(-1), 12), "):\n", np.round(w, 2))
allowed = np.array([[True, True, True, False, False]])     # keys 3, 4 are padding (True = may attend)
wp = F.attention_weights(Tensor(r.standard_normal((1, 2, 4))), Tensor(r.standard_normal((1, 5, 4))), attn_mask=allowed).numpy()[0]
print("padding-masked weights:\n", np.round(wp, 2))

# %% [markdown]
# ## 5. A heatmap: causal attention over a line of Shakespeare, with characters as their own queries
# %%
text = load_shakespeare()
line = "to be, or not to be, that is the question" if "to be, or not to be" in text.lower() else text[:40]
line = line[:24] if args.fast else line
vocab = sorted(set(line))
E = r.standard_normal((len(vocab), 32))                    # random character vectors: q = k = E[c]
X = E[[vocab.index(c) for c in line]]                      # (T, 32)
w = F.attention_weights(Tensor(X[None]), Tensor(X[None]), is_causal=True).numpy()[0]
fig, ax = plt.subplots(figsize=(7, 6))
im = ax.imshow(w, cmap="magma", vmin=0.0, vmax=1.0)
ticks = [repr(c)[1:-1] if c != " " else "␣" for c in line]
ax.set_xticks(range(len(line)), ticks, fontsize=7)
ax.set_yticks(range(len(line)), ticks, fontsize=7)
ax.set_xlabel("key position")
ax.set_ylabel("query position")
ax.set_title("causal self-attention, q = k = random character vectors")
fig.colorbar(im, ax=ax, shrink=0.8, label="attention weight (each row sums to 1)")
fig.tight_layout()
fig.savefig(out / "heatmap.png", dpi=120)
same_char = np.array([[line[i] == line[j] for j in range(len(line))] for i in range(len(line))])
mass = args.results.record("same_character_mass", (w * same_char).sum(-1).mean())
print(f"average attention mass on earlier copies of the same character (incl. itself): {mass:.3f}")
