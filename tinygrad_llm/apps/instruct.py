r"""Instruction-tuning a real model: SmolLM2-135M-Instruct with LoRA on instructions built from the corpus.

Three kinds of instruction, each with one short right answer, generated offline from the plays
(``data/dialogue.py``) and from the dates task (``data/translation.py``):

* ``date``: "Write this date in ISO form (YYYY-MM-DD): the third of march two thousand and five" → ``2005-03-03``;
* ``play``: "Which play is this line from: Hamlet, Macbeth or Othello? ..." → the title;
* ``speaker``: two turns of a dialogue, "Who speaks next: Olivia, Sir Toby or Viola?" → the name.

Held-out instructions use dates, lines and turns that no training instruction contains. Each example
is the model's own chat template (``pretrained.chat_prompt``) around the instruction, then the answer and
the end-of-turn token ``<|im_end|>``. The loss is the cross-entropy of the answer tokens only,
$$\mathcal L = -\frac{1}{\lvert\mathcal A\rvert}\sum_{t \in \mathcal A} \log p_\theta(x_t \mid x_{<t}),$$
where $\mathcal A$ holds the positions of the answer and of ``<|im_end|>``: the model is not trained to
reproduce the prompt, only to answer it (and to stop). Only those positions go through the output layer
(``LlamaForCausalLM.forward(..., logits_mask=...)``): 49,152 logits for 8 answer tokens, not for 70.

**Exact match.** Greedy decoding reproduces the answer $a_1 \dots a_m$ (with ``<|im_end|>`` as $a_m$)
exactly when, at every step, the most likely next token given the prompt and $a_{<j}$ is $a_j$:
$$\mathrm{EM} = \prod_{j=1}^{m} \big[\arg\max_v p_\theta(v \mid \text{prompt}, a_{<j}) = a_j\big].$$
So one teacher-forced forward pass of prompt + answer decides it, with no decoding loop; a few real
generations (``generate_replies``) show what the model writes instead.
"""
from __future__ import annotations

import datetime
import json
import math
import os
import resource
import time
from pathlib import Path

import numpy as np

from .. import backend
from .. import functional as F
from ..autograd import no_grad
from ..data.dialogue import sentences, turns
from ..data.translation import all_dates, date_to_iso, date_to_words
from ..io.adapters import load_adapter, model_identity, save_adapter
from ..io.atomic import atomic_write_text
from ..nn.lora import apply_lora, count_parameters, parameter_summary
from .pretrained import chat_prompt
from .trainer import TrainConfig, Trainer

TASKS = ("date", "play", "speaker")
FAST_PLAYS = ("Macbeth", "Twelfth Night", "King John", "The Tempest")
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


# ----------------------------------------------------------------------------- the instructions
def _words(text: str, n: int) -> str:
    w = text.split()
    return " ".join(w[:n]) + (" ..." if len(w) > n else "")


def _name(s: str) -> str:
    return " ".join(p.capitalize() if p.isupper() and len(p) > 1 else p for p in s.split())


def date_examples(n_train: int, n_test: int, rng: np.random.Generator):
    """Dates in words -> ISO 8601; the held-out dates are disjoint from the training dates."""
    dates = all_dates()
    order = rng.permutation(len(dates))
    def ex(i):
        d: datetime.date = dates[i]
        words = date_to_words(d, int(rng.integers(2)), int(rng.integers(2)))
        return {"task": "date", "instruction": f"Write this date in ISO form (YYYY-MM-DD): {words}",
                "answer": date_to_iso(d)}
    return [ex(i) for i in order[n_test:n_test + n_train]], [ex(i) for i in order[:n_test]]


def _held_out(i: int) -> bool:
    return i % 5 == 0                                  # every fifth turn of a play is held out


def _draw(pools, sizes, rng, make):
    """(train, test) examples: from each pool up to its size of distinct items, drawn in turn, each made into
    an example by ``make``."""
    out = []
    for pool, n in zip(pools, sizes):
        pick = rng.choice(len(pool), size=min(n, len(pool)), replace=False)
        out.append([make(*pool[j]) for j in pick])
    return out[0], out[1]


