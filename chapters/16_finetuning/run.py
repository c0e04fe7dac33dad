"""Chapter 16 — Fine-tuning: frozen features, full fine-tuning and LoRA on a task a bag of words cannot see,
then LoRA instruction-tuning of SmolLM2-135M.
Run: python chapters/16_finetuning/run.py [--fast] [--out DIR]

The full mode reads the recorded runs in chapters/16_finetuning/results/ and runs only what is missing there
(delete a file to redo it: one fine-tuning run of the table is some minutes of CPU, the table about an hour on a
busy 2-core machine; one instruction-tuning seed about 4 minutes of CPU). --fast uses tiny random models and a few
plays: seconds, for CI."""
# %%
import json
import pathlib
import shutil

import numpy as np

from chapters.common import CHAPTERS, chapter_args
from tinygrad_llm import backend
from tinygrad_llm.apps import finetune as ft
from tinygrad_llm.apps import instruct as ins
from tinygrad_llm.data import load_plays
from tinygrad_llm.models.bert import BertConfig, BertModel
from tinygrad_llm.nn import Linear
from tinygrad_llm.nn.lora import LoRALinear, count_parameters
from tinygrad_llm.tokenizers.wordpiece import WordPiece

args = chapter_args("16_finetuning", __doc__)    # a notebook has no __file__
out = args.out
HERE = CHAPTERS / "16_finetuning"
RESULTS = out / "results" if args.fast else HERE / "results"
import matplotlib.pyplot as plt  # noqa: E402  (after chapter_args chose the backend)

# %% [markdown]
# ## 1. Question or statement? The same words in another order
# The sentences of the plays, their final mark removed: a question (1) or a statement (0). The test plays
# are held out, as in chapter 11.
# %%
plays = load_plays(include_poems=False)
if args.fast:                                   # the six test plays and three training plays
    plays = {t: x for t, x in plays.items() if t in ft.TEST_PLAYS + ("Hamlet", "As You Like It", "King Lear")}
train, test = ft.build_question_dataset(6, 4, seed=0, plays=plays)
for text, y, title in train:
    print(f"{ft.QUESTION_LABELS[y]:>9}  {text!r}  ({title})")

vocab = WordPiece.from_vocab_file(ft.minilm_dir() / "vocab.txt")
if args.fast:
    backend.manual_seed(0)
    encoder = BertModel(BertConfig(vocab_size=len(vocab.vocab), hidden_size=16, num_hidden_layers=1,
                                   num_attention_heads=2, intermediate_size=32, max_position_embeddings=64))
    encoder.tokenizer = vocab
else:
    encoder = BertModel.from_pretrained(ft.minilm_dir())
pairs = [("Is he come", "He is come"), ("What say you", "You say what"), ("Is he come", "The king is dead")]
for a, b in pairs:
    e = encoder.encode([a, b])
    print(f"cosine({a!r}, {b!r}) = {float(e[0] @ e[1]):.3f}")


# %% [markdown]
# ## 2. Naive Bayes, frozen MiniLM + logistic regression, fine-tuning, LoRA: three seeds, three sizes
# %%
def tiny_classifier(recipe):
    backend.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=len(vocab.vocab), hidden_size=16, num_hidden_layers=1,
                                num_attention_heads=2, intermediate_size=32, max_position_embeddings=64))
    bert.tokenizer = vocab
    return ft.MeanPoolClassifier(bert, 2)


if args.fast:
    for name in ("tuned", "seed", "lora"):
        ft.RECIPES[f"fast-{name}"] = dict(ft.RECIPES[name], min_steps=2, epochs=1)
    cls = ft.compare(RESULTS / "question", sizes=(8, 16), seeds=(0, 1), curve_recipes=("fast-tuned",),
                     full_size_recipes=("fast-seed", "fast-lora"), n_test=16, plays=plays, encoder=encoder,
                     make_model=tiny_classifier, log=None)
    names = {"fast-tuned": "tuned", "fast-seed": "seed", "fast-lora": "lora"}
    cls["summary"] = {names.get(k, k): v for k, v in cls["summary"].items()}
else:
    # the recorded runs: three seeds at N = 1000 (and the baselines at 100), seed 0 alone at 100 and 300
    cls = ft.compare(RESULTS / "question", sizes=(1000,), full_size_recipes=("lora",))
S = cls["summary"]
sizes = sorted(S["naive_bayes"], key=int)


def cell(v):
    """A (mean, std, runs) summary as the chapter writes it: mean ± std over seeds, or one seed's number."""
    return f"{v[0]:.3f} ± {v[1]:.3f}" if v[2] > 1 else f"{v[0]:.3f} (seed 0)"


LABEL = {"naive_bayes": "naive Bayes, bag of words", "frozen_lr": "frozen MiniLM + logistic regression",
         "seed": "fine-tuned, the tutorial's recipe", "tuned": "fine-tuned, tuned recipe",
         "lora": "LoRA r = 8, tuned recipe"}
print("| classifier | " + " | ".join(f"N = {n}" for n in sizes) + " |")
print("|---|" + "---:|" * len(sizes))
for m in LABEL:
    cells = [cell(S[m][n]["accuracy"]) if n in S.get(m, {}) else "–" for n in sizes]
    print(f"| {LABEL[m]} | " + " | ".join(cells) + " |")

fig, ax = plt.subplots(figsize=(6.8, 4.2))
for m, style in (("naive_bayes", "s--"), ("frozen_lr", "^--"), ("tuned", "o-")):
    xs = [int(n) for n in sizes if n in S[m]]
    ax.errorbar(xs, [S[m][str(n)]["accuracy"][0] for n in xs], yerr=[S[m][str(n)]["accuracy"][1] for n in xs],
                fmt=style, capsize=3, label=LABEL[m])
