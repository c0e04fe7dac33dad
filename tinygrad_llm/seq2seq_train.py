r"""Train and evaluate the encoder–decoder Transformer on the dates translation task.

Training minimises teacher-forced cross-entropy with AdamW (decay on matrices only) and a learning rate
that warms up linearly and then decays along a cosine,
$$\eta_t = \eta_0 \cdot \begin{cases} t/W & t < W \\ \tfrac12\big(1 + \cos(\pi\,\tfrac{t-W}{T-W})\big) & t \ge W\end{cases}$$
(warm-up matters for Transformers: Adam's second-moment estimates are poor in the first steps, and
large early updates through LayerNorm and attention can diverge). Gradients are clipped to a global norm.

Evaluation decodes the held-out split (greedy or beam search) and reports exact match, the fraction of
outputs equal to the reference, and corpus BLEU (``metrics/bleu.py``).

Command line (a full run takes a few minutes on 2 cores; the matrices are small, so one BLAS thread is
faster than several)::

    OPENBLAS_NUM_THREADS=1 python -m tinygrad_llm.seq2seq_train --steps 600 --out runs/dates
"""
from __future__ import annotations

import argparse
import json
import pathlib
import time

import numpy as np

from . import backend
from .data.translation import TranslationTask, make_batch, make_dates_task
from .metrics.bleu import corpus_bleu
from .models.seq2seq import Seq2SeqTransformer, beam_search, greedy_decode
from .optim import AdamW, LambdaLR, clip_grad_norm_, param_groups_for_weight_decay, warmup_cosine


def build_model(task: TranslationTask, **kwargs) -> Seq2SeqTransformer:
    """A model sized for ``task``'s vocabularies (keyword arguments override the architecture)."""
    shared = task.src_vocab == task.tgt_vocab
    kw = dict(d_model=64, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=128,
              dropout=0.0, share_embeddings=shared, tie_output=True)
    kw.update(kwargs)
    tv = task.tgt_vocab
    return Seq2SeqTransformer(len(task.src_vocab), len(tv), pad_id=tv.pad_id, bos_id=tv.bos_id,
                              eos_id=tv.eos_id, **kw)


# [start:train]
def train(model: Seq2SeqTransformer, task: TranslationTask, steps: int = 600, batch_size: int = 64,
          lr: float = 3e-3, warmup: int = 100, weight_decay: float = 0.01, clip: float = 1.0,
          log_every: int = 50, callback=None) -> dict:
    """AdamW + linear warm-up + cosine decay on random mini-batches of ``task.train``.

    Returns the history: step, training loss, learning rate and elapsed seconds every ``log_every`` steps.
    """
    opt = AdamW(param_groups_for_weight_decay(model, weight_decay), lr=lr, betas=(0.9, 0.98))
    sched = LambdaLR(opt, warmup_cosine(warmup, steps))
    rng = backend.rng()
    history = {"step": [], "loss": [], "lr": [], "time": []}
    model.train()
    t0, running = time.perf_counter(), []
    for step in range(1, steps + 1):
        idx = rng.integers(0, len(task.train), size=batch_size)
        src, tgt_in, tgt_out = make_batch(task, [task.train[i] for i in idx])   # (B, S), (B, T), (B, T)
        loss = model.loss(src, tgt_in, tgt_out)
        opt.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), clip)
        opt.step()
        sched.step()
        running.append(loss.item())
        if step % log_every == 0 or step == steps:
            history["step"].append(step)
            history["loss"].append(float(np.mean(running)))
            history["lr"].append(opt.param_groups[0]["lr"])
            history["time"].append(time.perf_counter() - t0)
            running = []
            if callback is not None:
                callback(step, history)
    model.eval()
    return history
# [end:train]


def translate(model: Seq2SeqTransformer, task: TranslationTask, sources, num_beams: int = 1,
              length_penalty: float = 1.0, max_len: int = 16, batch_size: int = 256) -> list[str]:
    """Decode source strings into target strings (greedy when ``num_beams == 1``)."""
    out = []
    for i in range(0, len(sources), batch_size):
        chunk = sources[i:i + batch_size]
        src, _, _ = make_batch(task, [(s, "") for s in chunk])
        if num_beams == 1:
            ids = greedy_decode(model, src, max_len)
        else:
            ids = beam_search(model, src, num_beams, max_len, length_penalty)
        out += [task.decode_target(h) for h in ids]
    return out


def evaluate(model: Seq2SeqTransformer, task: TranslationTask, pairs, num_beams: int = 1,
             length_penalty: float = 1.0, max_len: int = 16) -> dict:
    """Exact match (fraction of outputs equal to the reference) and corpus BLEU (0-100) on ``pairs``."""
    sources, refs = [s for s, _ in pairs], [t for _, t in pairs]
    hyps = translate(model, task, sources, num_beams, length_penalty, max_len)
    exact = float(np.mean([h == r for h, r in zip(hyps, refs)]))
    bleu = corpus_bleu(hyps, [refs]).score
    return {"exact_match": exact, "bleu": bleu, "hypotheses": hyps, "n": len(pairs)}


def main(argv=None):
    p = argparse.ArgumentParser(description="train the seq2seq Transformer on dates-in-words -> ISO dates")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--n-train", type=int, default=20000)
    p.add_argument("--n-test", type=int, default=1000)
    p.add_argument("--beams", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="folder for model.npz and metrics.json")
    a = p.parse_args(argv)
    backend.manual_seed(a.seed)
    task = make_dates_task(n_train=a.n_train, n_test=a.n_test, seed=a.seed)
    model = build_model(task)
    print(f"{model.num_parameters():,} parameters; {len(task.train)} train / {len(task.valid)} valid / "
          f"{len(task.test)} test pairs")
    hist = train(model, task, a.steps, a.batch_size, a.lr, a.warmup,
                 callback=lambda s, h: print(f"step {s:5d}  loss {h['loss'][-1]:.4f}  lr {h['lr'][-1]:.2e}  "
                                             f"{h['time'][-1]:.0f}s"))
    results = {"train_seconds": hist["time"][-1], "final_loss": hist["loss"][-1]}
    for beams in sorted({1, a.beams}):
        t0 = time.perf_counter()
        r = evaluate(model, task, task.test, num_beams=beams)
        name = "greedy" if beams == 1 else f"beam{beams}"
        results[name] = {"exact_match": r["exact_match"], "bleu": r["bleu"], "seconds": time.perf_counter() - t0}
        print(f"test {name}: exact match {r['exact_match']:.4f}  BLEU {r['bleu']:.2f}")
    if a.out:
        out = pathlib.Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        np.savez(out / "model.npz", **model.state_dict())
        (out / "metrics.json").write_text(json.dumps({"config": model.config, **results}, indent=2))
    return results


if __name__ == "__main__":
    main()
