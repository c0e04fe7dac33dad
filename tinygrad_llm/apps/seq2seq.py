r"""Train and evaluate the encoder–decoder Transformer on the dates translation task.

Training minimises teacher-forced cross-entropy with AdamW (decay on matrices only) and a learning rate
that warms up linearly and then decays along a cosine to zero (``optim/schedule.py``; warm-up matters for Transformers: Adam's second-moment estimates are poor in the first steps, and
large early updates through LayerNorm and attention can diverge). Gradients are clipped to a global norm.

Evaluation decodes the held-out split (greedy or beam search) and reports exact match, the fraction of
outputs equal to the reference, and corpus BLEU (``metrics/bleu.py``).

Training runs in the one loop of ``apps/trainer.py``; this module supplies the task (random batches of
date pairs, exact match on the validation pairs as the evaluation). Command line (a full run takes a few
minutes on 2 cores; the matrices are small, so one BLAS thread is faster than several)::

    OPENBLAS_NUM_THREADS=1 tinygrad-llm seq2seq --steps 600 --out runs/dates
"""
from __future__ import annotations

import json
import pathlib
import time

import numpy as np

from .. import backend
from ..data.translation import TranslationTask, make_batch, make_dates_task
from ..metrics.bleu import corpus_bleu
from ..io.atomic import atomic_write_text
from ..io.checkpoint import save_checkpoint
from ..models.seq2seq import Seq2SeqTransformer, beam_search, greedy_decode
from .trainer import TrainConfig, Trainer


def build_model(task: TranslationTask, **kwargs) -> Seq2SeqTransformer:
    """A model sized for ``task``'s vocabularies (keyword arguments override the architecture)."""
    shared = task.src_vocab == task.tgt_vocab
    kw = dict(d_model=64, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=128,
              dropout=0.0, share_embeddings=shared, tie_output=True)
    kw.update(kwargs)
    tv = task.tgt_vocab
    return Seq2SeqTransformer(len(task.src_vocab), len(tv), pad_id=tv.pad_id, bos_id=tv.bos_id,
                              eos_id=tv.eos_id, **kw)


class Seq2SeqTask:
    """The ``Trainer`` task: random mini-batches of training pairs (teacher forcing), exact match and BLEU
    of greedy decoding on ``eval_pairs`` as the evaluation."""

    name = "seq2seq"

    def __init__(self, task: TranslationTask, batch_size: int, eval_pairs=None):
        self.data, self.batch_size, self.eval_pairs = task, batch_size, eval_pairs
        self.tokens_per_step = None

    # [start:loss]
    def loss(self, model, step):
        idx = backend.rng().integers(0, len(self.data.train), size=self.batch_size)
        src, tgt_in, tgt_out = make_batch(self.data, [self.data.train[i] for i in idx])   # (B, S), (B, T), (B, T)
        return model.loss(src, tgt_in, tgt_out)
    # [end:loss]

    def evaluate(self, model):
        if not self.eval_pairs:
            return {}
        r = evaluate(model, self.data, self.eval_pairs)
        return {"exact_match": r["exact_match"], "bleu": r["bleu"]}


# [start:train]
def train(model: Seq2SeqTransformer, task: TranslationTask, steps: int = 600, batch_size: int = 64,
          lr: float = 3e-3, warmup: int = 100, weight_decay: float = 0.01, clip: float = 1.0,
          eval_every: int = 0, progress: bool = False, callback=None) -> dict:
    """AdamW (betas 0.9, 0.98) + linear warm-up + cosine decay to 0 on random mini-batches of ``task.train``,
    with exact match on ``task.valid`` every ``eval_every`` steps (and at the end). Returns the history."""
    cfg = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, warmup_steps=warmup, weight_decay=weight_decay,
                      betas=(0.9, 0.98), grad_clip=clip, min_lr_ratio=0.0, eval_interval=eval_every, seed=None,
                      progress=progress)
    trainer = Trainer(model, Seq2SeqTask(task, batch_size, task.valid), cfg, model_name="seq2seq")
    history = trainer.fit(callback=callback)
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


def cmd_seq2seq(args) -> int:
    backend.manual_seed(args.seed)
    task = make_dates_task(n_train=args.n_train, n_test=args.n_test, seed=args.seed)
    model = build_model(task)
    print(f"{model.num_parameters():,} parameters; {len(task.train)} train / {len(task.valid)} valid / "
          f"{len(task.test)} test pairs")
    hist = train(model, task, args.steps, args.batch_size, args.lr, args.warmup, progress=not args.quiet)
    results = {"train_seconds": hist["train"][-1]["time"], "final_loss": hist["train"][-1]["loss"]}
    for beams in sorted({1, args.beams}):
        t0 = time.perf_counter()
        r = evaluate(model, task, task.test, num_beams=beams)
        name = "greedy" if beams == 1 else f"beam{beams}"
        results[name] = {"exact_match": r["exact_match"], "bleu": r["bleu"], "seconds": time.perf_counter() - t0}
        print(f"test {name}: exact match {r['exact_match']:.4f}  BLEU {r['bleu']:.2f}")
    if args.out:
        out = pathlib.Path(args.out)
        save_checkpoint(out / "checkpoint.npz", model, step=args.steps, model_type="seq2seq", config=model.config)
        atomic_write_text(out / "metrics.json", json.dumps({"config": model.config, **results}, indent=2))
        print(f"checkpoint: {out / 'checkpoint.npz'}\nmetrics:    {out / 'metrics.json'}")
    args.results = results
    return 0


def register(sub):
    from .arguments import nonneg_float, nonneg_int, positive_int
    p = sub.add_parser("seq2seq", help="train the encoder-decoder Transformer on dates in words -> ISO dates "
                                       "(chapter 10)",
                       description="Train the seq2seq Transformer on the toy translation task of chapter 10, then "
                                   "report exact match and BLEU on the test dates, greedy and with beam search.",
                       epilog="example:\n  tinygrad-llm seq2seq --out runs/dates")
    p.add_argument("--steps", type=positive_int, default=600, help="optimizer steps")
    p.add_argument("--batch-size", type=positive_int, default=64, help="sentence pairs per step")
    p.add_argument("--lr", type=nonneg_float, default=3e-3, help="peak learning rate")
    p.add_argument("--warmup", type=nonneg_int, default=100, help="linear warm-up steps")
    p.add_argument("--n-train", type=positive_int, default=20000, metavar="N", help="training pairs")
    p.add_argument("--n-test", type=positive_int, default=1000, metavar="N", help="test pairs")
    p.add_argument("--beams", type=positive_int, default=4, help="beam width for the second evaluation")
    p.add_argument("--seed", type=int, default=0, help="seed for the data and the initialisation")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="folder for checkpoint.npz and metrics.json (default: write nothing)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_seq2seq)
