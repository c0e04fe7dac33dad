r"""Read and write safetensors files without pickle: a length, a JSON header, raw little-endian bytes.

Layout of a file of $n$ bytes:

* bytes $[0, 8)$: $h$, the header length, an unsigned 64-bit little-endian integer;
* bytes $[8, 8+h)$: a UTF-8 JSON object ``{name: {"dtype", "shape", "data_offsets": [b, e]}, "__metadata__": {...}}``;
* bytes $[8+h, n)$: the data buffer; tensor ``name`` occupies buffer bytes $[b, e)$.

A well-formed file satisfies, for every tensor $t$ (sorted by $b$):
$$e_t - b_t = \mathrm{itemsize}(\mathrm{dtype}_t)\prod_i \mathrm{shape}_{t,i}, \qquad b_{t+1} = e_t,
\qquad e_{\mathrm{last}} = n - 8 - h .$$
The product is taken in Python's unbounded integers, so a shape like $[2^{32}, 2^{32}]$ cannot wrap around
to 0 and slip through. The header is also held to the reference reader's rules: at most 100 MB, a JSON
object with no repeated key, ``dtype`` one of the names below, ``shape`` a list of non-negative integers,
``__metadata__`` (optional) an object of strings. Nothing is allocated for a tensor before its entry has
passed every check, and no byte is read outside the file.

Every check failing raises :class:`SafetensorsError` naming the file and the tensor. BF16 has no NumPy dtype:
its 16 bits are the top half of a float32, so it is widened with a shift, $x_{32} = x_{16} \ll 16$.
"""
from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path

import numpy as np

from .atomic import atomic_write

DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.uint16,
          "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
          "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8, "BOOL": np.bool_}
NAMES = {np.dtype(v): k for k, v in DTYPES.items() if k != "BF16"}
MAX_HEADER = 100_000_000          # the reference reader's limit
MAX_NDIM = 64


class SafetensorsError(ValueError):
    """A malformed or unreadable safetensors file; the message names the file and the tensor."""


def _no_duplicates(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise SafetensorsError(f"key {k!r} appears twice")
        d[k] = v
    return d


def _header(path: Path, size: int, f) -> tuple[dict, int]:
    if size < 8:
        raise SafetensorsError(f"safetensors {path}: file is {size} bytes, shorter than the 8-byte header length")
    (h,) = struct.unpack("<Q", f.read(8))
    if h > MAX_HEADER or 8 + h > size:
        raise SafetensorsError(f"safetensors {path}: header length {h} does not fit in a file of {size} bytes"
                               + (f" (at most {MAX_HEADER})" if h > MAX_HEADER else ""))
    try:
        header = json.loads(f.read(h).decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"safetensors {path}: header is not valid UTF-8 JSON ({e})") from None
    except SafetensorsError as e:
        raise SafetensorsError(f"safetensors {path}: header is invalid: {e}") from None
    except RecursionError:
        raise SafetensorsError(f"safetensors {path}: header JSON is nested too deeply") from None
    except ValueError as e:                          # e.g. an integer with more digits than Python converts
        raise SafetensorsError(f"safetensors {path}: header cannot be read ({e})") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"safetensors {path}: header is a JSON {type(header).__name__}, expected an object")
    meta = header.get("__metadata__")
    if meta is not None and (not isinstance(meta, dict) or
                             not all(isinstance(v, str) for v in meta.values())):
        raise SafetensorsError(f"safetensors {path}: __metadata__ must be an object of strings, got "
                               f"{_short(meta)}")
    return header, 8 + h


