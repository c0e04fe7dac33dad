"""Chapter 05 — RNN and LSTM. Run: python chapters/05_rnn_lstm/run.py [--fast] [--out DIR]"""
# %%
import time

import matplotlib.pyplot as plt
import numpy as np

import tinygrad_llm as tg
import tinygrad_llm.functional as F
import tinygrad_llm.nn as nn
import tinygrad_llm.optim as optim
from tinygrad_llm import Tensor
from tinygrad_llm.data import load_shakespeare

from chapters.common import chapter_args

args = chapter_args("05_rnn_lstm", __doc__)
out, results = args.out, args.results

# %% [markdown]
# ## 1. One step of the cell, by hand and by LSTMCell
# %%
C, H = 3, 4
cell = nn.LSTMCell(C, H)
x, h, c = (np.random.default_rng(i).standard_normal(s).astype(np.float32) for i, s in enumerate([(2, C), (2, H), (2, H)]))
z = x @ cell.weight_ih.numpy().T + cell.bias_ih.numpy() + h @ cell.weight_hh.numpy().T + cell.bias_hh.numpy()
sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
i, f, g, o = sig(z[:, :H]), sig(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), sig(z[:, 3 * H:])
c_hand = f * c + i * g
h_hand = o * np.tanh(c_hand)
h_lib, c_lib = cell(Tensor(x), (Tensor(h), Tensor(c)))
print("cell by hand == LSTMCell:", np.allclose(h_hand, h_lib.numpy(), atol=1e-6) and np.allclose(c_hand, c_lib.numpy(), atol=1e-6))

# %% [markdown]
# ## 2. Fused nodes vs the composed cell: same numbers, fewer graph nodes
# %%
T, B, C, H = (20, 8, 16, 32) if args.fast else (100, 32, 64, 128)
lstm = nn.LSTM(C, H)
xs = Tensor(np.random.default_rng(0).standard_normal((T, B, C)).astype(np.float32), requires_grad=True)


def composed_layer(x):
    """The same layer as a Python loop of composed cells (one graph node per sigmoid, tanh, mul, add...)."""
    ref = nn.LSTMCell(C, H, fused=False)
    ref.load_state_dict({k[:-3]: v for k, v in lstm.state_dict().items()})
    h = c = Tensor(np.zeros((B, H), np.float32))
    hs = []
    for t in range(x.shape[0]):
        h, c = ref(x[t], (h, c))
        hs.append(h)
    return F.stack(hs, 0)


timings = {}
for name, fn in [("fused sequence node", lambda x: lstm(x)[0]), ("composed cells", composed_layer)]:
    best = None
    for _ in range(1 if args.fast else 3):                # the fastest of three: the least disturbed by other jobs
        xs.grad = None
        t0, c0 = time.perf_counter(), time.process_time()
        y = fn(xs)
        (y * y).sum().backward()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        best = (min(wall, best[0]), min(cpu, best[1])) if best else (wall, cpu)
    timings[name] = (best, y.numpy(), xs.grad.numpy())
((wa, ca), ya, ga), ((wb, cb), yb, gb) = timings.values()
same = {"outputs": bool(np.allclose(ya, yb, atol=1e-5)), "input_gradients": bool(np.allclose(ga, gb, atol=1e-4))}
print(f"outputs equal: {same['outputs']}, input gradients equal: {same['input_gradients']}")
print(f"forward+backward, T={T}: fused {ca * 1e3:.1f} ms, composed {cb * 1e3:.1f} ms of CPU time ({cb / ca:.1f}x; "
      f"wall {wa * 1e3:.1f} / {wb * 1e3:.1f} ms)")
results.record("fused_vs_composed", {"T": T, "B": B, "C": C, "H": H, "equal": same,
                                     "fused_seconds": {"wall": wa, "cpu": ca},
                                     "composed_seconds": {"wall": wb, "cpu": cb}})

