"""Checkpoints: one ``.npz`` file (a zip of ``.npy`` arrays), read back by our own reader, never unpickled.

Contents: the model's ``state_dict`` (``model/<name>``), the optimizer's per-parameter arrays
(``optim/<index>/<key>``), any extra trainer arrays (``extra/<name>``) and one ``meta`` entry holding
UTF-8 JSON: format version, model type and config, step, the RNG state (``backend.get_rng_state``),
the optimizer's groups and scalar state, the scheduler state, the tokenizer (``to_dict``), free-form
metadata, and one SHA-256 over *everything that is loaded*: every array (name, dtype, shape, bytes)
and the whole metadata in canonical JSON (sorted keys, no spaces, ASCII), so an edited tokenizer, step
or learning rate is caught like a damaged weight.

Writing is atomic (``io/atomic.py``): the file is written to a temporary name in the same directory,
flushed to disk, then ``os.replace``d over the target, so a run killed while saving leaves the previous
checkpoint; temporary files that a killed save left behind are removed by the next save.

Reading trusts nothing, and checks before it allocates:

1. the file is a zip archive (otherwise the error says what it is instead: GGUF, safetensors, a bare
   ``.npy``, a pickle, text ...); every member is a ``.npy`` array with a unique, known name;
2. each member's ``.npy`` header is parsed by :func:`_npy_header` (a literal, never evaluated code):
   only plain numeric and boolean dtypes, a shape of non-negative integers, and a declared size
   $\\mathrm{itemsize}\\cdot\\prod_i \\mathrm{shape}_i$ that must equal the member's size in the zip
   directory; the members together may not declare more than ``MAX_EXPANSION`` times the file's size
   (a compressed archive of zeros cannot expand to gigabytes), nor overlap;
3. only then are the arrays read, in chunks, into arrays of exactly the declared size; the zip's
   CRC-32 of each member is checked on the way;
4. the metadata is parsed (bounded nesting), the checksum compared, and every field's type checked.

Every problem is a :class:`CheckpointError` naming the file and the problem. ``restore`` then copies into
the model and optimizer and puts the old values back if any part fails, so nothing is left half-loaded.
Which model class a checkpoint holds is the model registry's business (``models/registry.py``:
``from_checkpoint``, which also checks the config against the arrays before building the model); this
module knows only arrays and JSON.
"""
from __future__ import annotations

import ast
import hashlib
import json
import math
import re
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import backend
from .atomic import atomic_write, remove_stale_temps

FORMAT = "tinygrad_llm.checkpoint/2"
OLD_FORMATS = ("tinygrad_llm.checkpoint/1",)
MAX_EXPANSION = 4            # declared array bytes per byte of file (our own files are stored, ratio ~1)
MAX_MEMBERS = 1_000_000
MAX_NPY_HEADER = 65536
MAX_NDIM = 32
ARRAY_KINDS = "biuf"         # bool, signed and unsigned integers, floats: nothing else is ever read
_CHUNK = 1 << 20
_NAME = re.compile(r"(?:model|extra)/[^/].*|optim/\d{1,9}/[^/]+|meta")


class CheckpointError(ValueError):
    """A checkpoint file that is missing, truncated, corrupt, not a checkpoint, does not fit the model,
    or cannot be written; the message names the file and the problem."""


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


# ----------------------------------------------------------------------------- the checksum
def _canonical_json(meta: dict) -> bytes:
    """The metadata as one canonical byte string: sorted keys, no spaces, ASCII only."""
    return json.dumps(meta, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _digest(arrays: dict, meta: dict) -> str:
    """SHA-256 of every array (name, dtype, shape, bytes, in name order) and of the canonical metadata
    (without its ``sha256`` field)."""
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(k.encode()); h.update(str(a.dtype).encode()); h.update(str(a.shape).encode())
        h.update(a.reshape(-1).view(np.uint8) if a.size else b"")
    h.update(b"\0meta\0")
    h.update(_canonical_json({k: v for k, v in meta.items() if k != "sha256"}))
    return h.hexdigest()


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"checkpoint: cannot store {type(o).__name__} in the JSON metadata")


