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

import os
from pathlib import Path

import numpy as np

GGUF_MAGIC = b"GGUF"


class GGUFError(ValueError):
    """The file is missing, is not GGUF, or is damaged; the message names the file and the problem."""


def _import_gguf():
    try:
        import gguf
        import gguf.quants  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("reading GGUF files needs the `gguf` package: pip install gguf") from None
    return gguf


class GGUFFile:
    """An opened GGUF file: ``metadata`` (dict name -> value), ``tensor_names``, ``tensor(name)``.

    >>> f = GGUFFile(path)                      # doctest: +SKIP
    >>> f.metadata["llama.block_count"], f.tensor("token_embd.weight").shape   # doctest: +SKIP
    (30, (49152, 576))
    """

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"GGUF file not found: {self.path}")
        size = os.path.getsize(self.path)
        with open(self.path, "rb") as fh:
            magic = fh.read(4)
        if size < 24 or magic != GGUF_MAGIC:
            raise GGUFError(f"{self.path}: not a GGUF file (starts with {magic!r}, expected {GGUF_MAGIC!r}; "
                            f"{size} bytes)")
        gguf = _import_gguf()
        try:
            self._reader = gguf.GGUFReader(str(self.path), "r")
        except Exception as e:  # truncated header, bad counts, out-of-range offsets ...
            raise GGUFError(f"{self.path}: corrupt or truncated GGUF file ({type(e).__name__}: {e})") from None
        self._gguf = gguf
        self._tensors = {t.name: t for t in self._reader.tensors}
        self.metadata = {}
        for name, field in self._reader.fields.items():
            if name.startswith("GGUF."):
                continue
            try:
                self.metadata[name] = field.contents()
            except Exception as e:
                raise GGUFError(f"{self.path}: metadata key {name!r} cannot be decoded ({e})") from None
        self._check_sizes(size)

    def _check_sizes(self, file_size):
        for t in self._reader.tensors:
            end = int(t.data_offset) + int(t.n_bytes)
            if end > file_size:
                raise GGUFError(f"{self.path}: tensor {t.name!r} ends at byte {end} but the file has "
                                f"{file_size} bytes (truncated download?)")

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
        shape = self.tensor_shape(name)
        if arr.size != int(np.prod(shape)):
            raise GGUFError(f"{self.path}: tensor {name!r} decodes to {arr.size} values, its shape {shape} "
                            f"needs {int(np.prod(shape))}")
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
