r"""Training a language model: the loop, the schedule, evaluation, checkpoints and the loss plot.

One step minimises the mean next-token cross-entropy of a batch,
$$\mathcal L(\theta) = -\frac{1}{BT}\sum_{b,t}\log p_\theta(x_{b,t+1} \mid x_{b,\le t}),$$
with AdamW (decoupled weight decay on matrices only, not on biases and LayerNorm gains), the
learning rate $\eta_t = \eta_0 f(t)$ of ``optim.warmup_cosine`` (linear warm-up then cosine decay to
``min_lr_ratio``·η₀) and the gradient clipped to a global norm of ``grad_clip``. Validation reports
the mean loss $\bar\ell$ over fixed held-out batches and the perplexity $e^{\bar\ell}$.

Runs are seeded (``backend.manual_seed``): the batches, dropout masks and initialisation all come from
the one generator, whose state the checkpoint stores, so a resumed run repeats an uninterrupted one
bit for bit. The GPT reads random windows (``data.get_batch``); the LSTM reads ``batch_size``
contiguous streams window after window, carrying its detached $(h, c)$ across windows (truncated BPTT).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import backend, optim
from .autograd import no_grad
from .checkpoint import load_checkpoint, restore, save_checkpoint
from .data.corpus import get_batch


@dataclass
class TrainConfig:
    steps: int = 2000
    batch_size: int = 16
    lr: float = 2e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.1
    betas: tuple = (0.9, 0.99)
    grad_clip: float = 1.0
    eval_interval: int = 250
    eval_batches: int = 20
    checkpoint_interval: int = 0          # 0: save at evaluations and at the end only
    seed: int = 1337
    out_dir: str | None = None
    progress: bool = True
    time_limit: float | None = None       # seconds; stop (and evaluate, save) once exceeded

    def __post_init__(self):
        for k in ("steps", "batch_size", "eval_interval", "eval_batches"):
            if int(getattr(self, k)) < 1:
                raise ValueError(f"TrainConfig: {k} must be >= 1, got {getattr(self, k)}")
        if self.lr <= 0 or self.grad_clip <= 0 or self.warmup_steps < 0 or self.weight_decay < 0:
            raise ValueError(f"TrainConfig: invalid lr={self.lr}, grad_clip={self.grad_clip}, "
                             f"warmup_steps={self.warmup_steps} or weight_decay={self.weight_decay}")


def model_type_of(model) -> str:
    from .models.lstm_lm import LSTMLM
    return "lstm" if isinstance(model, LSTMLM) else "gpt"


class Trainer:
    def __init__(self, model, train_data, val_data, config: TrainConfig | None = None, tokenizer=None):
        self.cfg = config or TrainConfig()
        backend.manual_seed(self.cfg.seed)
        self.model, self.tokenizer = model, tokenizer
        self.model_type = model_type_of(model)
        self.train_data = np.asarray(train_data, dtype=np.int64)
        self.val_data = np.asarray(val_data, dtype=np.int64)
        self.block_size = model.block_size
        for name, d in (("train", self.train_data), ("validation", self.val_data)):
            if d.ndim != 1 or len(d) <= self.block_size + 1:
                raise ValueError(f"Trainer: the {name} split has {len(d)} tokens, needs more than "
                                 f"block_size + 1 = {self.block_size + 1}")
        c = self.cfg
        # [start:optimizer]
        groups = optim.param_groups_for_weight_decay(model, c.weight_decay)   # no decay on biases / LayerNorm
        self.optimizer = optim.AdamW(groups, lr=c.lr, betas=c.betas)
        self.scheduler = optim.LambdaLR(self.optimizer, optim.warmup_cosine(c.warmup_steps, c.steps, c.min_lr_ratio))
        # [end:optimizer]
        self.step = 0
        self.history = {"train": [], "val": []}
        self._state = None                                                     # LSTM (h, c) across windows
        self.elapsed = 0.0

    # ---------------------------------------------------------------- batches
    def _lstm_batch(self, data, B, w):
        """Window ``w`` of B contiguous streams: x (B, T) and y (B, T)."""
        T = self.block_size
        n = (len(data) - 1) // B
        starts = np.arange(B) * n + w * T                                     # (B,)
        idx = starts[:, None] + np.arange(T)[None, :]                           # (B, T)
        return data[idx], data[idx + 1]

    def _windows_per_stream(self, data, B):
        return max(1, ((len(data) - 1) // B - 1) // self.block_size)

    # ---------------------------------------------------------------- one step
    # [start:step]
    def train_step(self) -> float:
        c, model = self.cfg, self.model
        model.train()
        if self.model_type == "gpt":
            x, y = get_batch(self.train_data, c.batch_size, self.block_size, backend.rng())  # (B, T) each
            _, loss = model(x, y)
        else:
            w = self.step % self._windows_per_stream(self.train_data, c.batch_size)
            if w == 0:
                self._state = None                                              # streams start over
            x, y = self._lstm_batch(self.train_data, c.batch_size, w)
            loss, self._state = model.loss(x, y, self._state)                   # state detached: truncated BPTT
        self.optimizer.zero_grad()
        loss.backward()
        optim.clip_grad_norm_(model.parameters(), c.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        return float(loss.data)
    # [end:step]

    # ---------------------------------------------------------------- evaluation
    def evaluate(self, data=None, batches: int | None = None) -> dict:
        """Mean loss and perplexity on fixed windows of ``data`` (the validation split by default)."""
        data = self.val_data if data is None else np.asarray(data, dtype=np.int64)
        batches = batches or self.cfg.eval_batches
        return evaluate_lm(self.model, data, self.cfg.batch_size, batches, seed=self.cfg.seed)

    # ---------------------------------------------------------------- the loop
    def fit(self, callback=None):
        """Train until ``cfg.steps`` (or ``time_limit``); ``callback(trainer, loss)`` runs after each step."""
        c = self.cfg
        tokens = c.batch_size * self.block_size
        bar = None
        if c.progress:
            from tqdm import tqdm
            bar = tqdm(total=c.steps, initial=self.step, desc=f"train {self.model_type}", unit="step",
                       dynamic_ncols=True)
        t_last = time.perf_counter()
        try:
            while self.step < c.steps:
                t0 = time.perf_counter()
                loss = self.train_step()
                dt = time.perf_counter() - t0
                self.elapsed += dt
                self.history["train"].append((self.step, loss))
                if bar is not None:
                    bar.update(1)
                    if time.perf_counter() - t_last > 0.5:
                        bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{tokens / dt:,.0f}",
                                        lr=f"{self.scheduler.get_last_lr()[0]:.2e}")
                        t_last = time.perf_counter()
                out_of_time = c.time_limit is not None and self.elapsed >= c.time_limit
                last = self.step == c.steps or out_of_time
                if self.step % c.eval_interval == 0 or last:
                    ev = self.evaluate()
                    self.history["val"].append((self.step, ev["loss"]))
                    msg = f"step {self.step}: val loss {ev['loss']:.4f}, perplexity {ev['perplexity']:.2f}"
                    (bar.write if bar is not None else print)(msg)
                    self.save()
                elif c.checkpoint_interval and self.step % c.checkpoint_interval == 0:
                    self.save()
                if callback is not None:
                    callback(self, loss)
                if out_of_time:
                    break
        finally:
            if bar is not None:
                bar.close()
        if c.out_dir:
            self.plot()
        return self.history

    # ---------------------------------------------------------------- files
    @property
    def checkpoint_path(self):
        return Path(self.cfg.out_dir) / "checkpoint.npz" if self.cfg.out_dir else None

    def save(self, path=None):
        path = path or self.checkpoint_path
        if path is None:
            return None
        extra = {}
        if self._state is not None:
            extra = {"h": self._state[0].data, "c": self._state[1].data}
        cfg = asdict(self.cfg)
        return save_checkpoint(path, self.model, self.optimizer, self.scheduler, self.step, self.model_type,
                               tokenizer=self.tokenizer, extra_arrays=extra,
                               metadata={"train_config": cfg, "history": self.history, "elapsed": self.elapsed})

    def resume(self, path):
        """Continue from a checkpoint written by ``save``: weights, optimizer, schedule, step, RNG, history."""
        from .tensor import Tensor
        ckpt = load_checkpoint(path)
        if ckpt.model_type != self.model_type:
            raise ValueError(f"Trainer.resume: {path} holds a {ckpt.model_type!r} model, this is {self.model_type!r}")
        restore(ckpt, self.model, self.optimizer, self.scheduler)
        self.step = ckpt.step
        hist = ckpt.metadata.get("history", {})
        self.history = {k: [tuple(p) for p in hist.get(k, [])] for k in ("train", "val")}
        self.elapsed = float(ckpt.metadata.get("elapsed", 0.0))
        self._state = (Tensor(ckpt.extra_arrays["h"]), Tensor(ckpt.extra_arrays["c"])) if "h" in ckpt.extra_arrays else None
        return self

    def plot(self, path=None):
        from .viz import plot_loss_curves
        path = path or Path(self.cfg.out_dir) / "loss.png"
        return plot_loss_curves(self.history, path, title=f"{self.model_type} training")


def evaluate_lm(model, data, batch_size: int, batches: int, seed: int = 0) -> dict:
    """Mean next-token loss and perplexity of ``model`` on ``data`` (GPT: fixed random windows drawn from
    their own generator; LSTM: contiguous windows with the state carried along)."""
    data = np.asarray(data, dtype=np.int64)
    T = model.block_size
    if len(data) <= T + 1:
        raise ValueError(f"evaluate: the text has {len(data)} tokens, needs more than block_size + 1 = {T + 1}")
    was_training = model.training
    model.eval()
    losses = []
    try:
        with no_grad():
            if model_type_of(model) == "gpt":
                rng = np.random.default_rng(seed + 7919)                    # same windows at every evaluation
                for _ in range(batches):
                    x, y = get_batch(data, batch_size, T, rng)
                    losses.append(float(model(x, y)[1].data))
            else:
                B = max(1, min(batch_size, (len(data) - 1) // (T + 1)))
                n = (len(data) - 1) // B
                state = None
                for w in range(min(batches, max(1, (n - 1) // T))):
                    idx = (np.arange(B) * n + w * T)[:, None] + np.arange(T)[None, :]
                    _, state, loss = model(data[idx], data[idx + 1], state)
                    losses.append(float(loss.data))
    finally:
        model.train(was_training)
    loss = float(np.mean(losses))
    return {"loss": loss, "perplexity": math.exp(loss)}


def build_model(model_type: str, preset: str, vocab_size: int, **overrides):
    """A GPT or LSTM LM from a named preset (``models.gpt.PRESETS`` / ``models.lstm_lm.PRESETS``)."""
    if model_type == "gpt":
        from .models.gpt import GPT, GPTConfig
        return GPT(GPTConfig.from_preset(preset, vocab_size=vocab_size, **overrides))
    if model_type == "lstm":
        from .models.lstm_lm import LSTMConfig, LSTMLM
        return LSTMLM(LSTMConfig.from_preset(preset, vocab_size=vocab_size, **overrides))
    raise ValueError(f"unknown model type {model_type!r}: expected 'gpt' or 'lstm'")


def train_lm(model_type="gpt", preset="cpu", corpus=None, config: TrainConfig | None = None, val_fraction=0.1,
             resume=None, **model_overrides):
    """Character-level LM on a text file (Shakespeare by default): tokenizer, splits, model, training.
    Returns the ``Trainer`` (its model, tokenizer, history and checkpoint path)."""
    from .data.corpus import load_text, train_val_split
    from .tokenizers import CharTokenizer
    config = config or TrainConfig()
    text = load_text(corpus)
    tok = CharTokenizer.train(text)
    ids = np.asarray(tok.encode(text), dtype=np.int64)
    train_ids, val_ids = train_val_split(ids, val_fraction)
    backend.manual_seed(config.seed)
    model = build_model(model_type, preset, tok.vocab_size, **model_overrides)
    trainer = Trainer(model, train_ids, val_ids, config, tokenizer=tok)
    if resume:
        trainer.resume(resume)
    trainer.fit()
    return trainer
