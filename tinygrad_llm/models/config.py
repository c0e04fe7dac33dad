"""What every model config shares: named size presets, a plain dict for checkpoints, checked sizes.

A config is a dataclass that also inherits ``ModelConfig`` and sets ``PRESETS`` (name -> overrides of
the defaults) and ``SIZES`` (the fields that must be whole numbers >= 1); ``__post_init__`` calls
``check()``. The model registry (``registry.py``) lists the presets of every model from here.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import ClassVar


class ModelConfig:
    PRESETS: ClassVar[dict] = {}
    SIZES: ClassVar[tuple] = ()

    def check(self):
        """Sizes are whole numbers >= 1 and dropout (if any) is a probability below 1."""
        name = type(self).__name__
        for k in self.SIZES:
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: {k} must be a whole number >= 1, got {v!r}")
        p = getattr(self, "dropout", 0.0)
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise ValueError(f"{name}: dropout must be in [0, 1), got {p!r}")

    @classmethod
    def from_preset(cls, name: str, **overrides):
        """The preset ``name`` with ``overrides`` applied (``GPTConfig.from_preset("cpu", vocab_size=65)``)."""
        if name not in cls.PRESETS:
            raise ValueError(f"{cls.__name__}: unknown preset {name!r} (known: {', '.join(cls.PRESETS)})")
        return cls(**{**cls.PRESETS[name], **overrides})

    def to_dict(self) -> dict:
        return asdict(self)
