r"""The one training loop: every recipe (language models, seq2seq, fine-tuning) runs through ``Trainer``.

One step minimises the mean loss of a batch,
$$\theta_{t+1} = \mathrm{AdamW}\big(\theta_t,\ \mathrm{clip}(\nabla_\theta \mathcal L(\theta_t; \mathcal B_t)),\ \eta_t\big)$$
with AdamW (decoupled weight decay on matrices only, not on biases and LayerNorm gains, unless
``decay_all``), the learning rate $\eta_t = \eta_0 f(t)$ of a warm-up schedule (``optim/schedule.py``:
linear warm-up, then cosine decay to ``min_lr_ratio``·η₀, or linear decay, or constant) and the gradient
clipped to a global norm of ``grad_clip`` (``optim/clip.py``; off when None).

What to train on is a *task* object, so the loop does not know about tokens, sentences or labels:

- ``task.loss(model, step) -> Tensor``: the loss of training batch number ``step`` (a forward pass);
- ``task.evaluate(model) -> dict``: held-out metrics (``{"loss": ...}`` for a language model);
- optional ``task.name`` (progress bar), ``task.tokens_per_step`` (tokens/s), and
  ``task.state_arrays()`` / ``task.load_state_arrays(d)`` for state carried between steps (an LSTM's
  $(h, c)$), which checkpoints store.

The history has one format for every task: ``{"train": [{"step", "loss", "lr", "time"}, ...],
"eval": [{"step", <metrics>}, ...]}`` (``lr`` is the rate the step used, ``time`` the seconds of training
so far). Runs are seeded (``backend.manual_seed(config.seed)``; ``seed=None`` keeps the generator as
it is), checkpoints (``io/checkpoint.py``) store the generator's state, so a resumed run repeats an
uninterrupted one bit for bit.

Data parallelism (``comm``: a ``distributed.Comm`` of N > 1 ranks, started by ``mpiexec``): every rank runs
this same loop on its shard of each global batch (``task.shard(rank, N)``; the task's batch of step $t$
depends on $t$ only, so the ranks agree on it and a run resumed with a different N continues the same
batches). ``distributed.DistributedDataParallel`` broadcasts rank 0's initial parameters, checks that all
ranks agree on the parameter shapes and this config, and averages the gradients during backward (buckets of
``bucket_mb`` megabytes), so every rank takes the same step as one process on the whole batch. Rank 0 alone
shows the progress bar, evaluates, prints and writes checkpoints and plots; the logged loss is the mean over
the ranks. Task state carried between steps (an LSTM's streams) is gathered along
``task.state_batch_axis`` into checkpoints and split again on resume.
"""
from __future__ import annotations

import time
import tracemalloc
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .. import backend, optim, tokenizers
from ..io.atomic import ensure_writable_dir, remove_stale_temps
from ..io.checkpoint import Checkpoint, CheckpointError, load_checkpoint, restore, save_checkpoint
from ..models import registry
from ..tensor import Tensor

SCHEDULES = {"cosine": optim.warmup_cosine, "linear": optim.warmup_linear, "constant": None}