def play_examples(play_turns: dict, n_train: int, n_test: int, rng: np.random.Generator):
    """A sentence of 6..20 words and three titles (the right one and two others) -> the right title.
    ``play_turns``: title -> ``turns(text)``."""
    titles = sorted(play_turns)
    pools = ([], [])
    for title in titles:
        for i, (_, speech) in enumerate(play_turns[title]):
            s = next((s for s in sentences(speech) if 6 <= len(s.split()) <= 20), None)
            if s is not None:
                pools[_held_out(i)].append((s, title))

    def ex(line, title):
        others = [t for t in titles if t != title]
        opts = sorted([title] + [others[j] for j in rng.choice(len(others), 2, replace=False)])
        return {"task": "play", "instruction": f"Which play is this line from: {opts[0]}, {opts[1]} or {opts[2]}? "
                f"Answer with the title only.\n{line}", "answer": title, "options": opts}

    return _draw(pools, (n_train, n_test), rng, ex)


def speaker_examples(play_turns: dict, n_train: int, n_test: int, rng: np.random.Generator):
    """Two turns of dialogue and three names (the next speaker among them) -> the next speaker's name."""
    pools = ([], [])
    for title in sorted(play_turns):
        ts = play_turns[title]
        names = sorted({_name(s) for s, _ in ts})
        for i in range(2, len(ts)):
            (a, sa), (b, sb), nxt = ts[i - 2], ts[i - 1], _name(ts[i][0])
            a, b = _name(a), _name(b)
            if len(names) >= 3 and a != b:
                pools[_held_out(i)].append((a, sa, b, sb, nxt, names))

    def ex(a, sa, b, sb, nxt, names):
        opts = {a, b, nxt}
        rest = [n for n in names if n not in opts]
        while len(opts) < 3:
            opts.add(rest.pop(int(rng.integers(len(rest)))))
        o = sorted(opts)
        return {"task": "speaker", "instruction": f"{a}: {_words(sa, 12)}\n{b}: {_words(sb, 12)}\n"
                f"Who speaks next: {o[0]}, {o[1]} or {o[2]}? Answer with the name only.", "answer": nxt, "options": o}

    return _draw(pools, (n_train, n_test), rng, ex)


def build_instructions(n_train_per_task: int = 200, n_test_per_task: int = 30, plays=None, seed: int = 0):
    """(train, test): lists of ``{"task", "instruction", "answer"}``, shuffled; a pure function of ``seed``."""
    from ..data import load_plays
    plays = load_plays(include_poems=False) if plays is None else plays
    play_turns = {t: turns(x) for t, x in plays.items()}                   # the 37 plays
    rng = np.random.default_rng(seed)
    parts = [date_examples(n_train_per_task, n_test_per_task, rng),
             play_examples(play_turns, n_train_per_task, n_test_per_task, rng),
             speaker_examples(play_turns, n_train_per_task, n_test_per_task, rng)]
    train = [e for tr, _ in parts for e in tr]
    test = [e for _, te in parts for e in te]
    return [train[i] for i in rng.permutation(len(train))], test


# ----------------------------------------------------------------------------- tokens
def encode(tokenizer, example, name: str = "smollm2"):
    """(ids, n_prompt): the chat prompt, then the answer and ``<|im_end|>``; positions >= n_prompt are the answer."""
    prompt = tokenizer.encode(chat_prompt(example["instruction"], name), allowed_special="all")
    answer = tokenizer.encode(example["answer"], allowed_special=()) + [tokenizer.token_to_id("<|im_end|>")]
    return prompt + answer, len(prompt)


# [start:batch]
def answer_batch(encoded, pad_id: int = 0):
    """Right-padded ids (B, T), the mask of positions whose *next* token is an answer token (B, T), and
    those next tokens (N,) in row-major order: ``logits[mask]`` is scored against ``targets``."""
    T = max(len(ids) for ids, _ in encoded)
    ids = np.full((len(encoded), T), pad_id, dtype=np.int64)
    mask = np.zeros((len(encoded), T), dtype=bool)
    for i, (row, n_prompt) in enumerate(encoded):
        ids[i, :len(row)] = row
        mask[i, n_prompt - 1:len(row) - 1] = True           # position t predicts token t + 1
    targets = ids[:, 1:][mask[:, :-1]]
    return ids, mask, targets
# [end:batch]