# ----------------------------------------------------------------------------- saving
def save_checkpoint(path, model, optimizer=None, scheduler=None, step: int = 0, model_type: str = "gpt",
                    config: dict | None = None, tokenizer=None, extra_arrays: dict | None = None,
                    metadata: dict | None = None) -> Path:
    """Write everything needed to resume training (or to generate) to ``path`` atomically.

    Raises ``CheckpointError`` (naming the file and the reason: read-only, disk full, not a directory ...)
    when the file cannot be written; the previous file at ``path`` is then left as it was."""
    path = Path(path)
    arrays = {f"model/{k}": backend.to_device(v, "cpu") for k, v in model.state_dict().items()}
    opt_meta = None
    if optimizer is not None:
        sd = optimizer.state_dict()
        scalars = {}
        for i, st in sd["state"].items():
            for k, v in st.items():
                if hasattr(v, "shape") and getattr(v, "ndim", 0) > 0:
                    arrays[f"optim/{i}/{k}"] = np.asarray(backend.to_device(v, "cpu"))
                else:
                    scalars.setdefault(str(i), {})[k] = v.item() if hasattr(v, "item") else v
        opt_meta = {"groups": sd["groups"], "scalars": scalars, "n_state": len(sd["state"])}
    for k, v in (extra_arrays or {}).items():
        arrays[f"extra/{k}"] = backend.to_device(getattr(v, "data", v), "cpu")
    if config is None:
        config = getattr(model, "config", None)
    if hasattr(config, "to_dict"):
        config = config.to_dict()
    config = dict(config) if isinstance(config, dict) else {}
    meta = {"format": FORMAT, "model_type": model_type, "config": config, "step": int(step),
            "rng_state": backend.get_rng_state(), "optimizer": opt_meta,
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "tokenizer": ({"type": tokenizer.kind, **tokenizer.to_dict()} if tokenizer is not None else None),
            "metadata": metadata or {}}
    meta = json.loads(json.dumps(meta, default=_json_default))      # exactly what a reader will parse
    meta["sha256"] = _digest(arrays, meta)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    remove_stale_temps(path)
    try:
        with atomic_write(path) as f:
            np.savez(f, **arrays)
    except OSError as e:
        raise CheckpointError(f"checkpoint {path}: cannot be written ({type(e).__name__}: "
                              f"{e.strerror or e}); the previous file, if any, is unchanged") from e
    return path


# ----------------------------------------------------------------------------- reading: what is this file?
def describe_file(head: bytes) -> str | None:
    """What a file that is not a zip archive is, from its first bytes (None: no idea)."""
    if not head:
        return "an empty file"
    if head.startswith(b"GGUF"):
        return "a GGUF file"
    if head.startswith(b"\x93NUMPY"):
        return "a single NumPy .npy array"
    if len(head) >= 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] < 1 << 30:
        return "a safetensors file"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a pickle file (pickles are never loaded)"
    if head.startswith(b"PK"):
        return None
    try:
        head.decode("utf-8")
        return "a text file"
    except UnicodeDecodeError:
        return None


def _npy_header(f, where: str):
    """Parse a ``.npy`` header from stream ``f``: (dtype, shape, fortran_order, header bytes).

    The header is ``\\x93NUMPY``, a version, a little-endian length and a Python dict literal
    ``{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4)}`` — read with ``ast.literal_eval``
    (literals only), and every field checked."""
    magic = f.read(8)
    if len(magic) != 8 or magic[:6] != b"\x93NUMPY":
        raise CheckpointError(f"{where}: not a .npy array (bad magic {magic[:6]!r})")
    major = magic[6]
    if major == 1:
        raw = f.read(2)
        n = struct.unpack("<H", raw)[0] if len(raw) == 2 else -1
    elif major in (2, 3):
        raw = f.read(4)
        n = struct.unpack("<I", raw)[0] if len(raw) == 4 else -1
    else:
        raise CheckpointError(f"{where}: unknown .npy version {major}.{magic[7]}")
    if not 0 <= n <= MAX_NPY_HEADER:
        raise CheckpointError(f"{where}: .npy header length {n} is out of range")
    text = f.read(n)
    if len(text) != n:
        raise CheckpointError(f"{where}: .npy header is truncated")
    try:
        d = ast.literal_eval(text.decode("utf-8" if major == 3 else "latin1"))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{where}: .npy header is not a literal ({type(e).__name__})") from None
    if not isinstance(d, dict) or set(d) != {"descr", "fortran_order", "shape"}:
        raise CheckpointError(f"{where}: .npy header must hold exactly descr, fortran_order and shape")
    descr, fortran, shape = d["descr"], d["fortran_order"], d["shape"]
    if not isinstance(descr, str) or not isinstance(fortran, bool):
        raise CheckpointError(f"{where}: .npy header has descr {descr!r}, fortran_order {fortran!r}")
    try:
        dtype = np.dtype(descr)
    except (TypeError, ValueError):
        raise CheckpointError(f"{where}: unknown dtype {descr!r}") from None
    if dtype.kind not in ARRAY_KINDS or dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise CheckpointError(f"{where}: dtype {descr!r} is not a plain number or bool array")
    if (not isinstance(shape, tuple) or len(shape) > MAX_NDIM or
            not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)):
        raise CheckpointError(f"{where}: shape {shape!r} is not a tuple of at most {MAX_NDIM} non-negative integers")
    return dtype, shape, fortran, 8 + len(raw) + n