@dataclass
class TrainConfig:
    steps: int = 2000
    batch_size: int = 16
    lr: float = 2e-3
    min_lr_ratio: float = 0.1             # cosine schedule: floor of the learning rate, as a fraction of lr
    warmup_steps: int = 100
    schedule: str = "cosine"              # cosine | linear | constant (after the warm-up)
    weight_decay: float = 0.1
    decay_all: bool = False               # also decay biases and LayerNorm gains (the BERT recipe does)
    betas: tuple = (0.9, 0.99)
    eps: float = 1e-8
    grad_clip: float | None = 1.0         # None: no clipping
    eval_interval: int = 250              # 0: evaluate only at the end
    eval_batches: int = 20
    checkpoint_interval: int = 0          # 0: save at evaluations and at the end only
    seed: int | None = 1337               # None: do not reseed (the caller seeded the generator)
    out_dir: str | None = None
    progress: bool = True
    time_limit: float | None = None       # seconds; stop (and evaluate, save) once exceeded

    def __post_init__(self):
        for k in ("steps", "batch_size", "eval_batches"):
            if int(getattr(self, k)) < 1:
                raise ValueError(f"TrainConfig: {k} must be >= 1, got {getattr(self, k)}")
        if self.eval_interval < 0 or self.checkpoint_interval < 0:
            raise ValueError(f"TrainConfig: eval_interval and checkpoint_interval must be >= 0, got "
                             f"{self.eval_interval} and {self.checkpoint_interval}")
        if self.lr <= 0 or self.warmup_steps < 0 or self.weight_decay < 0 or (
                self.grad_clip is not None and self.grad_clip <= 0):
            raise ValueError(f"TrainConfig: invalid lr={self.lr}, grad_clip={self.grad_clip}, "
                             f"warmup_steps={self.warmup_steps} or weight_decay={self.weight_decay}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"TrainConfig: schedule must be one of {sorted(SCHEDULES)}, got {self.schedule!r}")


class TrainingStopped(RuntimeError):
    """Training stopped because a checkpoint could not be saved; the message says why and where the last
    good checkpoint is (``last_checkpoint``: its path, or None; ``step``: where training stopped)."""

    def __init__(self, message, step: int, last_checkpoint=None, last_step: int | None = None):
        super().__init__(message)
        self.step, self.last_checkpoint, self.last_step = step, last_checkpoint, last_step


def check_out_dir(out_dir) -> None:
    """``out_dir`` (if set) is, or can be made, a folder we can write; a ``CheckpointError`` with the reason
    otherwise, so a bad ``--out`` fails before the first step, not at the first save 250 steps in."""
    if not out_dir:
        return
    try:
        ensure_writable_dir(out_dir)
    except OSError as e:
        raise CheckpointError(f"output folder: {e}") from None


def make_schedule(c: TrainConfig):
    """The multiplier $f(t)$ of the learning rate for ``c.schedule``."""
    if c.schedule == "cosine":
        return optim.warmup_cosine(c.warmup_steps, c.steps, c.min_lr_ratio)
    if c.schedule == "linear":
        return optim.warmup_linear(c.warmup_steps, c.steps)
    return optim.constant()


class Trainer:
    def __init__(self, model, task, config: TrainConfig | None = None, tokenizer=None, model_name: str | None = None,
                 metadata: dict | None = None, comm=None, bucket_mb: float = 25.0):
        self.cfg = c = config or TrainConfig()
        if c.seed is not None:
            backend.manual_seed(c.seed)
        self.model, self.task, self.tokenizer = model, task, tokenizer
        self.model_name, self.metadata = model_name, dict(metadata or {})
        # [start:optimizer]
        groups = ([p for p in model.parameters() if p.requires_grad] if c.decay_all   # frozen ones stay out
                  else optim.param_groups_for_weight_decay(model, c.weight_decay))    # no decay on biases / LN
        self.optimizer = optim.AdamW(groups, lr=c.lr, betas=c.betas, eps=c.eps, weight_decay=c.weight_decay)
        self.scheduler = optim.LambdaLR(self.optimizer, make_schedule(c))
        # [end:optimizer]
        self.step = 0
        self.history = {"train": [], "eval": []}
        self.elapsed = 0.0
        self.last_checkpoint, self.last_checkpoint_step = None, None   # the newest file save() wrote
        # [start:distributed]
        self.comm = comm if comm is not None and comm.size > 1 else None
        self.rank, self.ddp = (self.comm.rank if self.comm else 0), None
        if self.comm is not None:
            from ..distributed import DistributedDataParallel
            if not hasattr(task, "shard"):
                raise ValueError(f"Trainer: the task {type(task).__name__} has no shard(rank, world), so it cannot "
                                 f"be split across {self.comm.size} ranks")
            task.shard(self.comm.rank, self.comm.size)
            self.ddp = DistributedDataParallel(model, self.comm, bucket_mb, config={
                "train": asdict(c), "model": self.model_name or registry.name_of(model),
                "task": type(task).__name__})
            self._seed_rank()
        # [end:distributed]

    def _seed_rank(self):
        """Ranks above 0 draw their own dropout masks (a generator seeded by seed, rank and step)."""
        if self.comm is not None and self.rank > 0:
            seq = np.random.SeedSequence([self.cfg.seed or 0, self.rank, self.step])
            backend.manual_seed(int(seq.generate_state(1, dtype=np.uint64)[0]))

    # ---------------------------------------------------------------- one step
    # [start:step]
    def train_step(self) -> dict:
        c, model = self.cfg, self.model
        model.train()
        loss = self.task.loss(model, self.step)               # forward pass on batch number `step`
        self.optimizer.zero_grad()
        if self.ddp is not None:
            self.ddp.start_step()
        loss.backward()                                       # data parallel: buckets start their allreduce here
        if self.ddp is not None:
            self.ddp.finish()                                 # ... and every rank now holds the mean gradient
        if c.grad_clip is not None:
            optim.clip_grad_norm_(model.parameters(), c.grad_clip)
        lr = self.scheduler.get_last_lr()[0]
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        return {"step": self.step, "loss": float(loss.data), "lr": lr}
    # [end:step]

    def measured_step(self) -> float:
        """One training step, recorded in the history like any other, run under ``tracemalloc``; returns the
        peak bytes NumPy allocated during it: activations, gradients and, at the first step, the optimizer's
        moments. Arrays that existed before (the weights) are not counted."""
        t0 = time.perf_counter()
        tracemalloc.start()
        try:
            rec = self.train_step()
            peak = float(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        self.elapsed += time.perf_counter() - t0
        self.history["train"].append(rec | {"time": self.elapsed})
        return peak

    def evaluate(self) -> dict:
        """The task's held-out metrics for the current model."""
        was_training = self.model.training
        self.model.eval()
        try:
            return dict(self.task.evaluate(self.model))
        finally:
            self.model.train(was_training)

    # ---------------------------------------------------------------- the loop
    def fit(self, callback=None):
        """Train until ``cfg.steps`` (or ``time_limit``); ``callback(trainer, record)`` runs after each step."""
        c = self.cfg
        self.check_out_dir()
        bar = None
        lead = self.rank == 0                                 # the one rank that prints, evaluates and saves
        if c.progress and lead:
            from tqdm import tqdm
            bar = tqdm(total=c.steps, initial=self.step, desc=f"train {getattr(self.task, 'name', '')}".strip(),
                       unit="step", dynamic_ncols=True)
        t_last = time.perf_counter()
        try:
            while self.step < c.steps:
                t0 = time.perf_counter()
                rec = self.train_step()
                dt = time.perf_counter() - t0
                self.elapsed += dt
                rec["time"] = self.elapsed
                out_of_time = c.time_limit is not None and self.elapsed >= c.time_limit
                if self.comm is not None:                     # mean loss over ranks; stop when rank 0 must
                    s = self.comm.allreduce(np.array([rec["loss"], float(out_of_time and lead)]))
                    rec["loss"], out_of_time = float(s[0] / self.comm.size), bool(s[1] > 0)
                self.history["train"].append(rec)
                if bar is not None:
                    bar.update(1)
                    if time.perf_counter() - t_last > 0.5:
                        bar.set_postfix(self._postfix(rec, dt))
                        t_last = time.perf_counter()
                last = self.step == c.steps or out_of_time
                if (c.eval_interval and self.step % c.eval_interval == 0) or last:
                    if lead:
                        ev = {"step": self.step, **self.evaluate()}
                        self.history["eval"].append(ev)
                        (bar.write if bar is not None else print)(self._eval_message(ev))
                    self._save_or_stop()
                elif c.checkpoint_interval and self.step % c.checkpoint_interval == 0:
                    self._save_or_stop()
                if callback is not None:
                    callback(self, rec)
                if out_of_time:
                    break
        finally:
            if bar is not None:
                bar.close()
        if c.out_dir and lead:
            try:
                self.plot()
            except OSError as e:                       # the checkpoint is safe; only the picture is missing
                import sys
                print(f"warning: could not write the loss plot to {c.out_dir} ({e})", file=sys.stderr)
        return self.history

    def check_out_dir(self):
        """Before the first step: ``out_dir`` is usable (see :func:`check_out_dir`)."""
        check_out_dir(self.cfg.out_dir)

    def _save_or_stop(self):
        try:
            self.save()
        except CheckpointError as e:
            if self.last_checkpoint is not None:
                where = f"the last good checkpoint is {self.last_checkpoint} (step {self.last_checkpoint_step})"
            else:
                where = "no checkpoint of this run was written"
            raise TrainingStopped(f"{e}; training stopped at step {self.step}, {where}", self.step,
                                  self.last_checkpoint, self.last_checkpoint_step) from None

    def _postfix(self, rec, dt):
        post = {"loss": f"{rec['loss']:.3f}", "lr": f"{rec['lr']:.2e}"}
        tokens = getattr(self.task, "tokens_per_step", None)
        if tokens:
            post["tok/s"] = f"{tokens / dt:,.0f}"
        return post

    @staticmethod
    def _eval_message(ev):
        parts = [f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in ev.items() if k != "step"]
        return f"step {ev['step']}: " + ", ".join(parts)

    # ---------------------------------------------------------------- files
    @property
    def checkpoint_path(self):
        return Path(self.cfg.out_dir) / "checkpoint.npz" if self.cfg.out_dir else None

    def save(self, path=None):
        """Write a checkpoint (atomically; ``CheckpointError`` naming the file if it cannot be written, the
        previous file then left as it was)."""
        path = path or self.checkpoint_path
        if path is None:
            return None
        state = getattr(self.task, "state_arrays", lambda: {})()
        if self.comm is not None:                             # every rank's streams, then rank 0 writes
            axis = getattr(self.task, "state_batch_axis", 0)
            state = {k: self.comm.allgather_stack(np.asarray(v), axis) for k, v in sorted(state.items())}
            if self.rank != 0:
                return None
        name = self.model_name or registry.name_of(self.model)
        out = save_checkpoint(path, self.model, self.optimizer, self.scheduler, self.step, name,
                              tokenizer=self.tokenizer, extra_arrays=state,
                              metadata={**self.metadata, "train_config": asdict(self.cfg), "history": self.history,
                                        "elapsed": self.elapsed})
        self.last_checkpoint, self.last_checkpoint_step = out, self.step
        return out

    def resume(self, path):
        """Continue from a checkpoint written by ``save`` (a path or a loaded ``Checkpoint``): weights,
        optimizer, schedule, step, RNG, history. Everything is checked first — model type, tokenizer,
        shapes, history — and a ``CheckpointError`` leaves this trainer as it was."""
        ckpt = path if isinstance(path, Checkpoint) else load_checkpoint(path)
        if self.checkpoint_path is not None and self.rank == 0:
            remove_stale_temps(self.checkpoint_path)
        name = self.model_name or registry.name_of(self.model)
        if ckpt.model_type != name:
            raise CheckpointError(f"checkpoint {ckpt.path}: holds a {ckpt.model_type!r} model, this trainer trains "
                                  f"{name!r}")
        if self.tokenizer is not None and ckpt.tokenizer is not None and \
                tokenizers.to_dict(self.tokenizer) != ckpt.tokenizer:
            raise CheckpointError(f"checkpoint {ckpt.path}: its tokenizer differs from this trainer's (resuming would "
                                  "change what every token id means); resume with the checkpoint's tokenizer")
        hist = ckpt.metadata.get("history", {})
        elapsed = ckpt.metadata.get("elapsed", 0.0)
        if (not isinstance(hist, dict) or not all(isinstance(hist.get(k, []), list) and
                                                  all(isinstance(r, dict) for r in hist.get(k, []))
                                                  for k in ("train", "eval"))
                or not isinstance(elapsed, (int, float)) or isinstance(elapsed, bool)):
            raise CheckpointError(f"checkpoint {ckpt.path}: its training history or elapsed time is malformed")
        extra = ckpt.extra_arrays
        if self.comm is not None:                             # my rows of the streams
            axis = getattr(self.task, "state_batch_axis", 0)
            try:
                extra = {k: np.array_split(v, self.comm.size, axis)[self.rank] for k, v in extra.items()}
            except (IndexError, ValueError) as e:
                raise CheckpointError(f"checkpoint {ckpt.path}: its task state cannot be split across "
                                      f"{self.comm.size} ranks ({e})") from None
        extra = {k: Tensor(v) for k, v in extra.items()}
        task_state = None
        if hasattr(self.task, "load_state_arrays"):
            task_state = getattr(self.task, "state_arrays", lambda: {})()
            try:
                self.task.load_state_arrays(extra)
            except (ValueError, KeyError, TypeError) as e:
                raise CheckpointError(f"checkpoint {ckpt.path}: its task state does not fit ({e})") from None
        try:
            restore(ckpt, self.model, self.optimizer, self.scheduler)
        except CheckpointError:
            if task_state is not None:
                self.task.load_state_arrays({k: Tensor(v) for k, v in task_state.items()})
            raise
        self.step = ckpt.step
        self.history = {k: [dict(r) for r in hist.get(k, [])] for k in ("train", "eval")}
        self.elapsed = float(elapsed)
        self._seed_rank()
        return self

    def plot(self, path=None, close: bool = True):
        """The loss curves as a PNG (``out_dir/loss.png`` by default); ``close=False`` leaves the figure open."""
        from ..viz import plot_loss_curves
        path = path or Path(self.cfg.out_dir) / "loss.png"
        name = self.model_name or getattr(self.task, "name", "")
        return plot_loss_curves(self.history, path, title=f"{name} training".strip(), close=close)
