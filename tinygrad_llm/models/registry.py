r"""The model registry: one entry per model that the trainer, checkpoints, evaluation and the CLI handle.

An entry names the model and gives its config class, its model class, its size presets and the kind of
tokenizer it reads. ``tinygrad-llm train --model NAME --preset P`` builds ``spec.build(P, vocab_size=V)``;
a checkpoint stores the name and the config, and ``from_checkpoint`` rebuilds the model from them
(validated against the arrays before anything is allocated). Adding a model is one ``register`` call.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from ..io.checkpoint import Checkpoint, CheckpointError, restore
from .. import tokenizers
from .gpt import GPT, GPTConfig
from .lstm_lm import LSTMConfig, LSTMLM


@dataclass(frozen=True)
class ModelSpec:
    name: str
    config_class: type
    model_class: type
    tokenizer: str = "char"
    description: str = ""

    @property
    def presets(self) -> dict:
        """Size presets, from the config class (``PRESETS``)."""
        return getattr(self.config_class, "PRESETS", {})

    def config(self, preset: str | None = None, **overrides):
        """A config from a preset (or the class defaults) with ``overrides`` applied and validated."""
        base = {}
        if preset is not None:
            if preset not in self.presets:
                raise ValueError(f"model {self.name!r}: unknown preset {preset!r} (known: {', '.join(self.presets)})")
            base = dict(self.presets[preset])
        return self.config_from_dict({**base, **overrides})

    def config_from_dict(self, d: dict):
        """The config class built from a dict; unknown keys and wrong types are errors, not ignored."""
        if not isinstance(d, dict):
            raise TypeError(f"model {self.name!r}: config must be a dict, got {type(d).__name__}")
        known = {f.name: f for f in fields(self.config_class)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ValueError(f"model {self.name!r}: unknown config keys {unknown} (known: {sorted(known)})")
        for k, v in d.items():
            _check_type(self.name, k, v, known[k].type)
        return self.config_class(**d)

    def build(self, preset: str | None = None, **overrides):
        return self.model_class(self.config(preset, **overrides))


_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,)}


def _check_type(model: str, key: str, value, annotation) -> None:
    """``value`` fits the dataclass field annotation ``int``, ``float``, ``bool`` or ``str`` (or ``X | None``)."""
    ann = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    parts = [p.strip() for p in ann.split("|")]
    if value is None and "None" in parts:
        return
    allowed = tuple(t for p in parts for t in _TYPES.get(p, ()))
    if not allowed:
        return                                        # a field type we do not check
    ok = isinstance(value, allowed) and (isinstance(value, bool) == ("bool" in parts))
    if isinstance(value, float) and not math.isfinite(value):
        ok = False
    if not ok:
        raise TypeError(f"model {model!r}: config {key} must be {ann}, got {value!r}")


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    _REGISTRY[spec.name] = spec
    return spec


def get(name: str) -> ModelSpec:
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r} (known: {', '.join(sorted(_REGISTRY))})")
    return _REGISTRY[name]


def names() -> list[str]:
    return sorted(_REGISTRY)


def name_of(model) -> str:
    """The registry name of a model instance (its class's entry)."""
    for spec in _REGISTRY.values():
        if type(model) is spec.model_class:
            return spec.name
    raise ValueError(f"{type(model).__name__} is not a registered model (known: {', '.join(sorted(_REGISTRY))})")


def build(name: str, preset: str | None = None, **overrides):
    """A fresh model: ``build('gpt', 'cpu', vocab_size=65)``."""
    return get(name).build(preset, **overrides)


def check_config_fits(spec: ModelSpec, config, ckpt: Checkpoint) -> None:
    """Before anything is allocated: the config implies as many parameters and arrays as the file holds.

    ``config.num_parameters()`` and ``config.num_tensors()`` are formulas (a hostile ``n_layer=10**6``
    costs nothing to evaluate); the exact names and shapes are checked by ``load_state_dict`` afterwards."""
    held = sum(int(np.asarray(a).size) for a in ckpt.model_state.values())
    count = getattr(config, "num_parameters", None)
    if count is None:
        raise CheckpointError(f"checkpoint {ckpt.path}: model {spec.name!r} cannot say how many parameters its "
                              "config implies (its config class needs num_parameters()), so it is not built")
    implied = count()
    if implied != held:
        raise CheckpointError(f"checkpoint {ckpt.path}: the config implies {implied:,} parameters but the file "
                              f"holds {held:,} (config {_short(ckpt.config)})")
    tensors = getattr(config, "num_tensors", None)
    if tensors is not None and tensors() != len(ckpt.model_state):
        raise CheckpointError(f"checkpoint {ckpt.path}: the config implies {tensors():,} weight arrays but the file "
                              f"holds {len(ckpt.model_state):,}")


def _short(x, n: int = 200) -> str:
    r = repr(x)
    return r if len(r) <= n else r[:n] + "..."


def from_checkpoint(ckpt: Checkpoint):
    """The checkpoint's model (weights loaded, eval mode) and tokenizer (None if it stored none).

    The config is checked against the arrays before the model is built, and the tokenizer against the
    model (its ids must fit the model's vocabulary); every failure is a ``CheckpointError``."""
    tok = tokenizer_from_checkpoint(ckpt)
    model = model_from_checkpoint(ckpt)
    vocab = getattr(model.config, "vocab_size", None)
    if tok is not None and vocab is not None and tok.vocab_size > vocab:
        raise CheckpointError(f"checkpoint {ckpt.path}: the tokenizer has {tok.vocab_size} tokens but the model "
                              f"only {vocab}")
    return model, tok


def model_from_checkpoint(ckpt: Checkpoint, overrides: dict | None = None):
    """The checkpoint's model alone, weights loaded, in eval mode (``overrides``: config values to change that
    do not change the weights' shapes, e.g. dropout)."""
    try:
        spec = get(ckpt.model_type)
        config = spec.config_from_dict({**ckpt.config, **(overrides or {})})
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"checkpoint {ckpt.path}: {e}") from None
    check_config_fits(spec, config, ckpt)
    try:
        model = spec.model_class(config)
    except (ValueError, TypeError, MemoryError) as e:
        raise CheckpointError(f"checkpoint {ckpt.path}: cannot build the model ({type(e).__name__}: {e})") from None
    restore(ckpt, model, restore_rng=False)
    return model.eval()


def tokenizer_from_checkpoint(ckpt: Checkpoint):
    """The checkpoint's tokenizer (``tokenizers.from_dict``; None if it stored none); a malformed one is a
    ``CheckpointError`` naming the file."""
    if ckpt.tokenizer is None:
        return None
    try:
        return tokenizers.from_dict(ckpt.tokenizer, where=f"checkpoint {ckpt.path}: tokenizer")
    except tokenizers.TokenizerError as e:
        msg = str(e)
        raise CheckpointError(msg if len(msg) <= 400 else msg[:400] + "...") from None


register(ModelSpec("gpt", GPTConfig, GPT, "char", "decoder-only Transformer (chapter 08)"))
register(ModelSpec("lstm", LSTMConfig, LSTMLM, "char", "LSTM language model (chapter 05)"))
