"""LoRA adapters on disk, apart from the base model: a folder with two files.

* ``adapter.safetensors``: the adapter arrays (every ``lora_A.weight`` / ``lora_B.weight``, and the
  parameters of modules trained alongside, e.g. a new classification head), written with our
  safetensors writer;
* ``adapter_config.json``: ``r``, ``alpha``, ``dropout``, the target patterns, the wrapped layer names,
  and the identity of the base model (a name, the model class and its size settings).

The base weights are not in it: a SmolLM2 adapter of rank 8 on ``q_proj`` and ``v_proj`` is under 2 MB
against 540 MB for the model. ``load_adapter`` trusts nothing before it writes anything: it checks that
the base model is the one the adapter was trained on, that every layer the adapter targets exists and
is a linear layer, and that every array has the shape the model expects. Each failure is an
:class:`AdapterError` with a one-line message naming the folder and the first thing that does not fit.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from .. import backend
from ..nn.layers import Linear
from ..nn.lora import apply_lora, lora_modules, lora_state_dict
from .atomic import atomic_write_text
from .safetensors import SafetensorsError, load_file, save_file

WEIGHTS, CONFIG, FORMAT = "adapter.safetensors", "adapter_config.json", "tinygrad_llm-lora"


class AdapterError(ValueError):
    """An adapter folder that is missing, damaged, or does not fit the model; one line says why."""


def model_identity(model, name: str) -> dict:
    """What an adapter records about its base: ``name`` (e.g. 'smollm2'), the model class, and the
    numeric/text settings of ``model.config`` (sizes, vocabulary, number of layers)."""
    cfg = getattr(model, "config", None)
    if dataclasses.is_dataclass(cfg):
        cfg = dataclasses.asdict(cfg)
    elif hasattr(cfg, "to_dict"):
        cfg = cfg.to_dict()
    cfg = {k: v for k, v in (cfg or {}).items() if isinstance(v, (int, float, str, bool)) or v is None}
    return {"name": name, "class": type(model).__name__, "config": cfg}


def save_adapter(model, folder, base: dict) -> Path:
    """Write the adapters of ``model`` (prepared by ``apply_lora``) and ``base`` (``model_identity``)."""
    conf = getattr(model, "lora_config", None)
    if conf is None or not lora_modules(model):
        raise AdapterError(f"save_adapter: {type(model).__name__} has no LoRA layers (call apply_lora first)")
    if any(m.merged for _, m in lora_modules(model)):
        raise AdapterError("save_adapter: the adapters are merged into the weights; unmerge_lora(model) first")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(lora_state_dict(model), folder / WEIGHTS, metadata={"format": FORMAT})
    atomic_write_text(folder / CONFIG, json.dumps({"format": FORMAT, "version": 1, **conf, "base_model": base},
                                                  indent=2))
    return folder


def find_adapter(folder) -> Path:
    """``folder`` itself when it holds an adapter, else its ``adapter/`` subfolder (a run's output folder)."""
    folder = Path(folder)
    if not (folder / CONFIG).is_file() and (folder / "adapter" / CONFIG).is_file():
        return folder / "adapter"
    return folder


def read_adapter_config(folder) -> dict:
    folder = Path(folder)
    path = folder / CONFIG
    if not path.is_file() or not (folder / WEIGHTS).is_file():
        raise AdapterError(f"adapter {folder}: expected {CONFIG} and {WEIGHTS} in it (written by save_adapter)")
    try:
        conf = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise AdapterError(f"adapter {folder}: {CONFIG} is not valid JSON ({e})") from None
    need = {"format", "r", "alpha", "targets", "modules", "base_model"}
    if not isinstance(conf, dict) or conf.get("format") != FORMAT or not need <= conf.keys():
        raise AdapterError(f"adapter {folder}: {CONFIG} is not a {FORMAT} config (needs {sorted(need)})")
    return conf


def check_base(folder, conf: dict, base: dict) -> None:
    """Raise unless the adapter's recorded base equals ``base`` (name, class, every recorded setting)."""
    theirs = conf["base_model"]
    for key in ("name", "class"):
        if theirs.get(key) != base.get(key):
            raise AdapterError(f"adapter {folder} was trained on {theirs.get('name')!r} ({theirs.get('class')}), "
                               f"not on {base.get('name')!r} ({base.get('class')})")
    for k, v in theirs.get("config", {}).items():
        if k in base.get("config", {}) and base["config"][k] != v:
            raise AdapterError(f"adapter {folder} was trained on a {theirs.get('name')!r} with {k}={v!r}; "
                               f"this model has {k}={base['config'][k]!r}")


def load_adapter(model, folder, base: dict | None = None):
    """Apply the adapter in ``folder`` to ``model`` (a freshly loaded base model; the adapter layers are
    added here) and return the model. ``base`` (``model_identity``) is checked against the recorded one.
    Everything is checked before the model is touched."""
    folder = Path(folder)
    conf = read_adapter_config(folder)
    if base is not None:
        check_base(folder, conf, base)
    if lora_modules(model):
        raise AdapterError(f"adapter {folder}: the model already has LoRA layers; load adapters into a fresh model")
    mods = dict(model.named_modules())
    r, extra = int(conf["r"]), list(conf.get("also_train_modules", []))
    expected = {}
    for n in conf["modules"] + extra:
        if n not in mods:
            absent = [m for m in conf["modules"] + extra if m not in mods]
            raise AdapterError(f"adapter {folder} targets {n}, which {type(model).__name__} does not have "
                               f"({len(absent)} such layers)")
    for n in conf["modules"]:
        m = mods[n]
        if not isinstance(m, Linear):
            raise AdapterError(f"adapter {folder} targets {n}, which is a {type(m).__name__}, not a linear layer")
        expected[f"{n}.lora_A.weight"] = (r, m.in_features)
        expected[f"{n}.lora_B.weight"] = (m.out_features, r)
    for n in extra:
        expected.update({k: tuple(p.shape) for k, p in mods[n].named_parameters(n)})
    try:
        state = load_file(folder / WEIGHTS)
    except SafetensorsError as e:
        raise AdapterError(str(e)) from None
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        first = f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}"
        raise AdapterError(f"adapter {folder}: {first} ({len(missing)} arrays missing, {len(unexpected)} unexpected)")
    for k, shape in expected.items():
        if tuple(state[k].shape) != shape:
            raise AdapterError(f"adapter {folder}: {k} has shape {tuple(state[k].shape)} in the file, {shape} "
                               f"in the model")
    apply_lora(model, conf["modules"], r, conf["alpha"], conf.get("dropout", 0.0), extra)
    model.lora_config.update(targets=conf["targets"], also_train=conf.get("also_train", []))
    for k, p in model.named_parameters():
        if k in state:
            p.data = backend.like(state[k], p.data).astype(p.dtype, copy=True)
    return model
