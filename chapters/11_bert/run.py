"""Chapter 11 — BERT: pretrained MiniLM weights, sentence embeddings, fine-tuning for genre classification.
Run: python chapters/11_bert/run.py [--fast] [--out DIR]"""
# %%
import json
import os
import pathlib
import time

import matplotlib.pyplot as plt
import numpy as np

from tinygrad_llm import backend
from tinygrad_llm.apps import finetune as ft
from tinygrad_llm.kernels import threading_info
from chapters.common import chapter_args
from tinygrad_llm.models.bert import BertConfig, BertForSequenceClassification, BertModel

args = chapter_args("11_bert", __doc__)
out, results = args.out, args.results

# %% [markdown]
# ## 1. Real weights: all-MiniLM-L6-v2 (6 layers, hidden 384, 12 heads) from a safetensors file
# %%
t0 = time.perf_counter()
minilm = BertModel.from_pretrained(ft.minilm_dir())
print(f"loaded {minilm.num_parameters():,} parameters in {time.perf_counter() - t0:.1f}s")
c = minilm.config
results.record("minilm", {"parameters": minilm.num_parameters(), "layers": c.num_hidden_layers,
                          "hidden": c.hidden_size, "heads": c.num_attention_heads, "vocabulary": c.vocab_size})
print("WordPiece:", minilm.tokenizer.tokenize("Unbelievably, tokenisation splits rare words!"))

# %% [markdown]
# ## 2. Sentence embeddings and their cosine similarities
# %%
sentences = ["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby.",
             "A woman is holding a child.", "To be, or not to be, that is the question.",
             "Whether to live or to die, that is what I ask.", "The stock market fell sharply today."]
if args.fast:
    sentences = sentences[:4]
E = minilm.encode(sentences)                   # (N, 384), unit length
S = E @ E.T                                    # cosine similarity
fig, ax = plt.subplots(figsize=(7.5, 6))
im = ax.imshow(S, vmin=-0.2, vmax=1, cmap="viridis")
ax.set_xticks(range(len(sentences)), [s[:22] for s in sentences], rotation=45, ha="right", fontsize=8)
ax.set_yticks(range(len(sentences)), [s[:22] for s in sentences], fontsize=8)
for i in range(len(sentences)):
    for j in range(len(sentences)):
        ax.text(j, i, f"{S[i, j]:.2f}", ha="center", va="center", fontsize=7, color="w" if S[i, j] < 0.6 else "k")
fig.colorbar(im, ax=ax)
ax.set_title("all-MiniLM-L6-v2 cosine similarity (our engine)")
fig.tight_layout()
fig.savefig(out / "similarity_heatmap.png", dpi=110)
for i, s in enumerate(sentences):
    j = int(np.argsort(-S[i])[1])
    print(f"{s!r:50} nearest: {sentences[j]!r} ({S[i, j]:.3f})")
results.record("similarity", {"sentences": sentences, "cosine": S})

# %% [markdown]
# ## 2b. The same numbers as the reference libraries (full run, with the `parity` extra installed)
# Hugging Face `transformers` runs the same weights on the same sentences; sentence-transformers' embedding of
# MiniLM is the normalised mean of those token vectors. `tests/test_bert.py` asserts the same comparisons.
# %%
try:
    if args.fast:
        raise ImportError("a fast run skips it")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")             # a local folder: nothing is fetched
    import torch
    import transformers
except ImportError as e:
    transformers = None
    print(f"skipping the comparison with transformers ({e})")
