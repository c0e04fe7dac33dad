"""Chapter 05 — the LSTM language model against the n-gram baseline.
Run: python chapters/05_rnn_lstm/run_lm.py [--fast] [--out DIR]"""
# %%
import math
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

args = chapter_args("05_rnn_lstm", __doc__, results="results_lm.json")
out = args.out

# %% [markdown]
# ## 1. Data: the same characters for every model
# %%
text = load_shakespeare()[: 60_000 if args.fast else 2_000_000]
tok = CharTokenizer.train(text)
ids = np.array(tok.encode(text))
train_ids, val_ids = train_val_split(ids, 0.1)
V = tok.vocab_size
print(f"{len(train_ids):,} training / {len(val_ids):,} validation characters, V = {V}")

# %% [markdown]
# ## 2. The n-gram baselines (Kneser-Ney), perplexity on the validation split
# %%
rows = []
for n in (1, 3, 5):
    t0 = time.perf_counter()
    ng = NGramLM(n, V, smoothing="kneser_ney").fit(train_ids)
    rows.append((f"{n}-gram, Kneser-Ney", ng.perplexity(val_ids), time.perf_counter() - t0))

# %% [markdown]
# ## 3. The LSTM LM: Embedding → LSTM → Linear, truncated BPTT over 16 streams
# %%
backend.manual_seed(0)
cfg = LSTMConfig.from_preset("tiny" if args.fast else "cpu", vocab_size=V)
model = LSTMLM(cfg)
steps = 30 if args.fast else 2500
trainer = lm_trainer(model, train_ids, val_ids, TrainConfig(steps=steps, batch_size=16, lr=3e-3, warmup_steps=10 if args.fast else 100,
                                                         weight_decay=0.0, eval_interval=max(10, steps // 5),
                                                         eval_batches=10, progress=False, seed=0), tokenizer=tok)
t0 = time.perf_counter()
trainer.fit()
train_s = time.perf_counter() - t0
ev = evaluate_lm(model, val_ids, 16, 10_000)            # every window of the validation split
rows.append((f"LSTM LM (E{cfg.n_embd}, H{cfg.hidden_size}), {steps} steps", ev["perplexity"], train_s))
trainer.plot(out / "lstm_lm_loss.png", close=False)   # open: a notebook shows it

print("| model | validation perplexity (per character) | time (s) |\n|---|---|---|")
for name, ppl, s in rows:
    print(f"| {name} | {ppl:.2f} | {s:.1f} |")
backend.manual_seed(0)
print(tok.decode(model.generate(tok.encode("\n"), 200 if not args.fast else 30, do_sample=True, temperature=0.8)[0].tolist()))
