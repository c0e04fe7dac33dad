r"""Chapter 15's recipes: train a vision-language model on generated shapes, measure it, caption PNG files.

**Training** (``VLMTask`` in the one ``Trainer``). A step draws $B$ scenes of the training split
(``data/shapes.py``), runs the ViT once, and builds two text rows per image — its caption, and one of its
questions followed by the answer — both read after the image tokens. The loss is the next-token
cross-entropy on the caption and on the answer (never on the question, which is given), plus, for a
model with a contrastive head, InfoNCE between the $B$ images and their captions:
$$\mathcal L = \mathcal L_{\mathrm{LM}} + \lambda\,\mathcal L_{\mathrm{InfoNCE}}$$
($\lambda$ = ``contrastive_weight``). Batches come from the seeded generator, so runs repeat and a resumed
run continues the same stream.

**Evaluation** (``evaluate_vlm``) on held-out scenes and on the split of unseen colour–shape pairs:

- captions by greedy decoding after the prompt: exact match (the whole caption right) and corpus BLEU
  (``metrics/bleu.py``) against the one true caption;
- question answering: the most likely next token after the question, accuracy per question type,
  beside the majority answer of each type in the training split (``answer_priors``);
- retrieval in the contrastive space: image $\to$ text among the split's distinct captions and text
  $\to$ image among its images, Recall@k (the right one among the $k$ most similar) against chance — for
  a caption shared by $m$ of $N$ images, $1 - \binom{N-m}{k}/\binom{N}{k}$.

**SmolLM2 as the decoder** (``smollm_captioner``): the pretrained 135M Llama of chapter 12, frozen, reads
the image tokens of our ViT (taken from a trained model, frozen too) through a new projector — the only
trained part — and learns to continue the text prompt ``In this image there is`` with the caption.

Command line: ``tinygrad-llm train --model vlm`` (this module provides the ``vlm`` recipe) and
``tinygrad-llm caption IMAGE.png [--question "..."]``.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from .. import backend
from .. import functional as F
from ..autograd import no_grad
from ..data import shapes as S
from ..metrics.bleu import corpus_bleu
from ..models import registry
from ..models.vlm import VisionLanguageModel, VLMConfig, check_pixels
from ..tokenizers import WordTokenizer
from .trainer import TrainConfig, Trainer


# ----------------------------------------------------------------------------- text <-> decoder ids
@dataclass
class TextFormat:
    """How one tokenizer's ids frame the text: the prompt before a caption or question, the end token."""
    tokenizer: object
    prompt: list
    eos_id: int
    pad_id: int
    encode: Callable
    decode: Callable

    def caption_seq(self, caption: str) -> tuple[list, int]:
        """Ids of prompt + caption + eos, and the index of the first id that is a target."""
        return self.prompt + self.encode(caption) + [self.eos_id], len(self.prompt)

    def qa_seq(self, question: str, answer: str) -> tuple[list, int]:
        q = self.prompt + self.encode(question)
        return q + self.encode(answer) + [self.eos_id], len(q)


def word_format(tok: WordTokenizer) -> TextFormat:
    def decode(ids):
        ids = list(ids)
        ids = ids[:ids.index(tok.eos_id)] if tok.eos_id in ids else ids
        return tok.decode(ids, skip_special_tokens=True)
    return TextFormat(tok, [tok.bos_id], tok.eos_id, tok.pad_id, tok.encode, decode)


def smollm_format(tok, eos_id: int, prompt: str = "In this image there is") -> TextFormat:
    """Captions for a pretrained English decoder: a sentence continuing ``prompt`` (`` a large red circle.``),
    ended by ``eos_id``; ``decode`` returns the words without the full stop."""
    def decode(ids):
        ids = [int(i) for i in ids]
        ids = ids[:ids.index(eos_id)] if eos_id in ids else ids
        return tok.decode(ids).strip().removesuffix(".").strip()
    return TextFormat(tok, tok.encode(prompt), eos_id, eos_id, lambda s: tok.encode(" " + s + "."), decode)


def shapes_tokenizer() -> WordTokenizer:
    return WordTokenizer(S.vocabulary())


