"""Helpers that build damaged and hostile files for the loader tests (checkpoints, safetensors, GGUF).

A hostile file is one an attacker wrote on purpose: unlike random damage it can carry a *valid*
checksum (SHA-256 is not a signature), so the loaders must check every field and size, not only the sum.
"""
from __future__ import annotations

import io
import json
import struct
import zipfile

import numpy as np

from tinygrad_llm.io import checkpoint as ck


def npy_bytes(arr=None, header: str | None = None, data: bytes | None = None, version=(1, 0)) -> bytes:
    """A .npy member: ``np.save`` of ``arr``, or a hand-written header dict literal and raw data."""
    if header is None:
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        return buf.getvalue()
    h = header.encode("latin1")
    pad = -(len(h) + 11) % 64
    h = h + b" " * pad + b"\n"
    return b"\x93NUMPY" + bytes(version) + struct.pack("<H", len(h)) + h + (data or b"")


def write_zip(path, members: dict, compression=zipfile.ZIP_STORED):
    """A zip with ``{name: bytes}`` members (names without .npy get it appended)."""
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, raw in members.items():
            z.writestr(name if name.endswith(".npy") else name + ".npy", raw)
    return path


def read_raw(path) -> tuple[dict, dict]:
    """(arrays without meta, meta dict) of a checkpoint, read with NumPy for the test's own use."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays.pop("meta").tobytes().decode())
    return arrays, meta


def write_checkpoint(path, arrays: dict, meta: dict, sign: bool = True, meta_text: str | None = None):
    """Write arrays + meta as a checkpoint; ``sign`` recomputes the SHA-256 as an attacker would."""
    meta = dict(meta)
    if sign:
        meta["sha256"] = ck._digest(arrays, meta)
    text = json.dumps(meta) if meta_text is None else meta_text
    all_arrays = {**arrays, "meta": np.frombuffer(text.encode(), np.uint8)}
    with open(path, "wb") as f:
        np.savez(f, **all_arrays)
    return path


def resign(src, dst, edit_meta=None, edit_arrays=None, sign=True):
    """Copy checkpoint ``src`` to ``dst`` after ``edit_meta(meta)`` / ``edit_arrays(arrays)`` (in place)."""
    arrays, meta = read_raw(src)
    if edit_meta:
        edit_meta(meta)
    if edit_arrays:
        edit_arrays(arrays)
    return write_checkpoint(dst, arrays, meta, sign=sign)


def safetensors_bytes(header, data: bytes = b"", hlen: int | None = None) -> bytes:
    hb = json.dumps(header).encode() if not isinstance(header, bytes) else header
    return struct.pack("<Q", len(hb) if hlen is None else hlen) + hb + data


def write_small_gguf(path, seed: int = 0):
    """A small GGUF file written with the ``gguf`` package: F32, F16, Q8_0 and Q4_1 tensors, strings,
    numbers and arrays in the metadata."""
    import gguf
    r = np.random.default_rng(seed)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_uint32("llama.block_count", 2)
    w.add_float32("llama.rope.freq_base", 10000.0)
    w.add_string("general.name", "tiny")
    w.add_array("tokenizer.ggml.tokens", ["a", "b", "ab", "<s>"])
    w.add_array("tokenizer.ggml.scores", [0.0, 1.0, 2.0, 3.0])
    w.add_tensor("f32", r.standard_normal((3, 8)).astype(np.float32))
    w.add_tensor("f16", r.standard_normal((2, 16)).astype(np.float16))
    for name, q in (("q8", gguf.GGMLQuantizationType.Q8_0), ("q4", gguf.GGMLQuantizationType.Q4_1)):
        data = gguf.quants.quantize(r.standard_normal((2, 32)).astype(np.float32), q)
        w.add_tensor(name, data, raw_shape=data.shape, raw_dtype=q)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    return path


# ----------------------------------------------------------------------------- GGUF by hand
def gg_str(s) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gg_kv(key, vtype: int, payload: bytes) -> bytes:
    """One key/value: key string, value type (4 = u32, 6 = f32, 8 = string, 9 = array), value bytes."""
    return gg_str(key) + struct.pack("<I", vtype) + payload


def gg_array(itype: int, count: int, items: bytes) -> bytes:
    return struct.pack("<IQ", itype, count) + items


def gg_tensor(name, dims, ttype: int, offset: int) -> bytes:
    return gg_str(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims) + \
        struct.pack("<IQ", ttype, offset)


def gguf_bytes(kvs=(), tensors=(), data=b"", version=3, n_tensors=None, n_kv=None, alignment=32) -> bytes:
    """A GGUF file from raw parts (counts default to the number of parts given)."""
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors) if n_tensors is None else n_tensors,
                                 len(kvs) if n_kv is None else n_kv)
    body = head + b"".join(kvs) + b"".join(tensors)
    body += b"\0" * (-len(body) % alignment)
    return body + data