def _short(x, n: int = 120) -> str:
    r = repr(x)
    return r if len(r) <= n else r[:n] + "..."


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _entries(path: Path, header: dict, buffer_len: int) -> list[tuple[str, str, tuple, int, int]]:
    out = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        where = f"safetensors {path}: tensor {_short(name)}"
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
            raise SafetensorsError(f"{where}: entry needs dtype, shape and data_offsets, got {_short(info)}")
        dt, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(dt, str) or dt not in DTYPES:
            raise SafetensorsError(f"{where}: unsupported dtype {_short(dt)} (known: {', '.join(DTYPES)})")
        if (not isinstance(shape, list) or len(shape) > MAX_NDIM or
                not all(_is_int(s) and s >= 0 for s in shape)):
            raise SafetensorsError(f"{where}: shape must be a list of at most {MAX_NDIM} non-negative integers, "
                                   f"got {_short(shape)}")
        if (not isinstance(offs, list) or len(offs) != 2 or
                not all(_is_int(o) for o in offs) or not 0 <= offs[0] <= offs[1]):
            raise SafetensorsError(f"{where}: data_offsets must be [begin, end] with 0 <= begin <= end, got "
                                   f"{_short(offs)}")
        need = math.prod(shape) * np.dtype(DTYPES[dt]).itemsize       # Python integers: no overflow, no wrap
        if offs[1] - offs[0] != need:
            raise SafetensorsError(f"{where}: {dt}{_short(tuple(shape))} needs {need} bytes but data_offsets "
                                   f"{offs} span {offs[1] - offs[0]}")
        out.append((name, dt, tuple(shape), offs[0], offs[1]))
    out.sort(key=lambda e: (e[3], e[4]))
    pos = 0
    for name, _, _, b, e in out:
        if b != pos:
            what = "overlaps the previous tensor" if b < pos else f"leaves a gap of {b - pos} bytes"
            raise SafetensorsError(f"safetensors {path}: tensor {_short(name)} at bytes [{b}, {e}) {what}")
        pos = e
    if pos != buffer_len:
        last = _short(out[-1][0]) if out else "(none)"
        what = "truncated" if pos > buffer_len else "trailing data"
        raise SafetensorsError(f"safetensors {path}: last tensor {last} ends at byte {pos} of the data buffer but "
                               f"the buffer holds {buffer_len} bytes ({what})")
    return out


def _to_array(raw: bytes, dt: str, shape: tuple) -> np.ndarray:
    a = np.frombuffer(raw, dtype=np.dtype(DTYPES[dt]).newbyteorder("<")).reshape(shape)
    if dt == "BF16":
        return (a.astype(np.uint32) << 16).view(np.float32)
    return a.astype(a.dtype.newbyteorder("="))   # native order, writable copy


def _open(path: Path):
    if path.is_dir():
        raise SafetensorsError(f"safetensors {path}: is a directory, not a file")
    if not path.is_file():
        raise SafetensorsError(f"safetensors {path}: no such file")
    try:
        return open(path, "rb")
    except OSError as e:
        raise SafetensorsError(f"safetensors {path}: cannot be read ({e.strerror or e})") from None


def read_metadata(path) -> dict:
    """The ``__metadata__`` dict (strings) of a file, validated like :func:`load_file`."""
    path = Path(path)
    with _open(path) as f:
        size = os.fstat(f.fileno()).st_size
        header, start = _header(path, size, f)
        _entries(path, header, size - start)
    return dict(header.get("__metadata__") or {})


def load_file(path, names=None) -> dict[str, np.ndarray]:
    """All tensors (or those in ``names``) as NumPy arrays; BF16 is returned as float32."""
    path = Path(path)
    with _open(path) as f:
        size = os.fstat(f.fileno()).st_size
        header, start = _header(path, size, f)
        entries = _entries(path, header, size - start)
        known = {e[0] for e in entries}
        if names is not None:
            missing = [n for n in names if n not in known]
            if missing:
                raise SafetensorsError(f"safetensors {path}: no tensor named {missing[0]!r}")
        out = {}
        for name, dt, shape, b, e in entries:
            if names is not None and name not in names:
                continue
            f.seek(start + b)
            raw = f.read(e - b)
            if len(raw) != e - b:
                raise SafetensorsError(f"safetensors {path}: tensor {name!r} is truncated")
            out[name] = _to_array(raw, dt, shape)
    return out


def save_file(tensors: dict, path, metadata: dict | None = None) -> None:
    """Write ``{name: array}`` atomically (temporary file in the same folder, then ``os.replace``)."""
    path = Path(path)
    header, chunks, pos = {}, [], 0
    for name in sorted(tensors):
        if not isinstance(name, str) or name == "__metadata__":
            raise SafetensorsError(f"safetensors {path}: invalid tensor name {name!r}")
        a = np.asarray(getattr(tensors[name], "data", tensors[name]))
        if a.dtype not in NAMES:
            raise SafetensorsError(f"safetensors {path}: tensor {name!r} has unsupported dtype {a.dtype}")
        raw = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": NAMES[a.dtype], "shape": list(a.shape), "data_offsets": [pos, pos + len(raw)]}
        chunks.append(raw)
        pos += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * (-len(hb) % 8)                   # pad so the buffer starts 8-byte aligned
    with atomic_write(path) as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for c in chunks:
            f.write(c)