class InstructionTask:
    """The ``Trainer`` task: mini-batches of encoded examples (a new permutation every epoch), the loss on
    answer tokens only; evaluation is exact match on the held-out instructions."""

    name = "instruct"

    def __init__(self, tokenizer, train, test=None, batch_size: int = 8, seed: int = 0, eval_batch: int = 16):
        self.tokenizer, self.train, self.test = tokenizer, train, test
        self.batch_size, self.eval_batch = batch_size, eval_batch
        self.encoded = [encode(tokenizer, e) for e in train]
        self.steps_per_epoch = math.ceil(len(train) / batch_size)
        self._rng = np.random.default_rng(seed)
        self._batches = None
        self.tokens_per_step = None

    # [start:loss]
    def loss(self, model, step):
        b = step % self.steps_per_epoch
        if b == 0 or self._batches is None:
            self._batches = self.epoch_batches()
        rows = [self.encoded[i] for i in self._batches[b]]
        ids, mask, targets = answer_batch(rows)
        self.tokens_per_step = ids.size
        logits = model(ids, logits_mask=mask)                 # (N, V): only where an answer token comes next
        return F.cross_entropy(logits, targets)
    # [end:loss]

    def epoch_batches(self, group: int = 8):
        """One epoch of batches (lists of example indices) in which each batch holds examples of similar
        length, so little is padded: shuffle, sort each run of ``group`` batches by length, shuffle the batches."""
        perm, bs = self._rng.permutation(len(self.train)), self.batch_size
        chunks = [sorted(perm[i:i + group * bs], key=lambda j: len(self.encoded[j][0]))
                  for i in range(0, len(perm), group * bs)]
        batches = [c[i:i + bs] for c in chunks for i in range(0, len(c), bs)]
        return [batches[k] for k in self._rng.permutation(len(batches))]

    def evaluate(self, model):
        if not self.test:
            return {}
        self.last_eval = exact_match(model, self.tokenizer, self.test, self.eval_batch)   # predictions too
        return self.last_eval["scores"]


def teacher_forced(model, encoded, batch_size: int = 16):
    """For encoded examples ``(ids, n_prompt)``: whether greedy decoding would reproduce each answer exactly
    (every answer token is the argmax given what comes before it), the argmax tokens at the answer
    positions, and the summed negative log-likelihood and count of the answer tokens."""
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))   # similar lengths: less padding
    hits, guesses, nll, n_tok = [False] * len(encoded), [None] * len(encoded), 0.0, 0
    was = model.training
    model.eval()
    with no_grad():
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            ids, mask, targets = answer_batch([encoded[i] for i in idx])
            logits = np.asarray(model(ids, logits_mask=mask).data, dtype=np.float64)   # (N, V)
            m = logits.max(-1, keepdims=True)
            lse = (m + np.log(np.exp(logits - m).sum(-1, keepdims=True)))[:, 0]
            nll += float((lse - logits[np.arange(len(targets)), targets]).sum())
            n_tok += len(targets)
            guess = logits.argmax(-1)
            ends = np.cumsum(mask.sum(1))
            for j, i in enumerate(idx):
                g, t = guess[ends[j] - mask[j].sum():ends[j]], targets[ends[j] - mask[j].sum():ends[j]]
                hits[i], guesses[i] = bool((g == t).all()), [int(v) for v in g]
    model.train(was)
    return hits, guesses, nll, n_tok


def exact_match(model, tokenizer, examples, batch_size: int = 16) -> dict:
    """Greedy exact match on ``examples``, by teacher forcing: ``{"scores": {"exact_match", <task>: ...,
    "answer_loss"}, "predictions": [the greedy answer, decoded], "hits": [...]}``."""
    hits, guesses, nll, n_tok = teacher_forced(model, [encode(tokenizer, e) for e in examples], batch_size)
    scores = {"exact_match": float(np.mean(hits)) if hits else 0.0}
    for t in sorted({e["task"] for e in examples}):
        scores[t] = float(np.mean([h for h, e in zip(hits, examples) if e["task"] == t]))
    scores["answer_loss"] = nll / max(n_tok, 1)
    return {"scores": scores, "predictions": [tokenizer.decode(g) for g in guesses], "hits": hits}


def lenient_correct(example, reply: str) -> bool:
    """A reply judged by its content, not its form: for a date, the ISO date appears in it; for a choice,
    the option it names first (the longest, where two start at the same place) is the right one."""
    if "options" not in example:
        return example["answer"] in reply
    low = reply.lower()
    found = [(low.find(o.lower()), -len(o), o) for o in example["options"] if o.lower() in low]
    return bool(found) and min(found)[2] == example["answer"]


