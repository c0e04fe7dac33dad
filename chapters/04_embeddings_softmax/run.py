"""Chapter 04 — Embeddings and the output softmax. Run: python chapters/04_embeddings_softmax/run.py [--fast] [--out DIR]"""
# %%
import matplotlib.pyplot as plt
import numpy as np

import tinygrad_llm as tg
import tinygrad_llm.functional as F
import tinygrad_llm.nn as nn
import tinygrad_llm.optim as optim
from tinygrad_llm.data import load_shakespeare

from chapters.common import chapter_args

args = chapter_args("04_embeddings_softmax", __doc__)
out, results = args.out, args.results            # results.json: the numbers the chapter text quotes

# %% [markdown]
# ## 1. Characters to ids
# %%
text = load_shakespeare()[: 20_000 if args.fast else 1_000_000]
chars = sorted(set(text))
V = len(chars)
stoi = {ch: i for i, ch in enumerate(chars)}
ids = np.array([stoi[ch] for ch in text], dtype=np.int64)
print(f"{len(text):,} characters, vocabulary of V = {V}")

# %% [markdown]
# ## 2. An embedding lookup is a one-hot matrix product
# %%
C = 16
emb = nn.Embedding(V, C)
x = ids[:8]
onehot = np.eye(V, dtype=np.float32)[x]                     # (8, V)
looked_up = emb(x).numpy()                                  # (8, C)
print("E[ids] == onehot(ids) @ E:", np.allclose(looked_up, onehot @ emb.weight.numpy()))

# %% [markdown]
# ## 3. The count-based maximum-likelihood bigram model: the best any bigram model can do
# %%
split = int(0.9 * len(ids))
train, val = ids[:split], ids[split:]
counts = np.zeros((V, V))
np.add.at(counts, (train[:-1], train[1:]), 1)
p_mle = (counts + 1e-12) / (counts + 1e-12).sum(1, keepdims=True)
nll_mle = -np.log(p_mle[train[:-1], train[1:]]).mean()
print(f"train NLL of the counting MLE bigram: {nll_mle:.4f} nats/char (uniform would be {np.log(V):.4f})")
results.record("counting_mle", {"characters": len(text), "vocab_size": V, "train_nll": nll_mle})

# %% [markdown]
# ## 4. A neural bigram LM: logits = Linear(Embedding(w_{t-1})), trained by cross-entropy
# %%


class BigramLM(nn.Module):
    def __init__(self, V, C):
        super().__init__()
        self.emb = nn.Embedding(V, C)
        self.out = nn.Linear(C, V)

    def forward(self, prev):                                # (N,) ids -> (N, V) logits f(x; theta)
        return self.out(self.emb(prev))


def train_model(make_opt, steps, batch, seed=1):
    tg.manual_seed(seed)
    model = BigramLM(V, C)
    opt = make_opt(model.parameters())
    r = np.random.default_rng(seed)
    losses = []
    for _ in range(steps):
        i = r.integers(0, len(train) - 1, batch)
        loss = F.cross_entropy(model(train[i]), train[i + 1])  # -1/N sum log p(w_t | w_{t-1})
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with tg.no_grad():
        val_loss = F.cross_entropy(model(val[:-1]), val[1:]).item()
    return model, losses, val_loss


steps, batch = (60 if args.fast else 3000), 256
runs = {
    "SGD lr=1": lambda p: optim.SGD(p, lr=1.0),
    "SGD lr=1, momentum 0.9": lambda p: optim.SGD(p, lr=1.0, momentum=0.9),
    "Adam lr=0.01": lambda p: optim.Adam(p, lr=0.01),
}
block = max(1, steps // 30)                                 # the recorded curve: means of 30 blocks of steps
curves, summary = {}, {}
for name, make in runs.items():
    model, losses, val_loss = train_model(make, steps, batch)
    curves[name] = losses
    with tg.no_grad():                                      # (V, V): P(next | previous) for every previous char
        p_learned = F.softmax(model(np.arange(V)), axis=-1).numpy()
    train_nll = -(counts * np.log(p_learned)).sum() / counts.sum()   # the NLL of the whole training text
    summary[name] = {"train_nll": train_nll, "val_nll": val_loss, "last_20_batches": np.mean(losses[-20:]),
                     "block_means": np.asarray(losses[:block * (steps // block)]).reshape(-1, block).mean(1)}
    print(f"{name:24s} training text NLL {train_nll:.4f} (last 20 batches {np.mean(losses[-20:]):.4f})  "
          f"val loss {val_loss:.4f}")
results.record("training", {"steps": steps, "batch": batch, "block": block, "runs": summary})

fig, ax = plt.subplots(figsize=(6.4, 4))
for name, losses in curves.items():
    k = max(1, len(losses) // 100)
    smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
    ax.plot(np.arange(len(smooth)) + k, smooth, label=name)
ax.axhline(nll_mle, color="k", ls="--", lw=1, label="counting MLE (bound)")
ax.set_xlabel("step")
ax.set_ylabel("cross-entropy (nats/char)")
ax.set_title("neural bigram LM on Shakespeare characters")
ax.legend()
fig.tight_layout()
fig.savefig(out / "loss_curves.png", dpi=120)

# %% [markdown]
# ## 5. The learned distribution approaches the counts
# %%
with tg.no_grad():
    p_model = F.softmax(model(np.arange(V)), axis=-1).numpy()  # (V, V): row = previous char
show = [stoi[c] for c in "etaoin hsr" if c in stoi]
fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
for a, (title, p) in zip(axes, [("counting MLE", p_mle), ("neural bigram (Adam)", p_model)]):
    a.imshow(p[np.ix_(show, show)], cmap="viridis", vmin=0)
    labels = [repr(chars[i])[1:-1] for i in show]
    a.set_xticks(range(len(show)), labels)
    a.set_yticks(range(len(show)), labels)
    a.set_xlabel("next char")
    a.set_ylabel("previous char")
    a.set_title(title)
fig.tight_layout()
fig.savefig(out / "bigram_probs.png", dpi=120)
kl = np.sum(p_mle * (np.log(p_mle) - np.log(p_model)), axis=1) @ (counts.sum(1) / counts.sum())
print(f"KL(counts || model), averaged over previous chars: {kl:.4f} nats")
results.record("kl_counts_to_adam", kl)
results.record_run_time()