def rows(seqs, firsts, pad_id: int):
    """Teacher-forcing rows from whole sequences: inputs ``seq[:-1]`` (padded with ``pad_id``) and targets
    ``seq[1:]`` where the target index is at least ``first`` (-100 elsewhere: prompt, question, padding)."""
    L = max(len(s) for s in seqs) - 1
    ids = np.full((len(seqs), L), pad_id, np.int64)
    tgt = np.full((len(seqs), L), -100, np.int64)
    for i, (s, first) in enumerate(zip(seqs, firsts)):
        n = len(s) - 1
        ids[i, :n] = s[:-1]
        tgt[i, first - 1:n] = s[first:]
    return ids, tgt


def padded(seqs, pad_id: int):
    """Whole sequences padded into one array, and their lengths (the text encoder's input)."""
    lengths = np.array([len(s) for s in seqs])
    out = np.full((len(seqs), lengths.max()), pad_id, np.int64)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = s
    return out, lengths


# ----------------------------------------------------------------------------- training
class VLMTask:
    """The ``Trainer`` task: captions and question answers after the image tokens, plus InfoNCE."""

    name = "vlm"

    def __init__(self, fmt: TextFormat, train: S.ShapesSplit, val: S.ShapesSplit | None = None, batch_size: int = 32,
                 contrastive_weight: float = 0.5, qa: bool = True, eval_scenes: int = 128, captioning: bool = True):
        self.fmt, self.train, self.val = fmt, train, val
        self.batch_size, self.contrastive_weight, self.qa = batch_size, contrastive_weight, qa
        self.captioning = captioning                                    # False: the contrastive loss alone (CLIP)
        self.eval_scenes = eval_scenes
        self.captions = [fmt.caption_seq(c) for c in train.captions]
        self.questions = [[fmt.qa_seq(q, a) for _, q, a in s.qa] for s in train.scenes] if qa else None
        self.tokens_per_step = None

    # [start:vlm-loss]
    def loss(self, model, step):
        rng = backend.rng()
        idx = rng.choice(len(self.train), size=min(self.batch_size, len(self.train)), replace=False)   # (B,)
        vision = model.vision(model.images(self.train.images[idx]))     # (B, 1 + S^2, D_v), once per image
        loss = 0.0
        if self.captioning:
            seqs = [self.captions[i] for i in idx]                      # caption rows
            if self.qa:                                                 # and one question row per image
                seqs += [self.questions[i][rng.integers(len(self.questions[i]))] for i in idx]
            ids, targets = rows([s for s, _ in seqs], [f for _, f in seqs], self.fmt.pad_id)
            image_index = np.tile(np.arange(len(idx)), len(seqs) // len(idx))
            prefix = model.image_prefix(vision)[image_index]            # (rows, P, D_l)
            loss = F.cross_entropy(model.decoder(ids, prefix=prefix), targets)
        if self.contrastive_weight and model.config.embed_dim:
            text, lengths = padded([self.captions[i][0] for i in idx], self.fmt.pad_id)
            loss = loss + self.contrastive_weight * model.contrastive_loss(vision, text, lengths)
        return loss
    # [end:vlm-loss]

    def evaluate(self, model):
        if self.val is None:
            return {}
        sub = subset(self.val, self.eval_scenes)
        if not self.captioning:                                         # CLIP stage: retrieval only
            r = retrieval_scores(model, self.fmt, sub)
            return {"image_to_text_R@1": r["image_to_text"]["R@1"], "text_to_image_R@1": r["text_to_image"]["R@1"]}
        ev = evaluate_vlm(model, self.fmt, sub, retrieval=False, qa=self.qa)
        with no_grad():
            seqs = [self.fmt.caption_seq(c) for c in sub.captions]
            ids, targets = rows([s for s, _ in seqs], [f for _, f in seqs], self.fmt.pad_id)
            _, loss = model(model.images(sub.images), ids, targets)
        out = {"loss": float(loss.data), "caption_exact": ev["caption_exact"]}
        if self.qa:
            out["qa_accuracy"] = ev["qa_accuracy"]
        return out


def subset(split: S.ShapesSplit, n: int, objects: int | None = None) -> S.ShapesSplit:
    """The first ``n`` scenes of ``split`` (only those with ``objects`` objects, if given)."""
    keep = [i for i, s in enumerate(split.scenes) if objects is None or len(s.objects) == objects][:n]
    return S.ShapesSplit(split.name, [split.scenes[i] for i in keep], split.images[keep])


def train_vlm(preset: str = "cpu", config: TrainConfig | None = None, clip_config: TrainConfig | None = None,
              splits: dict | None = None, n_train: int = 20000, n_test: int = 1000, n_unseen: int = 1000,
              data_seed: int = 0, contrastive_weight: float = 0.5, qa: bool = True, resume=None, log=print,
              **overrides) -> Trainer:
    """Generate the data, build ``registry.build('vlm', preset)`` and train it: first, with ``clip_config``,
    the ViT and the text encoder alone with InfoNCE (CLIP; skipped when resuming), then everything with
    captions, questions and InfoNCE (``config``). Returns the second ``Trainer`` (``trainer.model``,
    ``trainer.task.fmt``, ``trainer.splits``, ``trainer.clip_history``)."""
    config = config or TrainConfig(steps=450, batch_size=32, lr=2e-3, warmup_steps=50, eval_interval=150)
    t0 = time.perf_counter()
    if splits is None:
        splits = S.build_splits(n_train, n_test, n_unseen, seed=data_seed)
        if log:
            log(f"data: {', '.join(f'{k} {len(v)}' for k, v in splits.items())} scenes in "
                f"{time.perf_counter() - t0:.1f} s")
    tok = shapes_tokenizer()
    fmt = word_format(tok)
    backend.manual_seed(config.seed if config.seed is not None else 0)
    model = registry.build("vlm", preset, vocab_size=tok.vocab_size, **overrides)
    clip_history = None
    if clip_config is not None and not resume:                          # stage 1: CLIP
        clip_config = replace(clip_config, out_dir=None)
        clip_task = VLMTask(fmt, splits["train"], splits["test"], clip_config.batch_size, contrastive_weight=1.0,
                            qa=False, captioning=False)
        clip = Trainer(model, clip_task, clip_config, tokenizer=tok, model_name="vlm")
        clip.fit()
        clip_history = clip.history
    task = VLMTask(fmt, splits["train"], splits["test"], config.batch_size, contrastive_weight, qa)
    trainer = Trainer(model, task, config, tokenizer=tok, model_name="vlm",
                      metadata={"data": {"n_train": len(splits["train"]), "seed": data_seed},
                                "clip_history": clip_history})
    trainer.splits, trainer.clip_history = splits, clip_history
    if resume:
        trainer.resume(resume)
    trainer.fit()
    return trainer


# ----------------------------------------------------------------------------- evaluation
def generate_captions(model, fmt: TextFormat, pixels, batch_size: int = 250, max_new_tokens: int = 20,
                      num_beams: int = 1) -> list[str]:
    """Greedy (or beam) captions of uint8 images (N, H, W, 3)."""
    out = []
    for i in range(0, len(pixels), batch_size):
        ids = model.generate(model.images(pixels[i:i + batch_size]), np.array(fmt.prompt), max_new_tokens,
                             eos_token_id=fmt.eos_id, num_beams=num_beams)
        out += [fmt.decode(row[len(fmt.prompt):]) for row in ids]
    return out


def answer_questions(model, fmt: TextFormat, pixels, image_index, questions, batch_size: int = 512) -> list[str]:
    """The most likely answer token after each question about ``pixels[image_index[k]]``."""
    answers = []
    with no_grad():
        vision_prefix = None
        for i in range(0, len(questions), batch_size):
            qs = [fmt.prompt + fmt.encode(q) for q in questions[i:i + batch_size]]
            ids, lengths = padded(qs, fmt.pad_id)
            imgs = np.asarray(image_index[i:i + batch_size])
            uniq, inv = np.unique(imgs, return_inverse=True)
            vision_prefix = model.image_prefix(model.vision(model.images(pixels[uniq])))
            logits = model.decoder(ids, prefix=vision_prefix[inv]).numpy()           # (n, T, V)
            best = logits[np.arange(len(qs)), lengths - 1].argmax(-1)
            answers += [fmt.decode([int(b)]) for b in best]
    return answers


def recall_at_k(sim, correct, ks=(1, 5)) -> dict:
    """Recall@k of a (queries, items) similarity matrix; ``correct`` (queries, items) marks right items."""
    order = np.argsort(-sim, axis=1, kind="stable")
    hit = np.take_along_axis(correct, order, axis=1)
    return {f"R@{k}": float(hit[:, :k].any(axis=1).mean()) for k in ks}


def chance_recall(correct, ks=(1, 5)) -> dict:
    """Recall@k of a random ranking: $1 - \\binom{N-m}{k}/\\binom{N}{k}$ for a query with m right items of N."""
    N = correct.shape[1]
    m = correct.sum(axis=1)
    return {f"R@{k}": float(np.mean([1 - math.comb(N - int(mi), k) / math.comb(N, k) for mi in m])) for k in ks}


def retrieval_scores(model, fmt: TextFormat, split: S.ShapesSplit, batch_size: int = 500) -> dict:
    """Image -> text among the distinct captions of ``split``, text -> image among its images."""
    caps = split.captions
    uniq = sorted(set(caps))
    seqs = [fmt.caption_seq(c)[0] for c in uniq]
    ids, lengths = padded(seqs, fmt.pad_id)
    img = np.concatenate([model.embed(images=model.images(split.images[i:i + batch_size]))
                          for i in range(0, len(split), batch_size)])
    txt = model.embed(ids=ids, lengths=lengths)
    sim = img @ txt.T                                                   # (N images, U captions)
    correct = np.array(caps)[:, None] == np.array(uniq)[None, :]
    return {"image_to_text": recall_at_k(sim, correct), "text_to_image": recall_at_k(sim.T, correct.T),
            "chance_image_to_text": chance_recall(correct), "chance_text_to_image": chance_recall(correct.T),
            "n_images": len(split), "n_captions": len(uniq)}


def answer_priors(train: S.ShapesSplit) -> dict:
    """The most frequent answer of each question type in the training split (the answer without looking)."""
    counts = {}
    for s in train.scenes:
        for t, _, a in s.qa:
            counts.setdefault(t, {}).setdefault(a, 0)
            counts[t][a] += 1
    return {t: max(c, key=c.get) for t, c in counts.items()}


def evaluate_vlm(model, fmt: TextFormat, split: S.ShapesSplit, qa: bool = True, retrieval: bool = True,
                 priors: dict | None = None, max_new_tokens: int = 20) -> dict:
    """Caption exact match and BLEU, QA accuracy per type, retrieval (see the module docstring)."""
    was = model.training
    model.eval()
    try:
        t0 = time.perf_counter()
        hyps = generate_captions(model, fmt, split.images, max_new_tokens=max_new_tokens)
        refs = split.captions
        n_obj = np.array([len(s.objects) for s in split.scenes])
        exact = np.array([h == r for h, r in zip(hyps, refs)])
        out = {"n": len(split), "caption_exact": float(exact.mean()),
               "caption_bleu": corpus_bleu([h.split() for h in hyps], [[r.split() for r in refs]]).score,
               "caption_exact_by_objects": {int(k): float(exact[n_obj == k].mean()) for k in np.unique(n_obj)},
               "caption_seconds": time.perf_counter() - t0, "examples": list(zip(refs[:5], hyps[:5]))}
        if qa:
            items = [(i, t, q, a) for i, s in enumerate(split.scenes) for t, q, a in s.qa]
            pred = answer_questions(model, fmt, split.images, [i for i, *_ in items], [q for _, _, q, _ in items])
            per = {}
            for (_, t, _, a), p in zip(items, pred):
                per.setdefault(t, []).append(p == a)
            out["qa"] = {t: float(np.mean(v)) for t, v in sorted(per.items())}
            out["qa_accuracy"] = float(np.mean([p == a for (*_, a), p in zip(items, pred)]))
            if priors:
                prior = {}
                for _, t, _, a in items:
                    prior.setdefault(t, []).append(priors.get(t) == a)
                out["qa_prior"] = {t: float(np.mean(v)) for t, v in sorted(prior.items())}
        if retrieval and getattr(model.config, "embed_dim", 0):
            out["retrieval"] = retrieval_scores(model, fmt, split)
        return out
    finally:
        model.train(was)


# ----------------------------------------------------------------------------- attention over the image
def decoder_attention(model, pixels, ids):
    """Attention probabilities of the GPT decoder of ``model`` while it reads the image tokens and ``ids``
    (B, T): a list, one (B, H, P + T, P + T) array per layer. The forward pass is replayed with the model's
    own modules (the fused attention keeps no weights); its logits equal ``model(images, ids)``."""
    dec = model.decoder
    maps = []
    with no_grad():
        prefix = model.image_prefix(model.vision(model.images(pixels)))
        B, T = np.asarray(ids).shape
        P = prefix.shape[1]
        x = F.concat([prefix, dec.wte(np.asarray(ids))], 1) + dec.wpe(np.arange(P + T))
        for block in dec.h:
            h = block.ln_1(x)
            H, C = block.attn.n_head, h.shape[-1]
            qkv = block.attn.c_attn(h).reshape(B, P + T, 3, H, C // H).permute(2, 0, 3, 1, 4)
            maps.append(F.attention_weights(qkv[0], qkv[1], is_causal=True).numpy())
            x = block(x)
        logits = F.linear(dec.ln_f(x[:, P:]), dec.wte.weight)
    return maps, logits.numpy()


# ----------------------------------------------------------------------------- SmolLM2 as the decoder
def freeze(module):
    for p in module.parameters():
        p.requires_grad = False
    return module


def decoder_captioner(vision_source: VisionLanguageModel, decoder, fmt: TextFormat):
    """A ``VisionLanguageModel`` around a given (pretrained) ``decoder``, frozen, with ``vision_source``'s ViT
    (copied, frozen) and a new projector to the decoder's width — the only part that trains. The projector
    starts with image tokens as large as the decoder's own token embeddings (same root mean square)."""
    freeze(decoder)
    model = VisionLanguageModel(replace(vision_source.config, embed_dim=0), decoder=decoder)
    model.vision.load_state_dict(vision_source.vision.state_dict())
    freeze(model.vision)
    emb = decoder.embed_tokens.weight if hasattr(decoder, "embed_tokens") else decoder.wte.weight   # Llama, GPT
    with no_grad():
        z = model.image_prefix(model.vision(model.images(np.zeros((1, model.config.image_size,
                                                                   model.config.image_size, 3), np.uint8))))
    w = model.projector.proj.weight
    w.data = (w.data * math.sqrt(float((emb.data ** 2).mean()) / max(float((z.data ** 2).mean()), 1e-12))
              ).astype(w.dtype)
    return model, fmt


def smollm_captioner(vision_source: VisionLanguageModel, name: str = "smollm2"):
    """``decoder_captioner`` with the pretrained SmolLM2-135M (chapter 12) and its tokenizer: captions are
    written as the continuation of the prompt ``In this image there is`` and end with ``<|endoftext|>``."""
    from .pretrained import load
    llama, tok = load(name)
    return decoder_captioner(vision_source, llama, smollm_format(tok, tok.token_to_id("<|endoftext|>")))


def train_captioner(model, fmt: TextFormat, splits, config: TrainConfig, log=print):
    """Train the trainable part of a ``decoder_captioner`` on captions only; returns the ``Trainer``."""
    backend.manual_seed(config.seed if config.seed is not None else 0)
    task = VLMTask(fmt, splits["train"], None, config.batch_size, contrastive_weight=0.0, qa=False)
    trainer = Trainer(model, task, config, model_name="vlm-pretrained-decoder")
    if log:
        n = sum(p.size for p in model.parameters() if p.requires_grad)
        log(f"captioner: {model.num_parameters():,} parameters, {n:,} trained (the projector)")
    trainer.fit()
    return trainer


def train_smollm_captioner(vision_source, splits, config: TrainConfig, log=print):
    """SmolLM2-135M as the decoder (``smollm_captioner``), its projector trained on captions; returns
    (trainer, text format)."""
    model, fmt = smollm_captioner(vision_source)
    return train_captioner(model, fmt, splits, config, log), fmt


# ----------------------------------------------------------------------------- command line
def load_vlm(path):
    """(model, text format) from a checkpoint written by ``tinygrad-llm train --model vlm``."""
    from ..io.checkpoint import load_checkpoint
    if not Path(path).is_file():
        raise FileNotFoundError(f"checkpoint {path} not found (train one with `tinygrad-llm train --model vlm`)")
    ckpt = load_checkpoint(path)
    if ckpt.model_type != "vlm":
        raise ValueError(f"{path} holds a {ckpt.model_type!r} model, not a vision-language model (vlm)")
    model, tok = registry.from_checkpoint(ckpt)
    if not isinstance(tok, WordTokenizer):
        raise ValueError(f"{path}: expected a word tokenizer in the checkpoint, got {type(tok).__name__}")
    return model, word_format(tok)


def caption_file(model, fmt: TextFormat, image_path, question: str | None = None, num_beams: int = 1) -> str:
    """The caption of a PNG file, or the answer to ``question`` about it."""
    from ..io.image import read_png
    pixels = check_pixels(read_png(image_path, size=model.config.image_size), model.config)
    if question is None:
        return generate_captions(model, fmt, pixels, num_beams=num_beams)[0]
    prompt = np.array(fmt.prompt + fmt.encode(question))
    out = model.generate(model.images(pixels), prompt, 3, eos_token_id=fmt.eos_id, num_beams=num_beams)
    return fmt.decode(out[0, len(prompt):])


def cmd_caption(args) -> int:
    model, fmt = load_vlm(args.checkpoint)
    print(caption_file(model, fmt, args.image, args.question, args.num_beams))
    return 0


def train_from_args(args) -> int:
    """The ``vlm`` recipe of ``tinygrad-llm train``."""
    if getattr(args, "corpus", None) is not None:
        raise ValueError("train: --corpus does not apply to --model vlm (it trains on generated shapes)")
    cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup_steps=args.warmup,
                      eval_interval=args.eval_interval, seed=args.seed, out_dir=args.out,
                      time_limit=args.minutes * 60 if args.minutes else None, progress=not args.quiet)
    clip = None
    if args.clip_steps:
        clip = replace(cfg, steps=args.clip_steps, batch_size=args.clip_batch_size, seed=args.seed + 1,
                       warmup_steps=min(args.warmup, args.clip_steps), eval_interval=0)
    overrides = {"dropout": args.dropout} if args.dropout is not None else {}
    trainer = train_vlm(args.preset or "cpu", cfg, clip, n_train=args.scenes, n_test=200, n_unseen=200, resume=args.resume,
                        log=None if args.quiet else print, **overrides)
    ev = trainer.history["eval"][-1]
    print(f"trained {trainer.step} steps in {trainer.elapsed:.0f} s; held-out caption exact match "
          f"{ev.get('caption_exact', float('nan')):.3f}, loss {ev['loss']:.4f}")
    print(f"checkpoint: {trainer.checkpoint_path}")
    if args.sample:
        test = subset(trainer.splits["test"], min(args.sample, 5))
        for ref, hyp in zip(test.captions, generate_captions(trainer.model, trainer.task.fmt, test.images)):
            print(f"  true: {ref}\n  said: {hyp}")
    return 0


TRAIN_RECIPES = {"vlm": train_from_args}        # ModelSpec(recipe="vlm") -> this function (cli.py)


def add_train_arguments(p):
    """Options of ``tinygrad-llm train`` that only the vlm recipe reads."""
    g = p.add_argument_group("vision-language model (--model vlm)")
    g.add_argument("--scenes", type=int, default=20000, help="generated training scenes (default 20000)")
    g.add_argument("--clip-steps", type=int, default=300,
                   help="steps of contrastive (CLIP) pre-training of the ViT before --steps of captioning "
                        "(default 300; 0 = none)")
    g.add_argument("--clip-batch-size", type=int, default=64, help="batch of the CLIP stage (default 64)")


def register(sub):
    p = sub.add_parser("caption", help="describe a PNG image (or answer a question about it) with a trained "
                                       "vision-language model",
                       description="Caption a PNG of the model's size (32x32 RGB for the shapes model), or "
                                   "answer --question about it, e.g. 'what colour is the circle ?'.")
    p.add_argument("image", help="a PNG file")
    p.add_argument("--checkpoint", default="runs/vlm-cpu/checkpoint.npz",
                   help="checkpoint of `tinygrad-llm train --model vlm` (default runs/vlm-cpu/checkpoint.npz)")
    p.add_argument("--question", default=None, help="a question about the image instead of a caption")
    p.add_argument("--num-beams", type=int, default=1, help="beam search width (default 1: greedy)")
    p.set_defaults(func=cmd_caption)
    return p