if transformers is not None:
    folder = str(ft.minilm_dir())
    enc = minilm.tokenizer(sentences, padding=True, return_tensors="np")
    ref_enc = transformers.AutoTokenizer.from_pretrained(folder)(sentences, padding=True, return_tensors="np")
    same_ids = all(np.array_equal(enc[k], ref_enc[k]) for k in ("input_ids", "attention_mask", "token_type_ids"))
    ref = transformers.BertModel.from_pretrained(folder).eval()
    with torch.no_grad():
        r = ref(**{k: torch.from_numpy(v) for k, v in enc.items()})
    h, pooled = minilm(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
    real = enc["attention_mask"].astype(bool)
    parity = {"same_input_ids": same_ids,
              "token_float32": float(np.abs(h.data - r.last_hidden_state.numpy())[real].max()),
              "pooler_float32": float(np.abs(pooled.data - r.pooler_output.numpy()).max()),
              "sentence_float32": float(np.abs(E - BertModel.mean_pool(r.last_hidden_state.numpy(),
                                                                       enc["attention_mask"])).max())}
    with backend.default_dtype(np.float64):
        minilm64 = BertModel.from_pretrained(folder)
    ref = ref.double()
    with torch.no_grad():
        r = ref(**{k: torch.from_numpy(v) for k, v in enc.items()})
    parity["sentence_float64"] = float(np.abs(minilm64.encode(sentences) - BertModel.mean_pool(
        r.last_hidden_state.numpy(), enc["attention_mask"])).max())
    print("largest differences from transformers:", parity)
    results.record("parity", parity)
    del minilm64, ref

# %% [markdown]
# ## 3. Fine-tuning: comedy, tragedy or history? (test plays held out)
# %%
settings = (dict(per_play_train=2, per_play_test=2, lines=2) if args.fast
            else dict(per_play_train=30, per_play_test=40, lines=4))
train, test = ft.build_dataset(**settings)
results.record("dataset", {"train": len(train), "test": len(test), "train_plays": len({r[2] for r in train}),
                           "test_plays": sorted({r[2] for r in test}), **settings})
cpu = None
if args.fast:   # a tiny random BERT on a few passages: seconds
    model = BertForSequenceClassification(BertConfig(vocab_size=minilm.config.vocab_size, hidden_size=16,
                                                     num_hidden_layers=1, num_attention_heads=2,
                                                     intermediate_size=32, max_position_embeddings=64),
                                          num_labels=3)
    hist = ft.finetune(model, minilm.tokenizer, train, test, epochs=2, lr=1e-3, max_length=32, eval_every=2,
                       progress=False)
    y_test = [r[1] for r in test]
    res = {"bert": {k: v for k, v in hist["eval"][-1].items() if k != "step"}, "history": hist}
    t0 = time.perf_counter()
    nb = ft.NaiveBayes().fit([r[0] for r in train], np.array([r[1] for r in train]), 3)
    res["naive_bayes"] = ft.scores(y_test, nb.predict([r[0] for r in test])) | {"seconds": time.perf_counter() - t0}
    res["bert"]["train_seconds"] = hist["train"][-1]["time"]
else:           # the tutorial recipe on MiniLM: AdamW, lr 2e-5, batch 16, 3 epochs, linear warm-up schedule
    # about 10 minutes on 2 cores; a finished run in runs/bert-genre with the same settings is reused
    cached = pathlib.Path("runs/bert-genre/results.json")
    res = json.loads(cached.read_text()) if cached.is_file() else None
    defaults = dict(settings, epochs=3, batch_size=16, lr=2e-5, max_length=64, seed=0)
    if res is None or res["settings"] != defaults or len(res["history"].get("eval", [])) < 2:
        c0 = time.process_time()
        res = ft.run(out="runs/bert-genre", eval_every=19, **defaults)
        cpu = time.process_time() - c0                      # the whole ft.run: baseline, fine-tuning, evaluations
    print(f"fine-tuning took {res['bert']['train_seconds']:.0f}s for {res['n_train']} passages x 3 epochs")
print(json.dumps({k: res[k] for k in ("bert", "naive_bayes")}, indent=1))
history = res["history"]
results.record("finetune", {
    "reused": cpu is None and not args.fast,              # True: the numbers of an earlier run in runs/bert-genre
    "naive_bayes": res["naive_bayes"], "bert": res["bert"], "run_cpu_seconds": cpu,
    "threads": threading_info(), "load_average_at_end": list(os.getloadavg()), "steps": history["train"][-1]["step"],
    "train_loss": [r["loss"] for r in history["train"]], "eval": history["eval"]})

# %%
def plot_curve(res, path):
    h = res["history"]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["step"] for r in h["train"]], [r["loss"] for r in h["train"]], lw=0.8, label="training loss (batch)")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy")
    ax2 = ax.twinx()
    ax2.plot([e["step"] for e in h["eval"]], [e["accuracy"] for e in h["eval"]], "o-", color="C1",
             label="test accuracy (held-out plays)")
    ax2.axhline(res["naive_bayes"]["accuracy"], color="C2", ls="--", label="naive Bayes test accuracy")
    ax2.set_ylabel("accuracy")
    ax2.set_ylim(0, 1)
    fig.legend(loc="lower left", fontsize=8, bbox_to_anchor=(0.1, 0.15))
    ax.set_title("Fine-tuning MiniLM on comedy / tragedy / history")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


plot_curve(res, out / "finetune_curve.png")
print("figures written to", out)
