r"""Read GGUF files (llama.cpp's format): metadata, tokenizer and dequantised weights.

A GGUF file is a header (magic ``GGUF``, version, tensor and key counts), key/value metadata
(architecture hyper-parameters, the tokenizer's tokens and merges, ...), a table of tensor
descriptors (name, shape, quantisation type, offset) and the aligned tensor data. Parsing and
dequantising use the ``gguf`` package (``pip install gguf``) published by the llama.cpp project:
its ``GGUFReader`` memory-maps the file, ``gguf.quants.dequantize`` decodes blocks.

Q4_1 (most SmolLM2 matrices) stores blocks of 32 weights as a float16 scale $d$, a float16
minimum $m$ and 32 four-bit codes $q_j \in \{0..15\}$:
$$w_j = d\,q_j + m$$
so a block costs $2 + 2 + 16 = 20$ bytes for 32 weights, 5 bits a weight. Q8_0 (the embedding)
stores a scale $d$ and 32 signed bytes: $w_j = d\,q_j$.

GGUF lists shapes fastest-axis first (``ne[0]`` is the input dimension of a matrix); the arrays
returned here are in NumPy/PyTorch order, so a linear weight is (out_features, in_features).
"""
from __future__ import annotations

import math
import mmap
import os
from pathlib import Path

import numpy as np

GGUF_MAGIC = b"GGUF"
HEADER_BYTES = 24                       # magic, version (u32), tensor count (u64), key/value count (u64)
MAX_DIMS = 4                            # GGML_MAX_DIMS
MAX_ARRAY_DEPTH = 3                     # arrays of arrays of ... (the tokenizer uses depth 1)
# key/value types: scalar sizes in bytes; 8 = string, 9 = array
_SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY, _UINT32 = 8, 9, 4


class GGUFError(ValueError):
    """The file is missing, is not GGUF, or is damaged; the message names the file and the problem."""


def _import_gguf():
    try:
        import gguf
        import gguf.quants  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("reading GGUF files needs the `gguf` package: pip install gguf") from None
    return gguf


