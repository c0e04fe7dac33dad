r"""Training a character-level language model (GPT or LSTM) on a text: the recipe behind ``tinygrad-llm train``.

One step minimises the mean next-token cross-entropy of a batch,
$$\mathcal L(\theta) = -\frac{1}{BT}\sum_{b,t}\log p_\theta(x_{b,t+1} \mid x_{b,\le t}),$$
in the one training loop (``apps/trainer.py``). Validation reports the mean loss $\bar\ell$ over fixed
held-out batches and the perplexity $e^{\bar\ell}$.

The GPT reads random windows (``data.get_batch``, drawn from the seeded generator); the LSTM reads
``batch_size`` contiguous streams window after window, carrying its detached $(h, c)$ across windows
(truncated BPTT), and that state goes into checkpoints so a resumed run continues the same streams.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..autograd import no_grad
from ..data.corpus import get_batch, load_text, train_val_split
from ..models import registry
from ..tokenizers import CharTokenizer
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
        for name, d in (("train", self.train_data), ("validation", self.val_data)):
            if d.ndim != 1 or len(d) <= self.block_size + 1:
                raise ValueError(f"language model: the {name} split has {len(d)} tokens, needs more than "
                                 f"block_size + 1 = {self.block_size + 1}")

    # [start:loss]
    def loss(self, model, step):
        if not self.recurrent:
            x, y = get_batch(self.train_data, self.batch_size, self.block_size, backend.rng())   # (B, T) each
            return model(x, y)[1]
        w = step % windows_per_stream(self.train_data, self.batch_size, self.block_size)
        if w == 0:
            self._state = None                                                  # streams start over
        x, y = stream_window(self.train_data, self.batch_size, self.block_size, w)
        loss, self._state = model.loss(x, y, self._state)                       # state detached: truncated BPTT
        return loss
    # [end:loss]

    def evaluate(self, model):
        return evaluate_lm(model, self.val_data, self.batch_size, self.eval_batches, seed=self.seed)

    def state_arrays(self):
        return {} if self._state is None else {"h": self._state[0].data, "c": self._state[1].data}

    def load_state_arrays(self, arrays):
        self._state = (arrays["h"], arrays["c"]) if "h" in arrays else None


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


def lm_trainer(model, train_ids, val_ids, config: TrainConfig | None = None, tokenizer=None) -> Trainer:
    """A ``Trainer`` for a language model on token-id splits."""
    config = config or TrainConfig()
    task = LMTask(model, train_ids, val_ids, config.batch_size, config.eval_batches,
                  seed=config.seed if config.seed is not None else 0)
    return Trainer(model, task, config, tokenizer=tokenizer, model_name=task.name)


def train_lm(model_type="gpt", preset="cpu", corpus=None, config: TrainConfig | None = None, val_fraction=0.1,
             resume=None, **model_overrides):
    """Character-level LM on a text file (Shakespeare by default): tokenizer, splits, model, training.
    Returns the ``Trainer`` (its model, tokenizer, history and checkpoint path)."""
    config = config or TrainConfig()
    text = load_text(corpus)
    tok = CharTokenizer.train(text)
    ids = np.asarray(tok.encode(text), dtype=np.int64)
    train_ids, val_ids = train_val_split(ids, val_fraction)
    backend.manual_seed(config.seed)
    model = registry.build(model_type, preset, vocab_size=tok.vocab_size, **model_overrides)
    trainer = lm_trainer(model, train_ids, val_ids, config, tokenizer=tok)
    if resume:
        trainer.resume(resume)
    trainer.fit()
    return trainer