for m, marker in (("seed", "D"), ("lora", "*")):
    if m in S:
        n = max(S[m], key=int)
        ax.errorbar([int(n)], [S[m][n]["accuracy"][0]], yerr=[S[m][n]["accuracy"][1]], fmt=marker, ms=8,
                    capsize=3, label=LABEL[m])
ax.set_xscale("log")
ax.set_xlabel("training sentences N")
ax.set_ylabel("test accuracy (held-out plays)")
ax.axhline(0.5, color="grey", lw=0.6, ls=":")
ax.set_title("Question or statement: mean ± std over the seeds run (3 at the largest N)")
ax.legend(fontsize=7, loc="lower right")
fig.tight_layout()
fig.savefig(out / "learning_curves.png", dpi=120)

# %% [markdown]
# ## 3. LoRA: what is trained, and merging it away
# %%
big = max(sizes, key=int)
for m in ("seed", "tuned", "lora"):
    rows = [r for r in cls["rows"] if r["method"] in (m, f"fast-{m}") and str(r["n_train"]) == big]
    if rows:
        r = rows[0]
        print(f"{LABEL[m]:>34}: {r['trainable_parameters']:>10,} of {r['total_parameters']:,} parameters trained; "
              f"step {np.median([x['step_seconds_median'] for x in rows]):.2f} s, "
              f"{np.median([x['step_peak_bytes'] for x in rows]) / 2**20:.0f} MiB allocated in a step")
backend.manual_seed(0)
layer = LoRALinear(Linear(576, 576, bias=False), r=8, alpha=16)
layer.lora_B.weight.data = np.random.default_rng(0).standard_normal((576, 8)).astype(np.float32) * 0.01
x = np.random.default_rng(1).standard_normal((4, 576)).astype(np.float32)
y = layer(x).numpy()
w0 = layer.weight.data.copy()
layer.merge()
print(f"merged vs adapted max diff {np.abs(layer(x).numpy() - y).max():.1e}; ", end="")
layer.unmerge()
print(f"unmerged weight equal bit for bit: {np.array_equal(layer.weight.data, w0)}")
print("trainable, total:", count_parameters(layer))

# %% [markdown]
# ## 4. Instruction-tuning SmolLM2-135M with LoRA
# %%
seeds = (0,) if args.fast else (0, 1)
runs, before = [], None
for seed in seeds:
    path = RESULTS / "instruct" / f"seed{seed}.json"
    if path.is_file():
        r = json.loads(path.read_text())
    else:
        run_dir = out / f"instruct-seed{seed}" if args.fast else pathlib.Path("runs") / f"ch16-instruct-seed{seed}"
        kw = dict(steps=3, batch_size=2, n_train_per_task=6, n_test_per_task=2, max_new_tokens=4, fast=True,
                  log=None, lenient_per_task=1) if args.fast else dict(steps=16)
        r = ins.run(out=run_dir, seed=seed, before=before, **kw)
        r = {k: v for k, v in r.items() if k not in ("model_object", "tokenizer")}
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(run_dir / "results.json", path)
    before = r["before"]
    runs.append(r)

cols = ["exact_match", *ins.TASKS, "answer_loss"]
after = np.array([[r["after"]["scores"][c] for c in cols] for r in runs])
print("| SmolLM2-135M-Instruct | " + " | ".join(cols) + " |")
print("|---|" + "---:|" * len(cols))
print("| untuned | " + " | ".join(f"{before['scores'][c]:.3f}" for c in cols) + " |")
spread = after.max(0) - after.min(0)
print(f"| LoRA, {len(runs)} seeds (mean, max - min) | "
      + " | ".join(f"{m:.3f} ({s:.3f})" for m, s in zip(after.mean(0), spread)) + " |")
t = runs[0]["train"]
print(f"{runs[0]['parameters']['trainable']:,} of {runs[0]['parameters']['total']:,} parameters trained; "
      f"{t['steps']} steps, median step {t['step_seconds_median']:.1f} s; peak RSS {t['rss_peak_bytes'] / 2**30:.2f} GiB, "
      f"{t['step_peak_bytes'] / 2**20:.0f} MiB allocated in a step; whole run {runs[0]['cpu_seconds'] / 60:.1f} min "
      f"of CPU ({runs[0]['total_seconds'] / 60:.1f} min on the clock, load average {runs[0]['load_average'][0]:.1f} "
      f"to {runs[0]['load_average'][1]:.1f})")
for instruction, reply in runs[0]["after"]["replies"].items():
    print(f"\n{instruction}\n  untuned: {before['replies'].get(instruction, '')!r}\n  tuned:   {reply!r}")

fig, ax = plt.subplots(figsize=(6.4, 3.8))
xs = np.arange(len(ins.TASKS) + 1)
ax.bar(xs - 0.2, [before["scores"][c] for c in cols[:-1]], 0.4, label="untuned")
ax.bar(xs + 0.2, after.mean(0)[:-1], 0.4, yerr=[after.mean(0)[:-1] - after.min(0)[:-1],
                                              after.max(0)[:-1] - after.mean(0)[:-1]],
       capsize=3, label=f"LoRA ({len(runs)} seeds, min-max)")
ax.set_xticks(xs, ["all"] + list(ins.TASKS))
ax.set_ylabel("held-out exact match")
ax.set_ylim(0, 1)
ax.set_title("SmolLM2-135M-Instruct before and after LoRA instruction-tuning")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(out / "instruct.png", dpi=120)
print("figures written to", out)
