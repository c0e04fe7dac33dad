"""Chapter 05 — the LSTM language model against the n-gram baseline.
Run: python chapters/05_rnn_lstm/run_lm.py [--fast] [--out DIR]"""
# %%
import os
import time

import numpy as np

from tinygrad_llm import backend
from chapters.common import chapter_args
from tinygrad_llm.data.corpus import load_shakespeare, train_val_split
from tinygrad_llm.models.lstm_lm import LSTMConfig, LSTMLM
from tinygrad_llm.models.ngram import NGramLM
from tinygrad_llm.tokenizers import CharTokenizer
from tinygrad_llm.apps.lm import evaluate_lm, lm_trainer
from tinygrad_llm.apps.trainer import TrainConfig
from tinygrad_llm.kernels import threading_info

args = chapter_args("05_rnn_lstm", __doc__, results="results_lm.json")
out, results = args.out, args.results

# %% [markdown]
# ## 1. Data: the same characters for every model
# %%
text = load_shakespeare()[: 60_000 if args.fast else 2_000_000]
tok = CharTokenizer.train(text)
ids = np.array(tok.encode(text))
train_ids, val_ids = train_val_split(ids, 0.1)
V = tok.vocab_size
print(f"{len(train_ids):,} training / {len(val_ids):,} validation characters, V = {V}")
results.record("data", {"characters": len(text), "train": len(train_ids), "validation": len(val_ids), "vocabulary": V})

# %% [markdown]
# ## 2. The n-gram baselines (Kneser-Ney), perplexity on the validation split
# %%
def seen_fraction(ng: NGramLM, ids) -> float:
    """The share of the n-grams of ``ids`` (one per position) that ``ng`` counted in its training text."""
    n, V, N = ng.n, ng.vocab_size, len(ids) - ng.n + 1
    key = ids[:N].astype(np.int64)
    for m in range(1, n):
        key = key * V + ids[m:m + N]                        # the same integer keys as NGramLM.fit
    return float(np.isin(key, ng.levels[-1]["keys"]).mean())


rows = []
for n in (1, 3, 5):
    t0, c0 = time.perf_counter(), time.process_time()
    ng = NGramLM(n, V, smoothing="kneser_ney").fit(train_ids)
    ppl = ng.perplexity(val_ids)
    rows.append({"model": f"{n}-gram, Kneser-Ney", "perplexity": ppl, "seconds": time.perf_counter() - t0,
                 "cpu_seconds": time.process_time() - c0, "validation_ngrams_seen": seen_fraction(ng, val_ids)})
    print(f"{n}-gram: {rows[-1]['validation_ngrams_seen']:.1%} of the validation {n}-grams occur in the training text")

# %% [markdown]
# ## 3. The LSTM LM: Embedding → LSTM → Linear, truncated BPTT over 16 streams
# %%
backend.manual_seed(0)
cfg = LSTMConfig.from_preset("tiny" if args.fast else "cpu", vocab_size=V)
model = LSTMLM(cfg)
steps = 30 if args.fast else 2500
trainer = lm_trainer(model, train_ids, val_ids, TrainConfig(steps=steps, batch_size=16, lr=3e-3, warmup_steps=10 if args.fast else 100,
                                                         weight_decay=0.0, eval_interval=max(10, steps // 25),
                                                         eval_batches=10, progress=False, seed=0), tokenizer=tok)
t0, c0 = time.perf_counter(), time.process_time()
trainer.fit()
train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
ev = evaluate_lm(model, val_ids, 16, 10_000)            # every window of the validation split
rows.append({"model": f"LSTM LM (E{cfg.n_embd}, H{cfg.hidden_size}), {steps:,} steps", "perplexity": ev["perplexity"],
             "seconds": train_s, "cpu_seconds": train_cpu})
results.record("lstm", {"steps": steps, "embedding": cfg.n_embd, "hidden": cfg.hidden_size, "window": cfg.block_size,
                        "threads": threading_info(), "load_average_at_end": list(os.getloadavg()),
                        "eval": [[e["step"], e["perplexity"]] for e in trainer.history["eval"]]})
results.record("table", rows)
trainer.plot(out / "lstm_lm_loss.png", close=False)   # open: a notebook shows it

print("| model | validation perplexity (per character) | time (s) |\n|---|---|---|")
for r in rows:
    print(f"| {r['model']} | {r['perplexity']:.2f} | {r['seconds']:.1f} |")
backend.manual_seed(0)
print(tok.decode(model.generate(tok.encode("\n"), 200 if not args.fast else 30, do_sample=True, temperature=0.8)[0].tolist()))
