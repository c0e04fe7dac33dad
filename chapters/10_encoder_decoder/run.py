"""Chapter 10 — Encoder–decoder, the walk-through. Run: python chapters/10_encoder_decoder/run.py [--fast] [--out DIR]"""
# %%
import os

# The matrices here are small (64 x 64): BLAS threads cost more than they give, and on a shared machine
# they fight each other. One thread is several times faster for this model.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import pathlib
import time

import numpy as np

import tinygrad_llm as tg
from tinygrad_llm.data.translation import make_batch, make_dates_task, tokenize_source, tokenize_target
from tinygrad_llm.models.seq2seq import beam_search, causal_padding_mask, record_cross_attention
from tinygrad_llm.apps.seq2seq import build_model, evaluate, train

from chapters.common import chapter_args

args = chapter_args("10_encoder_decoder", __doc__)
out = args.out

# %% [markdown]
# ## 1. The task: dates in words -> ISO dates, split by date
# %%
sizes = dict(n_train=300, n_valid=50, n_test=50) if args.fast else dict(n_train=20000, n_valid=500, n_test=1000)
task = make_dates_task(**sizes, seed=0)
for src, tgt in task.train[:4]:
    print(f"{src:55s} -> {tgt}")
print(f"source vocabulary {len(task.src_vocab)} words, target vocabulary {len(task.tgt_vocab)} characters; "
      f"{len(task.train)} train / {len(task.valid)} valid / {len(task.test)} test pairs")

# %% [markdown]
# ## 2. A batch, its padding mask and the decoder's causal mask
# %%
src, tgt_in, tgt_out = make_batch(task, task.train[:3])
print("src (B, S):\n", src)
print("source key padding mask (True = <pad>, never attended):\n", src == task.src_vocab.pad_id)
print("tgt_in  = <bos> y :", tgt_in[0])
print("tgt_out = y <eos> :", tgt_out[0])
print("causal mask (True = future, hidden), T = 4:\n", causal_padding_mask(4).astype(int))

# %% [markdown]
# ## 3. The model
# %%
arch = dict(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=32) if args.fast \
    else dict(d_model=64, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=128)
model = build_model(task, **arch)
print(model.config)
print(f"{model.num_parameters():,} parameters")

# %% [markdown]
# ## 4. Training: AdamW, linear warm-up, cosine decay; exact match on the validation set as we go
# %%
steps = 40 if args.fast else 600


def on_step(trainer, rec):
    if rec["step"] % (10 if args.fast else 25) == 0:
        print(f"step {rec['step']:5d}  loss {rec['loss']:.4f}  lr {rec['lr']:.2e}  {rec['time']:6.1f}s")


t0, c0 = time.perf_counter(), time.process_time()
hist = train(model, task, steps=steps, batch_size=64, lr=3e-3, warmup=10 if args.fast else 100,
             eval_every=20 if args.fast else 50, callback=on_step)
args.results.record("training", {
    "train_dates": len(task.train), "source_words": len(task.src_vocab) - 4,     # minus <pad> <bos> <eos> <unk>
    "seconds_with_validation": {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0},
    # the mean training loss of the 10 steps before each evaluation, beside the validation exact match
    "curve": [{"step": ev["step"], "valid_exact_match": ev["exact_match"],
               "train_loss": float(np.mean([r["loss"] for r in hist["train"] if ev["step"] - 10 < r["step"] <= ev["step"]]))}
              for ev in hist["eval"]]})
for ev in hist["eval"]:
    print(f"step {ev['step']:5d}  valid exact match {ev['exact_match']:.3f}")
train_seconds = hist["train"][-1]["time"]            # the trainer times the steps, not the evaluations
print(f"trained {steps} steps in {train_seconds:.1f} s")

# %%
import matplotlib.pyplot as plt

from tinygrad_llm.viz import ema

tr_steps = [r["step"] for r in hist["train"]]
tr_loss = [r["loss"] for r in hist["train"]]
fig, ax = plt.subplots(figsize=(6.5, 4))
ax.semilogy(tr_steps, tr_loss, lw=0.6, alpha=0.3, color="C0")
ax.semilogy(tr_steps, ema(tr_loss), color="C0", label="training loss (cross-entropy, nats; EMA)")
ax.set_xlabel("step")
ax.set_ylabel("loss")
ax2 = ax.twinx()
ax2.plot([e["step"] for e in hist["eval"]], [e["exact_match"] for e in hist["eval"]], "s-", color="C2",
         label="valid exact match")
lrs = np.array([r["lr"] for r in hist["train"]])
ax2.plot(tr_steps, lrs / lrs.max(), ":", color="gray", label="learning rate / max")
ax2.set_ylabel("exact match, relative lr")
ax2.set_ylim(-0.02, 1.02)
lines = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
ax.legend(lines, [h.get_label() for h in lines], loc="center right")
ax.set_title("dates in words -> ISO: encoder-decoder Transformer")
fig.tight_layout()
fig.savefig(out / "training_curve.png", dpi=110)