def lenient_scores(model, tokenizer, examples, max_new_tokens: int = 24) -> dict:
    """Greedy replies of up to ``max_new_tokens`` tokens, scored by ``lenient_correct``: what a model knows
    when it is not held to the form of the answer. ``{"scores": {"lenient", <task>...}, "replies": [...]}``."""
    replies = generate_replies(model, tokenizer, examples, max_new_tokens)
    hits = [lenient_correct(e, r) for e, r in zip(examples, replies)]
    scores = {"lenient": float(np.mean(hits)) if hits else 0.0}
    for t in sorted({e["task"] for e in examples}):
        scores[t] = float(np.mean([h for h, e in zip(hits, examples) if e["task"] == t]))
    return {"scores": scores, "replies": replies}


def generate_replies(model, tokenizer, examples, max_new_tokens: int = 24, name: str = "smollm2") -> list[str]:
    """What greedy decoding writes for each instruction (up to ``max_new_tokens``, stopping at <|im_end|>)."""
    from .pretrained import generate_text
    return [generate_text(model, tokenizer, e["instruction"], max_new_tokens, chat=True, name=name).strip()
            for e in examples]


# ----------------------------------------------------------------------------- the run
def byte_tokenizer():
    """256 byte tokens and the chat template's control tokens, no merges: the fast mode's tokenizer
    (SmolLM2's own takes longer to load than the whole fast run)."""
    from ..tokenizers.gguf_bpe import GGUFTokenizer
    specials = {t: 256 + i for i, t in enumerate(("<|endoftext|>", "<|im_start|>", "<|im_end|>"))}
    return GGUFTokenizer({bytes([i]): i for i in range(256)}, [], specials)


def tiny_llama(vocab_size: int, seed: int = 0):
    """A random 2-layer Llama with SmolLM2's vocabulary: the fast mode's stand-in for the 135M model."""
    from ..models.llama import LlamaConfig, LlamaForCausalLM
    backend.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64,
                                        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                        max_position_embeddings=512)).eval()


