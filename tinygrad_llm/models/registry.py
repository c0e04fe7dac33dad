r"""The model registry: one entry per model that the trainer, checkpoints, evaluation and the CLI handle.

An entry names the model and gives its config class, its model class, its size presets, the kind of
tokenizer it reads and the name of its training recipe (``"lm"``: a language model on a text; an
application module of ``apps/`` provides each recipe under that name, see ``cli.py``). ``tinygrad-llm train --model NAME --preset P`` builds ``spec.build(P, vocab_size=V)``;
a checkpoint stores the name and the config, and ``from_checkpoint`` rebuilds the model from them
(validated against the arrays before anything is allocated). Adding a model is one ``register`` call.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from ..io.checkpoint import Checkpoint, CheckpointError, restore
from ..tokenizers import base as tokenizer_base
from .gpt import GPT, GPTConfig
from .lstm_lm import LSTMConfig, LSTMLM
from .vlm import VisionLanguageModel, VLMConfig


@dataclass(frozen=True)
class ModelSpec:
    name: str
    config_class: type
    model_class: type
    tokenizer: str = "char"
    description: str = ""
    recipe: str = "lm"            # the training recipe ``tinygrad-llm train`` runs (an app names its recipes)

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
        return self.config_class(**d)

    def build(self, preset: str | None = None, **overrides):
        return self.model_class(self.config(preset, **overrides))


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


def from_checkpoint(ckpt: Checkpoint):
    """The checkpoint's model (weights loaded, eval mode) and tokenizer (None if it stored none)."""
    try:
        spec = get(ckpt.model_type)
        config = spec.config_from_dict(ckpt.config)
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"checkpoint {ckpt.path}: {e}") from None
    model = spec.model_class(config)
    restore(ckpt, model, restore_rng=False)
    return model.eval(), tokenizer_from_checkpoint(ckpt)


def tokenizer_from_checkpoint(ckpt: Checkpoint):
    if ckpt.tokenizer is None:
        return None
    d = dict(ckpt.tokenizer)
    kind = d.pop("type", None)
    if kind not in tokenizer_base._REGISTRY:
        raise CheckpointError(f"checkpoint {ckpt.path}: unknown tokenizer type {kind!r}")
    try:
        return tokenizer_base._REGISTRY[kind].from_dict(d)
    except Exception as e:
        raise CheckpointError(f"checkpoint {ckpt.path}: the stored tokenizer is malformed ({e})") from None


register(ModelSpec("gpt", GPTConfig, GPT, "char", "decoder-only Transformer (chapter 08)"))
register(ModelSpec("lstm", LSTMConfig, LSTMLM, "char", "LSTM language model (chapter 05)"))
register(ModelSpec("vlm", VLMConfig, VisionLanguageModel, "word",
                   "vision-language model: ViT + projector + GPT, on generated shapes (chapter 15)", recipe="vlm"))