# %% [markdown]
# ## 3. Gradient flow through time: the forget gate decides how far back a gradient reaches
# %%
T, C, H = (30, 4, 8) if args.fast else (120, 8, 32)
x = np.random.default_rng(1).standard_normal((T, 1, C))
fig, ax = plt.subplots(figsize=(6.4, 4))
flow = {}
for bf in (-2.0, 0.0, 2.0, 4.0):
    tg.manual_seed(0)
    with tg.backend.default_dtype(np.float64):
        lstm = nn.LSTM(C, H)
    lstm.bias_ih_l0.data[H:2 * H] = bf                      # forget-gate bias
    lstm.bias_hh_l0.data[H:2 * H] = 0.0
    xt = Tensor(x, requires_grad=True)
    _, (h_n, c_n) = lstm(xt)
    c_n.sum().backward()                                   # how much does c_T depend on each input x_t?
    norms = np.linalg.norm(xt.grad.numpy().reshape(T, -1), axis=1)
    ax.semilogy(T - 1 - np.arange(T), norms, label=f"forget bias {bf:+.0f}  (sigma = {1 / (1 + np.exp(-bf)):.2f})")
    print(f"forget bias {bf:+.0f}: |dc_T/dx_(T-k)| at k=0: {norms[-1]:.2e}, k={T - 1}: {norms[0]:.2e}")
    flow[f"{bf:+.0f}"] = norms[::-1]                       # index k: k steps back from the last input
results.record("gradient_flow", {"T": T, "C": C, "H": H, "norms_by_k": flow})
ax.set_xlabel("k (steps back from the last one)")
ax.set_ylabel(r"$\|\partial\, \sum c_T / \partial x_{T-k}\|$")
ax.set_title("LSTM gradient flow vs forget-gate bias")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(out / "gradient_flow.png", dpi=120)

# %% [markdown]
# ## 4. Truncated BPTT on Shakespeare: carry the state, cut the graph
# %%
text = load_shakespeare()[: 30_000 if args.fast else 300_000]
chars = sorted(set(text))
stoi = {ch: k for k, ch in enumerate(chars)}
ids = np.array([stoi[ch] for ch in text], dtype=np.int64)
V, B, chunk, H = len(chars), 16, 32, (32 if args.fast else 128)
steps = 30 if args.fast else 600


class CharLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 32)
        self.lstm = nn.LSTM(32, H, batch_first=True)
        self.head = nn.Linear(H, V)

    def forward(self, ids, state=None):                    # (B, T) -> (B, T, V)
        y, state = self.lstm(self.emb(ids), state)
        return self.head(y), state


tg.manual_seed(0)
model = CharLSTM()
opt = optim.Adam(model.parameters(), lr=3e-3)
streams = np.array_split(ids[: len(ids) // B * B], B)      # B parallel streams through the text
L = min(len(s) for s in streams)
state, pos, losses = None, 0, []
for step in range(steps):
    if pos + chunk + 1 > L:
        pos, state = 0, None
    inp = np.stack([s[pos:pos + chunk] for s in streams])  # (B, chunk)
    tgt = np.stack([s[pos + 1:pos + chunk + 1] for s in streams])
    logits, (h, c) = model(inp, state)
    loss = F.cross_entropy(logits, tgt)
    opt.zero_grad()
    loss.backward()
    optim.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    state = (h.detach(), c.detach())                       # keep the values, drop the graph
    pos += chunk
    losses.append(loss.item())
print(f"truncated BPTT: loss {np.mean(losses[:10]):.3f} -> {np.mean(losses[-10:]):.3f} nats/char over {steps} chunks")
results.record("tbptt", {"characters": len(text), "vocabulary": V, "streams": B, "chunk": chunk, "hidden": H,
                         "steps": steps, "first10_mean_loss": np.mean(losses[:10]),
                         "last10_mean_loss": np.mean(losses[-10:]), "losses": losses})
fig, ax = plt.subplots(figsize=(6.4, 3.6))
ax.plot(losses, lw=0.8)
ax.set_xlabel(f"chunk of {chunk} characters x {B} streams")
ax.set_ylabel("cross-entropy (nats/char)")
ax.set_title("character LSTM trained with truncated BPTT")
fig.tight_layout()
fig.savefig(out / "tbptt_loss.png", dpi=120)