# %% [markdown]
# ## 5. Held-out test set: greedy vs beam search, exact match and BLEU
# %%
results = {}
for beams in (1, 4):
    t0 = time.perf_counter()
    r = evaluate(model, task, task.test, num_beams=beams, length_penalty=1.0)
    name = "greedy" if beams == 1 else f"beam{beams}"
    results[name] = {"exact_match": r["exact_match"], "bleu": r["bleu"], "seconds": time.perf_counter() - t0}
    print(f"test {name:7s} exact match {r['exact_match']:.4f}   BLEU {r['bleu']:6.2f}   "
          f"({results[name]['seconds']:.1f} s for {r['n']} sentences)")
    if beams == 1:
        wrong = [(s, t, h) for (s, t), h in zip(task.test, r["hypotheses"]) if h != t]
print(f"{len(wrong)} greedy errors" + (", the first few:" if wrong else ""))
for s, t, h in wrong[:5]:
    print(f"  {s:55s} want {t}  got {h}")

# %% [markdown]
# ## 6. Beam search keeps several hypotheses, ranked by log p(y|x) / |y|^alpha
# %%
src1, _, _ = make_batch(task, task.test[:1])
beams_seen = {"source": task.test[0][0], "target": task.test[0][1]}
for alpha in (0.0, 1.0):
    hyps = beam_search(model, src1, num_beams=4, max_len=16, length_penalty=alpha, return_all=True)[0]
    print(f"alpha = {alpha}: " + ", ".join(f"{task.decode_target(h)!r} ({s:.3f})" for s, h in hyps[:4]))
    beams_seen[f"alpha {alpha}"] = [[task.decode_target(h), float(s)] for s, h in hyps[:4]]
args.results.record("beam_hypotheses", beams_seen)

# %% [markdown]
# ## 7. Cross-attention: where does each output character look in the source?
# %%
example_src, example_tgt = next(((s, t) for s, t in task.test if s.startswith("the ")), task.test[0])
src1, tgt_in1, _ = make_batch(task, [(example_src, example_tgt)])
with record_cross_attention(model) as weights:
    model(src1, tgt_in1)
src_words, tgt_chars = tokenize_source(example_src), tokenize_target(example_tgt) + ["<eos>"]
n_layers = len(weights)
fig, axes = plt.subplots(1, n_layers, figsize=(3.2 * n_layers + 1, 4.2), squeeze=False, sharey=True)
for i, (ax, w) in enumerate(zip(axes[0], weights)):
    im = ax.imshow(w[0], cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(src_words)), src_words, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(tgt_chars)), tgt_chars, fontsize=8)
    ax.set_title(f"decoder layer {i + 1}")
    ax.set_xlabel("source word (key)")
axes[0][0].set_ylabel("predicted character (query: the prefix before it)")
fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8)
fig.suptitle("cross-attention weights, averaged over heads")
fig.savefig(out / "cross_attention.png", dpi=110, bbox_inches="tight")
focus = weights[-1][0].argmax(axis=-1)
print("each output character's most-attended source word (last layer):")
print("  " + "  ".join(f"{c}:{src_words[j]}" for c, j in zip(tgt_chars, focus)))
args.results.record("alignment", {"source": src_words, "target": tgt_chars,
                                  "last_layer_argmax": [int(j) for j in focus],
                                  "last_layer_max_weight": weights[-1][0].max(axis=-1),
                                  "first_layer_max_weight": weights[0][0].max(axis=-1)})

# %% [markdown]
# ## 8. How much data does it need? Same model, same 300 steps, fewer distinct training dates
# %%
data_curve = []
for n_train in ([50] if args.fast else [100, 300, 1000]):
    tg.manual_seed(0)
    small_task = make_dates_task(n_train=n_train, n_valid=0, n_test=sizes["n_test"], seed=0)
    small = build_model(small_task, **arch)
    train(small, small_task, steps=5 if args.fast else 300, batch_size=64, lr=3e-3, warmup=2 if args.fast else 50)
    row = {"n_train": n_train}
    for beams in (1, 4):
        r = evaluate(small, small_task, small_task.test, num_beams=beams)
        row[f"exact_match_beam{beams}"], row[f"bleu_beam{beams}"] = r["exact_match"], r["bleu"]
    data_curve.append(row)
    print(f"n_train {n_train:5d}: test exact match greedy {row['exact_match_beam1']:.3f} beam4 "
          f"{row['exact_match_beam4']:.3f}   BLEU greedy {row['bleu_beam1']:.2f} beam4 {row['bleu_beam4']:.2f}")

for key, value in {"steps": steps, "train_seconds": train_seconds, "parameters": model.num_parameters(),
                   **results, "data_curve": data_curve}.items():
    args.results.record(key, value)
print("figures written to", out)
