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
out, results = args.out, args.results

# %% [markdown]
# ## 1. A model to decode from: a checkpoint, or a short training run
# %%
size = dict(n_layer=1, n_head=2, n_embd=32) if args.fast else {}
if args.checkpoint:
    ck = load_checkpoint(args.checkpoint)
    model, tok = registry.from_checkpoint(ck)
else:
    text = load_shakespeare()[: 60_000 if args.fast else 1_000_000]
    tok = CharTokenizer.train(text)
    ids = np.array(tok.encode(text))
    tr, va = train_val_split(ids, 0.1)
    backend.manual_seed(0)
    model = GPT(GPTConfig.from_preset("cpu", vocab_size=tok.vocab_size, **size, block_size=32 if args.fast else 64))
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
# A distribution with some spread shows the rules apart: of a few prompts, take the one whose next character is
# least certain (the highest entropy).
# %%
def next_distribution(text):
    z, _ = model.next_logits(np.array([tok.encode(text)]), None)
    return z[0].astype(np.float64)


def softmax(z):
    p = np.exp(z - z.max())
    return p / p.sum()


def entropy(p):
    return float(-(p[p > 0] * np.log(p[p > 0])).sum())


candidates = [c for c in ("ROMEO:", "ROMEO: I", "The ", "And th", "What is", "My lord, ") if all(ch in tok.stoi for ch in c)]
context = max(candidates, key=lambda c: entropy(softmax(next_distribution(c))))
z = next_distribution(context)
order = np.argsort(-z)[:20]
shown = {" ": "␣", "\n": "⏎", "\t": "⇥"}
labels = [shown.get(tok.decode([int(i)]), tok.decode([int(i)])) for i in order]
rules = [("τ = 1", z), ("τ = 0.5", z / 0.5), ("τ = 1.5", z / 1.5), ("top-k 3", filter_logits(z[None], top_k=3)[0]),
         ("top-p 0.6", filter_logits(z[None], top_p=0.6)[0])]
fig, axes = plt.subplots(1, len(rules), figsize=(16, 3.2), sharey=True)
kept_mass = {}
for ax, (name, zz) in zip(axes, rules):
    p = softmax(zz)
    kept = int((p > 0).sum())
    kept_mass[name] = float(softmax(z)[p > 0].sum())
    ax.bar(range(20), p[order], color=["C0" if p[i] > 0 else "lightgray" for i in order])
    ax.set_xticks(range(20), labels, fontsize=8)
    ax.set_title(f"{name}: {kept} tokens, entropy {entropy(p):.2f}", fontsize=9)
axes[0].set_ylabel("probability")
fig.suptitle(f"the next character after {context!r} (20 most likely of {len(z)}; ␣ = space, ⏎ = newline)", fontsize=10)
fig.tight_layout()
fig.savefig(out / "distributions.png", dpi=110)
print(f"next character after {context!r}: entropy {entropy(softmax(z)):.2f} nats; top-k 3 keeps "
      f"{kept_mass['top-k 3']:.0%} of the probability, top-p 0.6 keeps {kept_mass['top-p 0.6']:.0%}")
results.record("distribution", {"context": context, "entropy": entropy(softmax(z)), "kept_mass": kept_mass})

# %% [markdown]
# ## 4. The KV cache: the cost of a new token, with and without
# Without the cache the model reruns the whole context for each new token, so a token costs more the longer
# the text; with it, one row. The speed does not depend on the weights, so an untrained model of the same
# width with a longer window (block_size) shows the growth that the trained model's 64-token window would cut
# short. One thread, greedy decoding; the time is the process's CPU time, the best of three, so other work on
# the machine does not blur it.
# %%
try:
    from threadpoolctl import threadpool_limits            # one BLAS thread: the comparison is per core
except ImportError:                                          # (threadpoolctl comes with the dev extra)
    from contextlib import nullcontext as threadpool_limits

block = 64 if args.fast else 512
speed_model = GPT(GPTConfig.from_preset("cpu", vocab_size=tok.vocab_size, block_size=block, **size))
speed_model.eval()
lengths = [8, 16, 32, 64] if args.fast else [32, 64, 128, 256, 511]
ms_per_token = {True: [], False: []}


def cpu_ms_per_token(n, use_cache, repeats=3):
    """(tokens, best CPU milliseconds per new token over ``repeats`` runs)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        a = speed_model.generate(prompt[:1], n, use_cache=use_cache)
        best = min(best, 1e3 * (time.process_time() - t0) / n)
    return a, best


with threadpool_limits(1):                                   # BLAS and OpenMP (Numba's prange): one thread
    for n in lengths:
        cached = cpu_ms_per_token(n, True)
        uncached = cpu_ms_per_token(n, False)
        ms_per_token[True].append(cached[1])
        ms_per_token[False].append(uncached[1])
        assert np.array_equal(cached[0], uncached[0])        # the same tokens either way
        print(f"{n:5d} new tokens: {ms_per_token[True][-1]:6.2f} ms/token cached, "
              f"{ms_per_token[False][-1]:6.2f} ms/token uncached ({ms_per_token[False][-1] / ms_per_token[True][-1]:.1f}x)")
results.record("kv_cache", {"block_size": block, "lengths": lengths, "ms_per_token_cached": ms_per_token[True],
                            "ms_per_token_uncached": ms_per_token[False]})
fig, ax = plt.subplots(figsize=(5.5, 3.6))
ax.plot(lengths, ms_per_token[False], "s-", color="C3", label="no cache: reruns the context")
ax.plot(lengths, ms_per_token[True], "o-", color="C0", label="KV cache: one new row")
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xticks(lengths, [str(n) for n in lengths])
ax.set_xlabel("tokens generated (one prompt character before them)")
ax.set_ylabel("CPU milliseconds per new token")
ax.set_title(f"greedy decoding, cpu-preset width, window {block}", fontsize=10)
ax.legend()
fig.tight_layout()
fig.savefig(out / "kv_cache_speed.png", dpi=110)
