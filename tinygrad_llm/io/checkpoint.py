"""Checkpoints: one ``.npz`` file, arrays only, read back with ``np.load(allow_pickle=False)``.

Contents: the model's ``state_dict`` (``model/<name>``), the optimizer's per-parameter arrays
(``optim/<index>/<key>``), any extra trainer arrays (``extra/<name>``) and one ``meta`` entry holding
UTF-8 JSON: format version, model type and config, step, the RNG state (``backend.get_rng_state``),
the optimizer's groups and scalar state, the scheduler state, the tokenizer (``to_dict``), free-form
metadata, and a SHA-256 of every array so a damaged file is caught even where the zip container
would not notice.

Writing is atomic: the file is written to a temporary name in the same directory, flushed to disk,
then ``os.replace``d over the target, so a run killed while saving leaves the previous checkpoint.
Loading reads and checks everything first; ``restore`` then copies into the model and optimizer and
puts the old values back if any part fails, so nothing is left half-loaded. Which model class a
checkpoint holds is the model registry's business (``models/registry.py``: ``from_checkpoint``); this
module knows only arrays and JSON.
"""
from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import backend
from .atomic import atomic_write

FORMAT = "tinygrad_llm.checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint file that is missing, truncated, corrupt or does not fit the model."""


@dataclass
class Checkpoint:
    path: str
    model_type: str
    config: dict
    model_state: dict
    step: int = 0
    optimizer_state: dict | None = None
    scheduler_state: dict | None = None
    rng_state: dict | None = None
    tokenizer: dict | None = None
    extra_arrays: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)


def _digest(arrays: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(k.encode()); h.update(str(a.dtype).encode()); h.update(str(a.shape).encode()); h.update(a.tobytes())
    return h.hexdigest()


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"checkpoint: cannot store {type(o).__name__} in the JSON metadata")


def save_checkpoint(path, model, optimizer=None, scheduler=None, step: int = 0, model_type: str = "gpt",
                    config: dict | None = None, tokenizer=None, extra_arrays: dict | None = None,
                    metadata: dict | None = None) -> Path:
    """Write everything needed to resume training (or to generate) to ``path`` atomically."""
    path = Path(path)
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    opt_meta = None
    if optimizer is not None:
        sd = optimizer.state_dict()
        scalars = {}
        for i, st in sd["state"].items():
            for k, v in st.items():
                if hasattr(v, "shape") and getattr(v, "ndim", 0) > 0:
                    arrays[f"optim/{i}/{k}"] = np.asarray(v)
                else:
                    scalars.setdefault(str(i), {})[k] = v.item() if hasattr(v, "item") else v
        opt_meta = {"groups": sd["groups"], "scalars": scalars, "n_state": len(sd["state"])}
    for k, v in (extra_arrays or {}).items():
        arrays[f"extra/{k}"] = backend.to_device(getattr(v, "data", v), "cpu")
    if config is None:
        cfg = getattr(model, "config", None)
        config = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg) if isinstance(cfg, dict) else {}
    meta = {"format": FORMAT, "model_type": model_type, "config": config, "step": int(step),
            "rng_state": backend.get_rng_state(), "optimizer": opt_meta,
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "tokenizer": ({"type": tokenizer.kind, **tokenizer.to_dict()} if tokenizer is not None else None),
            "metadata": metadata or {}, "sha256": _digest(arrays)}
    arrays["meta"] = np.frombuffer(json.dumps(meta, default=_json_default).encode("utf-8"), dtype=np.uint8)
    with atomic_write(path) as f:
        np.savez(f, **arrays)
    return path


def load_checkpoint(path) -> Checkpoint:
    """Read and verify a checkpoint; raises ``CheckpointError`` naming the file on any problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError, zlib.error) as e:
        raise CheckpointError(f"checkpoint {path}: unreadable, truncated or corrupt ({type(e).__name__}: {e})") from None
    if "meta" not in arrays:
        raise CheckpointError(f"checkpoint {path}: no 'meta' entry (not a tinygrad_llm checkpoint)")
    try:
        meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"checkpoint {path}: metadata is not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path}: unknown format {meta.get('format') if isinstance(meta, dict) else meta!r}")
    if meta.get("sha256") != _digest(arrays):
        raise CheckpointError(f"checkpoint {path}: array checksum mismatch (the file is corrupt)")
    model_state = {k[6:]: v for k, v in arrays.items() if k.startswith("model/")}
    extra = {k[6:]: v for k, v in arrays.items() if k.startswith("extra/")}
    opt = None
    if meta.get("optimizer") is not None:
        om = meta["optimizer"]
        state = {}
        for k, v in arrays.items():
            if k.startswith("optim/"):
                _, i, name = k.split("/", 2)
                state.setdefault(int(i), {})[name] = v
        for i, sc in om["scalars"].items():
            state.setdefault(int(i), {}).update(sc)
        groups = [{**g, "betas": tuple(g["betas"])} if "betas" in g else g for g in om["groups"]]
        opt = {"state": state, "groups": groups}
    return Checkpoint(path=str(path), model_type=meta["model_type"], config=meta["config"], model_state=model_state,
                      step=int(meta["step"]), optimizer_state=opt, scheduler_state=meta.get("scheduler"),
                      rng_state=meta.get("rng_state"), tokenizer=meta.get("tokenizer"), extra_arrays=extra,
                      metadata=meta.get("metadata", {}))


def restore(ckpt: Checkpoint, model, optimizer=None, scheduler=None, restore_rng: bool = True):
    """Copy a loaded checkpoint into model/optimizer/scheduler (and the RNG); all or nothing."""
    old_model = {k: v.copy() for k, v in model.state_dict().items()}
    old_opt = optimizer.state_dict() if optimizer is not None else None
    old_sched = scheduler.state_dict() if scheduler is not None else None
    try:
        model.load_state_dict(ckpt.model_state)
        if optimizer is not None:
            if ckpt.optimizer_state is None:
                raise CheckpointError(f"checkpoint {ckpt.path}: holds no optimizer state")
            optimizer.load_state_dict(ckpt.optimizer_state)
        if scheduler is not None and ckpt.scheduler_state is not None:
            scheduler.load_state_dict(ckpt.scheduler_state)
    except Exception as e:
        model.load_state_dict(old_model)
        if optimizer is not None:
            optimizer.load_state_dict(old_opt)
        if scheduler is not None:
            scheduler.load_state_dict(old_sched)
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"checkpoint {ckpt.path}: does not fit this model/optimizer ({e})") from e
    if restore_rng and ckpt.rng_state is not None:
        backend.set_rng_state(ckpt.rng_state)
    return ckpt
