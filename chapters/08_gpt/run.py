"""Chapter 08 — GPT. Run: python chapters/08_gpt/run.py [--fast] [--out DIR]"""
# %%
import os
import tempfile
import time

import matplotlib.pyplot as plt
import numpy as np

from tinygrad_llm import backend, optim
from chapters.common import chapter_args
from tinygrad_llm.data.corpus import load_shakespeare, train_val_split
from tinygrad_llm.models.gpt import GPT, GPTConfig
from tinygrad_llm.tokenizers import CharTokenizer
from tinygrad_llm.apps.lm import lm_trainer
from tinygrad_llm.apps.trainer import TrainConfig
from tinygrad_llm.io.checkpoint import load_checkpoint
from tinygrad_llm.kernels import threading_info

args = chapter_args("08_gpt", __doc__)
out, results = args.out, args.results

# %% [markdown]
# ## 1. The model and its size
# %%
sizes = {}
for name in ("cpu", "baby", "gpt2"):
    cfg = GPTConfig.from_preset(name, **({} if name == "gpt2" else {"vocab_size": 65}))
    C, L, V, T = cfg.n_embd, cfg.n_layer, cfg.vocab_size, cfg.block_size
    n = V * C + T * C + L * (12 * C * C + 13 * C) + 2 * C
    flops = 6 * (n - T * C) + 6 * L * T * C          # the position table is looked up, not multiplied
    sizes[name] = {"L": L, "H": cfg.n_head, "C": C, "T": T, "V": V, "parameters": n, "train_flops_per_token": flops}
    print(f"{name:>5}: L={L} H={cfg.n_head} C={C} T={T}: {n:,} parameters, {flops:,} training FLOPs per token")
small = GPT(GPTConfig.from_preset("cpu", vocab_size=65))
assert small.num_parameters() == sizes["cpu"]["parameters"], "the formula disagrees with the model"
results.record("sizes", sizes)

# %% [markdown]
# ## 2. The schedule: linear warm-up, then cosine decay
# %%
steps, warm = (60, 6) if args.fast else (1000, 100)
f = optim.warmup_cosine(warm, steps, min_ratio=0.1)
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot([f(t) for t in range(steps + 1)])
ax.set_xlabel("step"); ax.set_ylabel("lr / peak lr"); ax.set_title("warm-up + cosine")
fig.tight_layout(); fig.savefig(out / "schedule.png")

# %% [markdown]
# ## 3. Training on Shakespeare, character level
# %%
text = load_shakespeare()
if args.fast:
    text = text[:60_000]
tok = CharTokenizer.train(text)
ids = np.array(tok.encode(text))
train_ids, val_ids = train_val_split(ids, 0.1)
results.record("corpus", {"characters": len(text), "vocabulary": tok.vocab_size,
                          "train": len(train_ids), "validation": len(val_ids)})
backend.manual_seed(0)
preset = dict(n_layer=1, n_head=2, n_embd=32, block_size=32) if args.fast else {}
model = GPT(GPTConfig.from_preset("cpu", vocab_size=tok.vocab_size, **preset))
print(f"vocabulary {tok.vocab_size}, train {len(train_ids):,} / validation {len(val_ids):,} characters, "
      f"{model.num_parameters():,} parameters")
cfg = TrainConfig(steps=steps, batch_size=16, lr=3e-3, warmup_steps=warm, eval_interval=max(10, steps // 10),
                  eval_batches=5 if args.fast else 20, out_dir=tempfile.mkdtemp(prefix="ch08_"), progress=False, seed=0)
trainer = lm_trainer(model, train_ids, val_ids, cfg, tokenizer=tok)
t0, c0 = time.perf_counter(), time.process_time()
trainer.fit()
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
print(f"{trainer.step} steps in {wall:.0f} s wall, {cpu:.0f} s of CPU time, validation loss "
      f"{trainer.history['eval'][-1]['loss']:.3f}")
results.record("training", {
    "steps": trainer.step, "batch_size": cfg.batch_size, "lr": cfg.lr, "warmup_steps": cfg.warmup_steps,
    "parameters": model.num_parameters(), "threads": threading_info(),
    "seconds": {"wall": wall, "cpu": cpu, "train_steps": trainer.elapsed},   # train_steps: without evaluation
    "load_average_at_end": list(os.getloadavg()),          # 1, 5, 15 minutes: how busy the machine was
    "first_train_loss": trainer.history["train"][0]["loss"],
    "eval": [[e["step"], e["loss"]] for e in trainer.history["eval"]]})
trainer.plot(out / "loss.png", close=False)   # open: a notebook shows it

# %% [markdown]
# ## 4. Checkpoints: resume equals never stopping
# %%
ck = load_checkpoint(trainer.checkpoint_path)
print("checkpoint holds step", ck.step, "config", ck.config, "tokenizer", ck.tokenizer["type"])
backend.manual_seed(0)
sample = model.generate(tok.encode("\n"), 200 if not args.fast else 40, do_sample=True, temperature=0.8, top_k=20)
print(tok.decode(sample[0].tolist()))
