"""Chapter 09 — Generation. Run: python chapters/09_generation/run.py [--fast] [--out DIR] [--checkpoint PATH]"""
# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from tinygrad_llm import backend
from chapters.common import chapter_args
from tinygrad_llm.data.corpus import load_shakespeare, train_val_split
from tinygrad_llm.generation import filter_logits
from tinygrad_llm.models.gpt import GPT, GPTConfig
from tinygrad_llm.tokenizers import CharTokenizer
from tinygrad_llm.apps.lm import lm_trainer
from tinygrad_llm.apps.trainer import TrainConfig
from tinygrad_llm.io.checkpoint import load_checkpoint
from tinygrad_llm.models import registry

args = chapter_args("09_generation", __doc__, options=lambda parser: parser.add_argument(
    "--checkpoint", help="decode from a model saved by `tinygrad-llm train` (e.g. runs/gpt-cpu/checkpoint.npz)"))
out = args.out

# %% [markdown]
# ## 1. A model to decode from: a checkpoint, or a short training run
# %%
if args.checkpoint:
    ck = load_checkpoint(args.checkpoint)
    model, tok = registry.from_checkpoint(ck)
else:
    text = load_shakespeare()[: 60_000 if args.fast else 1_000_000]
    tok = CharTokenizer.train(text)
    ids = np.array(tok.encode(text))
    tr, va = train_val_split(ids, 0.1)
    backend.manual_seed(0)
    size = dict(n_layer=1, n_head=2, n_embd=32, block_size=32) if args.fast else {}
    model = GPT(GPTConfig.from_preset("cpu", vocab_size=tok.vocab_size, **size))
    lm_trainer(model, tr, va, TrainConfig(steps=40 if args.fast else 600, lr=3e-3, warmup_steps=5 if args.fast else 50,
                                          eval_interval=1000, eval_batches=3, progress=False, seed=0),
               tokenizer=tok).fit()
model.eval()
prompt = tok.encode("ROMEO:" if all(c in tok.stoi for c in "ROMEO:") else tok.decode([0]))
n_new = 40 if args.fast else 200

# %% [markdown]
# ## 2. The decoding methods side by side
# %%
methods = {
    "greedy": dict(),
    "temperature 0.7": dict(do_sample=True, temperature=0.7),
    "temperature 1.3": dict(do_sample=True, temperature=1.3),
    "top-k 10": dict(do_sample=True, top_k=10),
    "top-p 0.9": dict(do_sample=True, top_p=0.9),
    "beam 4": dict(num_beams=4),
}
for name, kw in methods.items():
    backend.manual_seed(0)
    text = tok.decode(model.generate(prompt, n_new, **kw)[0].tolist())
    print(f"--- {name}\n{text}\n")

# %% [markdown]
# ## 3. What temperature, top-k and top-p do to one next-token distribution
# %%
logits, _ = model.next_logits(np.array([prompt]), None)
z = logits[0].astype(np.float64)
order = np.argsort(-z)[:20]
fig, axes = plt.subplots(1, 4, figsize=(14, 3), sharey=True)
for ax, (name, zz) in zip(axes, [("τ = 1", z), ("τ = 0.5", z / 0.5), ("top-k 5", filter_logits(z[None], top_k=5)[0]),
                                 ("top-p 0.8", filter_logits(z[None], top_p=0.8)[0])]):
    p = np.exp(zz - zz.max()); p /= p.sum()
    ax.bar(range(20), p[order])
    ax.set_xticks(range(20), [repr(tok.decode([int(i)]))[1:-1] for i in order], fontsize=7)
    ax.set_title(name)
axes[0].set_ylabel("probability")
fig.tight_layout(); fig.savefig(out / "distributions.png"); plt.close(fig)

# %% [markdown]
# ## 4. The KV cache: time per generated token, with and without
# %%
lengths = [10, 20, 40] if args.fast else [25, 50, 100, 200, 400]
times = {True: [], False: []}
for n in lengths:
    for use_cache in (True, False):
        t0 = time.perf_counter()
        a = model.generate(prompt, n, use_cache=use_cache)
        times[use_cache].append(n / (time.perf_counter() - t0))
    assert np.array_equal(a, model.generate(prompt, n, use_cache=True))
    print(f"{n:4d} new tokens: {times[True][-1]:7.0f} tok/s cached, {times[False][-1]:7.0f} tok/s uncached")
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(lengths, times[True], "o-", label="KV cache")
ax.plot(lengths, times[False], "s-", label="no cache")
ax.axvline(model.config.block_size, color="gray", ls=":", label="block_size")
ax.set_xlabel("new tokens"); ax.set_ylabel("tokens / s"); ax.legend(); ax.set_title("greedy decoding speed")
fig.tight_layout(); fig.savefig(out / "kv_cache_speed.png"); plt.close(fig)