def _read_member(zf, info, where: str, dtype, shape, fortran, hlen):
    with zf.open(info) as f:
        f.read(hlen)
        nbytes = math.prod(shape) * dtype.itemsize
        flat = np.empty(nbytes, dtype=np.uint8)
        view, pos = memoryview(flat), 0
        while pos < nbytes:
            k = f.readinto(view[pos:pos + _CHUNK])
            if not k:
                raise CheckpointError(f"{where}: data is truncated ({pos} of {nbytes} bytes)")
            pos += k
        if f.read(1):                                      # also completes the zip's CRC-32 check
            raise CheckpointError(f"{where}: data is longer than its header declares")
    a = flat.view(dtype).reshape(shape, order="F" if fortran else "C")
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    return a


def _read_arrays(path: Path, file_size: int) -> dict:
    with open(path, "rb") as fh:
        head = fh.read(16)
    what = describe_file(head)
    if what is not None:
        raise CheckpointError(f"checkpoint {path}: {path.name} is {what}, not a tinygrad_llm checkpoint "
                              "(a .npz written by `tinygrad-llm train`)")
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as e:
        raise CheckpointError(f"checkpoint {path}: not a zip archive, or a truncated one ({e})") from None
    with zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        if len(infos) > MAX_MEMBERS:
            raise CheckpointError(f"checkpoint {path}: {len(infos)} members, more than {MAX_MEMBERS}")
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise CheckpointError(f"checkpoint {path}: member {dup!r} appears twice")
        if any(n.endswith(".pkl") for n in names):
            raise CheckpointError(f"checkpoint {path}: {path.name} holds pickles (a PyTorch file?), not a "
                                  "tinygrad_llm checkpoint; pickles are never loaded")
        for i in infos:
            if not i.filename.endswith(".npy") or not _NAME.fullmatch(i.filename[:-4]):
                raise CheckpointError(f"checkpoint {path}: unexpected member {i.filename!r} (not a tinygrad_llm "
                                      "checkpoint?)")
            if i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise CheckpointError(f"checkpoint {path}: member {i.filename!r} uses compression method "
                                      f"{i.compress_type}; only stored and deflated members are read")
            if i.flag_bits & 0x1:
                raise CheckpointError(f"checkpoint {path}: member {i.filename!r} is encrypted")
        stored = sum(i.compress_size for i in infos)
        declared = sum(i.file_size for i in infos)
        if stored > file_size:
            raise CheckpointError(f"checkpoint {path}: members claim {stored} bytes in a {file_size}-byte file")
        if declared > MAX_EXPANSION * file_size + 4096:
            raise CheckpointError(f"checkpoint {path}: members declare {declared} bytes in a {file_size}-byte file "
                                  f"(more than {MAX_EXPANSION}x: a zip bomb?)")
        headers = {}
        for i in infos:                                    # pass 1: every header, nothing allocated yet
            where = f"checkpoint {path}: array {i.filename[:-4]!r}"
            with zf.open(i) as f:
                dtype, shape, fortran, hlen = _npy_header(f, where)
            if hlen + math.prod(shape) * dtype.itemsize != i.file_size:
                raise CheckpointError(f"{where}: header declares {dtype}{shape} "
                                      f"({math.prod(shape) * dtype.itemsize} bytes) but the member holds "
                                      f"{i.file_size - hlen}")
            headers[i.filename[:-4]] = (i, where, dtype, shape, fortran, hlen)
        return {k: _read_member(zf, *v) for k, v in headers.items()}   # pass 2: sizes known and bounded