class _Walker:
    """A bounds-checked walk over the header, key/values and tensor table, *before* the ``gguf`` package
    reads them: every count and length must fit in the bytes that remain, so no count can make a reader
    loop for ever, allocate without limit or read past the end, and every tensor must lie inside the file.
    Returns the tensors' (name, type, dims, absolute offset, bytes)."""

    def __init__(self, path, buf, size, quant_sizes):
        self.path, self.buf, self.size, self.pos = path, buf, size, 0
        self.quant_sizes = quant_sizes

    def fail(self, what):
        raise GGUFError(f"{self.path}: {what} (at byte {self.pos} of {self.size})")

    def take(self, n, what, skip=False):
        if n > self.size - self.pos:
            self.fail(f"truncated: {what} needs {n} bytes, {self.size - self.pos} remain")
        b = None if skip else self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def u(self, n, what):
        return int.from_bytes(self.take(n, what), self.order)

    def string(self, what):
        n = self.u(8, f"the length of {what}")
        return bytes(self.take(n, what))

    def value(self, vtype, what, depth=0):
        if vtype in _SCALAR:
            return self.take(_SCALAR[vtype], what, skip=True)
        if vtype == _STRING:
            n = self.u(8, f"the length of {what}")
            return self.take(n, what, skip=True)
        if vtype != _ARRAY:
            self.fail(f"{what} has unknown value type {vtype}")
        if depth >= MAX_ARRAY_DEPTH:
            self.fail(f"{what} nests arrays deeper than {MAX_ARRAY_DEPTH}")
        itype = self.u(4, f"the item type of {what}")
        count = self.u(8, f"the length of {what}")
        least = _SCALAR.get(itype, 8 if itype == _STRING else 12)
        if count * least > self.size - self.pos:
            self.fail(f"{what} declares {count} items, more than the {self.size - self.pos} bytes left can hold")
        if itype in _SCALAR:
            self.take(count * least, what, skip=True)
        else:
            for i in range(count):
                self.value(itype, f"{what}[{i}]", depth + 1)
        return None

    def walk(self):
        magic = bytes(self.buf[:4])
        if magic != GGUF_MAGIC:
            raise GGUFError(f"{self.path}: not a GGUF file (starts with {magic!r}, expected {GGUF_MAGIC!r}; "
                            f"{self.size} bytes)")
        if self.size < HEADER_BYTES:
            raise GGUFError(f"{self.path}: truncated: {self.size} bytes, shorter than the {HEADER_BYTES}-byte "
                            "GGUF header")
        self.pos = 4
        raw_version = bytes(self.take(4, "the version"))
        self.order = "little" if int.from_bytes(raw_version, "little") & 0xFFFF else "big"
        version = int.from_bytes(raw_version, self.order)
        if self.order == "big" and version in (2, 3):
            self.fail("a big-endian GGUF file: its tensor data would be read with the wrong byte order, "
                      "so it is not loaded")
        if version not in (2, 3):
            self.fail(f"GGUF version {version} is not supported (2 and 3 are)")
        n_tensors, n_kv = self.u(8, "the tensor count"), self.u(8, "the key count")
        if n_tensors * 24 + n_kv * 13 > self.size - self.pos:
            self.fail(f"{n_tensors} tensors and {n_kv} keys cannot fit in the file")
        alignment = 32
        for i in range(n_kv):
            key = self.string(f"key {i}")
            vtype = self.u(4, f"the type of key {key!r}")
            start = self.pos
            self.value(vtype, f"key {key!r}")
            if key == b"general.alignment":
                alignment = int.from_bytes(self.buf[start:start + 4], self.order) if vtype == _UINT32 else 0
                if alignment == 0 or alignment & (alignment - 1):
                    self.fail("general.alignment must be a u32 power of two")
        infos = []
        for i in range(n_tensors):
            name = self.string(f"the name of tensor {i}")
            n_dims = self.u(4, f"the rank of tensor {name!r}")
            if not 1 <= n_dims <= MAX_DIMS:
                self.fail(f"tensor {name!r} has {n_dims} dimensions (1 to {MAX_DIMS} allowed)")
            dims = [self.u(8, f"the shape of tensor {name!r}") for _ in range(n_dims)]
            ttype = self.u(4, f"the type of tensor {name!r}")
            offset = self.u(8, f"the offset of tensor {name!r}")
            infos.append((name, dims, ttype, offset))
        data_start = -(-self.pos // alignment) * alignment
        out = []
        for name, dims, ttype, offset in infos:
            where = f"tensor {name!r}"
            if ttype not in self.quant_sizes:
                self.fail(f"{where} has unknown type {ttype}")
            block, type_size = self.quant_sizes[ttype]
            n = math.prod(dims)                          # Python integers: no wrap-around
            if n % block or dims[0] % block:
                self.fail(f"{where}: shape {dims} is not a whole number of {block}-value blocks")
            n_bytes = n // block * type_size
            begin = data_start + offset
            if begin + n_bytes > self.size:
                raise GGUFError(f"{self.path}: {where} ends at byte {begin + n_bytes} but the file has "
                                f"{self.size} bytes (truncated download?)")
            out.append((name, ttype, dims, begin, n_bytes))
        return out


class GGUFFile:
    """An opened GGUF file: ``metadata`` (dict name -> value), ``tensor_names``, ``tensor(name)``.

    Every malformed file raises ``GGUFError`` naming the file (a missing one ``FileNotFoundError``). The
    structure is walked with bounds checks first (``_Walker``), then parsed by the ``gguf`` package;
    anything that package raises on a file that passed the walk is wrapped into a ``GGUFError`` too.
    GGUF has no checksum: a flipped bit inside tensor data or inside a metadata value is not detectable,
    and such a file loads with the flipped value.

    >>> f = GGUFFile(path)                      # doctest: +SKIP
    >>> f.metadata["llama.block_count"], f.tensor("token_embd.weight").shape   # doctest: +SKIP
    (30, (49152, 576))
    """

    def __init__(self, path):
        self.path = Path(path)
        if self.path.is_dir():
            raise GGUFError(f"{self.path}: is a directory, not a GGUF file")
        if not self.path.is_file():
            raise FileNotFoundError(f"GGUF file not found: {self.path}")
        gguf = _import_gguf()
        try:
            size = os.path.getsize(self.path)
            with open(self.path, "rb") as fh:
                if size < 4:
                    raise GGUFError(f"{self.path}: not a GGUF file ({size} bytes; starts with {fh.read()!r})")
                with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                    sizes = {int(k): v for k, v in gguf.GGML_QUANT_SIZES.items()}
                    self._layout = _Walker(self.path, buf, size, sizes).walk()
        except GGUFError:
            raise
        except (OSError, ValueError) as e:
            raise GGUFError(f"{self.path}: cannot be read ({type(e).__name__}: {e})") from None
        try:
            self._reader = gguf.GGUFReader(str(self.path), "r")
            self._tensors = {t.name: t for t in self._reader.tensors}
        except Exception as e:  # duplicate names, invalid UTF-8 names, anything the package refuses
            raise GGUFError(f"{self.path}: corrupt GGUF file ({type(e).__name__}: {e})") from None
        self._gguf = gguf
        self.metadata = {}
        for name, field in self._reader.fields.items():
            if name.startswith("GGUF."):
                continue
            try:
                self.metadata[name] = field.contents()
            except Exception as e:
                raise GGUFError(f"{self.path}: metadata key {name!r} cannot be decoded ({type(e).__name__}: "
                                f"{e})") from None
        self._check_layout()

    def _check_layout(self):
        """The package's view of every tensor equals the walk's (the same bytes, the same shape)."""
        if len(self._layout) != len(self._tensors):
            raise GGUFError(f"{self.path}: {len(self._layout)} tensor entries but {len(self._tensors)} distinct names")
        for name, ttype, dims, begin, n_bytes in self._layout:
            t = self._tensors.get(name.decode("utf-8", "replace"))
            if (t is None or int(t.data_offset) != begin or int(t.n_bytes) != n_bytes
                    or int(t.tensor_type) != ttype or [int(d) for d in t.shape] != dims):
                raise GGUFError(f"{self.path}: tensor {name!r} is read inconsistently (corrupt table?)")

    @property
    def tensor_names(self):
        return list(self._tensors)

    def tensor_type(self, name) -> str:
        """The storage type of a tensor, e.g. 'F32', 'Q4_1', 'Q8_0'."""
        return self._get(name).tensor_type.name

    def tensor_shape(self, name):
        """Shape in NumPy order (GGUF's ``ne`` reversed)."""
        return tuple(int(n) for n in reversed(self._get(name).shape.tolist()))

    def _get(self, name):
        if name not in self._tensors:
            raise KeyError(f"{self.path}: no tensor named {name!r} (it has {len(self._tensors)} tensors, "
                           f"e.g. {self.tensor_names[:3]})")
        return self._tensors[name]

    def tensor(self, name, dtype=np.float32) -> np.ndarray:
        """The tensor, dequantised to ``dtype``, in NumPy order (a linear weight is (out, in))."""
        t = self._get(name)
        try:
            arr = self._gguf.quants.dequantize(t.data, t.tensor_type)
        except NotImplementedError:
            raise GGUFError(f"{self.path}: tensor {name!r} uses type {t.tensor_type.name}, which the gguf "
                            "package cannot dequantise") from None
        except Exception as e:
            raise GGUFError(f"{self.path}: tensor {name!r} cannot be decoded ({type(e).__name__}: {e})") from None
        shape = self.tensor_shape(name)
        if arr.size != math.prod(shape):
            raise GGUFError(f"{self.path}: tensor {name!r} decodes to {arr.size} values, its shape {shape} "
                            f"needs {math.prod(shape)}")
        return np.ascontiguousarray(arr.reshape(shape), dtype=dtype)

    def tensors(self, dtype=np.float32) -> dict:
        """Every tensor, dequantised (name -> array)."""
        return {n: self.tensor(n, dtype) for n in self._tensors}

    def __repr__(self):
        arch = self.metadata.get("general.architecture", "?")
        return f"GGUFFile({str(self.path)!r}, architecture={arch!r}, tensors={len(self._tensors)})"


def read_gguf(path, dtype=np.float32):
    """Metadata dict and a dict of dequantised tensors (NumPy order) of the GGUF file at ``path``."""
    f = GGUFFile(path)
    return f.metadata, f.tensors(dtype)