def run(out="runs/instruct", seed: int = 0, steps: int = 16, batch_size: int = 8, lr: float = 1e-3,
        r: int = 8, alpha: float = 16.0, targets=ALL_LINEAR, n_train_per_task: int = 200,
        n_test_per_task: int = 30, fast: bool = False, before: dict | None = None, samples: int = 1,
        max_new_tokens: int = 24, lenient_per_task: int = 0, log=print) -> dict:
    """Load SmolLM2 (or, ``fast``, a tiny random Llama), score the held-out instructions, add LoRA adapters,
    train ``steps`` steps, score again; save the adapter and results.json under ``out``. ``before``: scores
    of the untuned model from an earlier run (they do not depend on the seed), to skip that evaluation.
    ``lenient_per_task``: also generate replies to that many held-out instructions of each kind, before and
    after, and score their content (``lenient_scores``; not counted in the run's time)."""
    from .pretrained import load
    t_start, cpu_start, load_start = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    lenient_time = lenient_cpu = 0.0
    if fast:
        tok = byte_tokenizer()
        model, name = tiny_llama(tok.vocab_size, seed), "tiny-llama"
    else:
        model, tok = load("smollm2")
        name = "smollm2"
    t_load = time.perf_counter() - t_start
    plays = None
    if fast:                                     # four plays are enough to build a handful of instructions
        from ..data import load_plays
        plays = {t: x for t, x in load_plays(include_poems=False).items() if t in FAST_PLAYS}
    train, test = build_instructions(n_train_per_task, n_test_per_task, plays)
    show = [next(e for e in test if e["task"] == t) for t in TASKS][:samples * len(TASKS)] if samples else []
    res = {"model": name, "seed": seed, "n_train": len(train), "n_test": len(test), "load_seconds": t_load,
           "settings": dict(steps=steps, batch_size=batch_size, lr=lr, r=r, alpha=alpha, targets=list(targets),
                            n_train_per_task=n_train_per_task, n_test_per_task=n_test_per_task)}
    probe = [e for t in TASKS for e in [x for x in test if x["task"] == t][:lenient_per_task]]
    if before is None:
        t0 = time.perf_counter()
        ev = exact_match(model, tok, test)
        before = {"scores": ev["scores"], "seconds": time.perf_counter() - t0, "predictions": ev["predictions"],
                  "replies": dict(zip([e["instruction"] for e in show], generate_replies(model, tok, show, max_new_tokens)))}
        if log:
            log(f"before tuning: {_fmt(before['scores'])} ({before['seconds']:.0f} s)")
        if probe:
            t0, c0 = time.perf_counter(), time.process_time()
            before["lenient"] = lenient_scores(model, tok, probe, max_new_tokens)
            lenient_time, lenient_cpu = lenient_time + time.perf_counter() - t0, lenient_cpu + time.process_time() - c0
    res["before"] = before
    total0 = model.num_parameters()
    apply_lora(model, targets, r=r, alpha=alpha)
    trainable, total = count_parameters(model)
    res["parameters"] = {"trainable": trainable, "total": total, "base": total0}
    if log:
        log(parameter_summary(model))
    task = InstructionTask(tok, train, test, batch_size, seed)
    cfg = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, warmup_steps=max(1, steps // 10), schedule="linear",
                      weight_decay=0.0, grad_clip=1.0, eval_interval=0, seed=seed, progress=log is not None)
    trainer = Trainer(model, task, cfg, model_name=f"{name}-lora")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    step_mem = trainer.measured_step()
    hist = trainer.fit()
    times = np.diff([0.0] + [h["time"] for h in hist["train"]])[1:]     # step 1 ran under tracemalloc
    after = dict(hist["eval"][-1])
    after.pop("step")
    t0 = time.perf_counter()
    reps = dict(zip([e["instruction"] for e in show], generate_replies(model, tok, show, max_new_tokens)))
    res["after"] = {"scores": after, "replies": reps, "generate_seconds": time.perf_counter() - t0,
                    "predictions": task.last_eval["predictions"]}
    if probe:
        t0, c0 = time.perf_counter(), time.process_time()
        res["after"]["lenient"] = lenient_scores(model, tok, probe, max_new_tokens)
        lenient_time, lenient_cpu = lenient_time + time.perf_counter() - t0, lenient_cpu + time.process_time() - c0
    res["test"] = test
    res["train"] = {"steps": steps, "seconds": float(times.sum()), "step_seconds_median": float(np.median(times)),
                    "loss_first": hist["train"][0]["loss"], "loss_last": hist["train"][-1]["loss"],
                    "step_peak_bytes": step_mem, "rss_peak_bytes_before_training": rss0,
                    "rss_peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                    "history": hist["train"]}
    res["total_seconds"] = time.perf_counter() - t_start - lenient_time
    res["lenient_seconds"], res["lenient_cpu_seconds"] = lenient_time, lenient_cpu
    res["cpu_seconds"] = time.process_time() - cpu_start - lenient_cpu   # both cores count: up to 2x the wall
    res["load_average"] = [load_start, os.getloadavg()[0]]        # the machine is shared: how busy it was
    if log:
        log(f"after {steps} steps: {_fmt(after)}")
    if out:
        save_adapter(model, Path(out) / "adapter", model_identity(model, name))
        atomic_write_text(Path(out) / "results.json", json.dumps(res, indent=2))
    res["model_object"], res["tokenizer"] = model, tok
    return res


def _fmt(s: dict) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in s.items())


def load_with_adapter(folder, name: str = "smollm2"):
    """(model, tokenizer): the pretrained model with the adapter in ``folder`` (checked against it)."""
    from .pretrained import load
    model, tok = load(name)
    load_adapter(model, folder, model_identity(model, name))
    return model, tok


def cmd_instruct(args) -> int:
    """``tinygrad-llm finetune --task instruct --lora``: the run above with the command line's settings."""
    if not args.lora:
        raise ValueError("finetune --task instruct: only LoRA is supported here (full fine-tuning of SmolLM2 "
                         "would keep 135 M gradients and 270 M Adam moments); add --lora")
    targets = tuple(args.lora_targets.split(",")) if args.lora_targets else ALL_LINEAR
    sizes = dict(n_train_per_task=6, n_test_per_task=2, max_new_tokens=4) if args.fast else {}
    res = run(out=args.out, seed=args.seed, steps=args.steps or (3 if args.fast else 16),
              batch_size=args.batch_size or (2 if args.fast else 8), lr=args.lr or 1e-3, r=args.lora_r,
              alpha=args.lora_alpha, targets=targets, fast=args.fast, log=None if args.quiet else print, **sizes)
    b, a = res["before"]["scores"], res["after"]["scores"]
    print(f"held-out exact match {b['exact_match']:.3f} -> {a['exact_match']:.3f} "
          f"({', '.join(f'{t} {b[t]:.2f} -> {a[t]:.2f}' for t in TASKS)}); adapter: {Path(args.out) / 'adapter'}")
    return 0