# ----------------------------------------------------------------------------- reading: the metadata
def _check_meta(path, meta: dict, arrays: dict) -> None:
    """Every field a reader will use has the type it expects."""
    def bad(what):
        raise CheckpointError(f"checkpoint {path}: metadata field {what}")

    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    if not isinstance(meta.get("model_type"), str):
        bad(f"model_type must be a string, got {meta.get('model_type')!r}")
    if not isinstance(meta.get("config"), dict):
        bad("config must be an object")
    if not is_int(meta.get("step")) or meta["step"] < 0:
        bad(f"step must be a non-negative integer, got {meta.get('step')!r}")
    for k in ("rng_state", "scheduler", "optimizer", "tokenizer"):
        if meta.get(k) is not None and not isinstance(meta[k], dict):
            bad(f"{k} must be an object or null")
    if not isinstance(meta.get("metadata", {}), dict):
        bad("metadata must be an object")
    tok = meta.get("tokenizer")
    if tok is not None and not isinstance(tok.get("type"), str):
        bad("tokenizer must name its type")
    sch = meta.get("scheduler")
    if sch is not None:
        if not is_int(sch.get("last_step")) or not isinstance(sch.get("base_lrs"), list) or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in sch["base_lrs"]):
            bad("scheduler must hold an integer last_step and a list of base_lrs")
    om = meta.get("optimizer")
    optim_keys = [k for k in arrays if k.startswith("optim/")]
    if om is None:
        if optim_keys:
            bad(f"optimizer is null but the file holds optimizer arrays ({optim_keys[0]!r})")
        return
    groups, scalars, n_state = om.get("groups"), om.get("scalars"), om.get("n_state")
    if not isinstance(groups, list) or not all(isinstance(g, dict) and "params" not in g for g in groups):
        bad("optimizer.groups must be a list of objects (without params)")
    for g in groups:
        for k, v in g.items():
            ok = (isinstance(v, (int, float)) or v is None or
                  isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v))
            if not ok:
                bad(f"optimizer group option {k!r} = {v!r} is not a number, a flag or a list of numbers")
    if not is_int(n_state) or n_state < 0 or not isinstance(scalars, dict):
        bad("optimizer must hold an integer n_state and an object of scalars")
    for i, sc in scalars.items():
        if not re.fullmatch(r"\d{1,9}", i) or not isinstance(sc, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in sc.values()):
            bad(f"optimizer.scalars[{i!r}] must map a parameter index to numbers")
    indices = {int(i) for i in scalars} | {int(k.split("/")[1]) for k in optim_keys}
    if any(i >= n_state for i in indices) or len(indices) != n_state:
        bad(f"optimizer holds state for parameters {sorted(indices)[:5]}..., not for 0..{n_state - 1}")
    keys = [frozenset(scalars.get(str(i), {})) | {k.split("/", 2)[2] for k in optim_keys
                                                    if k.split("/")[1] == str(i)} for i in range(n_state)]
    if len(set(keys)) > 1:
        bad("optimizer state has different entries for different parameters")


