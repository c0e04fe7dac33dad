"""Chapter 01 — Autograd, the walk-through. Run: python chapters/01_autograd/run.py [--fast] [--out DIR]"""
# %%

import numpy as np

import tinygrad_llm as tg
import tinygrad_llm.functional as F
from tinygrad_llm.autograd import topological_order
from tinygrad_llm.viz import draw_graph, to_dot
from tinygrad_llm.testing import gradcheck

from chapters.common import chapter_args

args = chapter_args("01_autograd", __doc__)
out = args.out

# %% [markdown]
# ## 1. A graph, built by running code
# %%
x = tg.Tensor([1.0, 2.0, 3.0], requires_grad=True)
w = tg.Tensor([0.5, -1.0, 2.0], requires_grad=True)
h = (x * w).tanh()
loss = (h * h).sum()
names = {id(x): "x", id(w): "w", id(h): "h", id(loss): "loss"}
print("topological order:", [names.get(id(t)) or t._node.fn.__name__ for t in topological_order(loss)])
print(to_dot(loss, names))
draw_graph(loss, out / "graph.png", names, close=False)   # h * h: two arrows, one per use of h

# %% [markdown]
# ## 2. Reverse mode: one backward pass gives every gradient
# %%
loss.backward()
hx = np.tanh(x.numpy() * w.numpy())
manual_dx = 2 * hx * (1 - hx ** 2) * w.numpy()          # chain rule by hand
print("x.grad      ", x.grad.numpy())
print("by hand     ", manual_dx)
assert np.allclose(x.grad.numpy(), manual_dx, rtol=1e-5)

# %% [markdown]
# ## 3. Gradients accumulate until zero_grad()
# %%
w.zero_grad()
for k in range(3):
    (x * w).sum().backward()
print("after 3 backward passes w.grad =", w.grad.numpy(), "= 3 * x")

# %% [markdown]
# ## 4. gradcheck: trust, but verify
# %%
n = 3 if args.fast else 8
a = tg.Tensor(np.random.default_rng(0).standard_normal((n, n)), requires_grad=True)
b = tg.Tensor(np.random.default_rng(1).standard_normal((n, n)), requires_grad=True)
print("gradcheck softmax(a @ b):", gradcheck(lambda p, q: F.softmax(p @ q, axis=-1), a, b))

# %% [markdown]
# ## 5. How small should epsilon be? Truncation error ~ eps^2, rounding error ~ 1e-16 / eps
# %%
import matplotlib.pyplot as plt

eps_values = np.logspace(-14, -1, 14 if args.fast else 60)
x0 = 0.7
errors64 = [abs((np.tanh(x0 + e) - np.tanh(x0 - e)) / (2 * e) - (1 - np.tanh(x0) ** 2)) for e in eps_values]
x32 = np.float32(x0)
errors32 = [abs(float((np.tanh(x32 + np.float32(e)) - np.tanh(x32 - np.float32(e))) / np.float32(2 * e))
                - (1 - np.tanh(x0) ** 2)) for e in eps_values]
fig, ax = plt.subplots(figsize=(6, 4))
ax.loglog(eps_values, np.maximum(errors64, 1e-18), "o-", label="float64")
ax.loglog(eps_values, np.maximum(errors32, 1e-18), "s-", label="float32")
ax.axvline(1e-6, color="gray", ls="--", label="gradcheck's eps (float64)")
ax.set_xlabel("epsilon")
ax.set_ylabel("|central difference - exact derivative|")
ax.set_title("d tanh(x)/dx at x = 0.7")
ax.legend()
fig.tight_layout()
fig.savefig(out / "fd_error.png", dpi=110)
best64 = args.results.record("best_eps_float64", eps_values[int(np.argmin(errors64))])
best32 = args.results.record("best_eps_float32", eps_values[int(np.argmin(errors32))])
args.results.record("smallest_error", {"float64": min(errors64), "float32": min(errors32)})
print("best eps float64:", best64, "float32:", best32)
print("figures written to", out)