def load_checkpoint(path) -> Checkpoint:
    """Read and verify a checkpoint; raises ``CheckpointError`` naming the file on any problem."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path}: is a directory, not a checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: no such file")
    try:
        return _load(path)
    except CheckpointError:
        raise
    except RecursionError:
        raise CheckpointError(f"checkpoint {path}: metadata is nested too deeply") from None
    except MemoryError:
        raise CheckpointError(f"checkpoint {path}: too large to load into memory") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, KeyError, TypeError,
            IndexError, OverflowError, NotImplementedError, RuntimeError, UnicodeError, struct.error) as e:
        # the zip container's own checks (CRC-32, local headers, decompression) and anything unforeseen
        raise CheckpointError(f"checkpoint {path}: unreadable, truncated or corrupt "
                              f"({type(e).__name__}: {e})") from None


def _load(path: Path) -> Checkpoint:
    arrays = _read_arrays(path, path.stat().st_size)
    if "meta" not in arrays:
        raise CheckpointError(f"checkpoint {path}: no 'meta' entry (not a tinygrad_llm checkpoint)")
    raw = arrays.pop("meta")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(f"checkpoint {path}: 'meta' must be a 1-D uint8 array of JSON text")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"checkpoint {path}: metadata is not valid JSON ({e})") from None
    except ValueError as e:                              # e.g. an integer with too many digits
        raise CheckpointError(f"checkpoint {path}: metadata cannot be read ({e})") from None
    fmt = meta.get("format") if isinstance(meta, dict) else None
    if fmt in OLD_FORMATS:
        raise CheckpointError(f"checkpoint {path}: format {fmt!r} was written by an older tinygrad_llm whose "
                              "checksum does not cover the metadata; it is not loaded (retrain, or load it with "
                              "the older version and save again)")
    if fmt != FORMAT:
        raise CheckpointError(f"checkpoint {path}: unknown format {fmt!r} (expected {FORMAT!r})")
    if not isinstance(meta.get("sha256"), str) or meta["sha256"] != _digest(arrays, meta):
        raise CheckpointError(f"checkpoint {path}: checksum mismatch: the arrays or the metadata were changed or "
                              "damaged after saving")
    _check_meta(path, meta, arrays)
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
        groups = [{**g, "betas": tuple(g["betas"])} if "betas" in g else dict(g) for g in om["groups"]]
        opt = {"state": state, "groups": groups}
    return Checkpoint(path=str(path), model_type=meta["model_type"], config=meta["config"], model_state=model_state,
                      step=meta["step"], optimizer_state=opt, scheduler_state=meta.get("scheduler"),
                      rng_state=meta.get("rng_state"), tokenizer=meta.get("tokenizer"), extra_arrays=extra,
                      metadata=meta.get("metadata", {}))


# ----------------------------------------------------------------------------- restoring
def _check_optimizer_fits(ckpt: Checkpoint, optimizer) -> None:
    cur = optimizer.state_dict()["groups"]
    saved = ckpt.optimizer_state["groups"]
    if len(saved) != len(cur):
        raise CheckpointError(f"checkpoint {ckpt.path}: {len(saved)} optimizer parameter groups, this optimizer "
                              f"has {len(cur)}")
    for g_saved, g_cur in zip(saved, cur):
        if set(g_saved) != set(g_cur):
            raise CheckpointError(f"checkpoint {ckpt.path}: optimizer group options {sorted(g_saved)} differ from "
                                  f"this optimizer's {sorted(g_cur)}")
        for k, v in g_cur.items():
            w = g_saved[k]
            same = (isinstance(v, bool) == isinstance(w, bool) and
                    (isinstance(v, (tuple, list)) == isinstance(w, (tuple, list))) and
                    (not isinstance(v, (tuple, list)) or len(v) == len(w)) and ((v is None) == (w is None)))
            if not same:
                raise CheckpointError(f"checkpoint {ckpt.path}: optimizer option {k!r} is {w!r}, expected a "
                                      f"value like {v!r}")


def restore(ckpt: Checkpoint, model, optimizer=None, scheduler=None, restore_rng: bool = True):
    """Copy a loaded checkpoint into model/optimizer/scheduler (and the RNG); all or nothing."""
    old_model = {k: v.copy() for k, v in model.state_dict().items()}
    old_opt = optimizer.state_dict() if optimizer is not None else None
    old_sched = scheduler.state_dict() if scheduler is not None else None
    old_rng = backend.get_rng_state()
    try:
        bad = [k for k, v in ckpt.model_state.items() if np.asarray(v).dtype.kind != "f"]
        if bad:
            raise CheckpointError(f"checkpoint {ckpt.path}: model array {bad[0]!r} is not floating point")
        model.load_state_dict(ckpt.model_state)
        if optimizer is not None:
            if ckpt.optimizer_state is None:
                raise CheckpointError(f"checkpoint {ckpt.path}: holds no optimizer state")
            _check_optimizer_fits(ckpt, optimizer)
            optimizer.load_state_dict(ckpt.optimizer_state)
        if scheduler is not None and ckpt.scheduler_state is not None:
            scheduler.load_state_dict(ckpt.scheduler_state)
        if restore_rng and ckpt.rng_state is not None:
            backend.set_rng_state(ckpt.rng_state)
    except Exception as e:
        model.load_state_dict(old_model)
        if optimizer is not None:
            optimizer.load_state_dict(old_opt)
        if scheduler is not None:
            scheduler.load_state_dict(old_sched)
        backend.set_rng_state(old_rng)
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"checkpoint {ckpt.path}: does not fit this model/optimizer "
                              f"({type(e).__name__}: {e})") from None
    return ckpt
