"""File input and output, in one place: nothing loaded is trusted before it is verified, nothing is unpickled.

- ``atomic.py``: atomic writes (temporary file, fsync, rename) for everything the project saves;
- ``checkpoint.py``: training checkpoints, one ``.npz`` of arrays plus JSON metadata, checksummed;
- ``safetensors.py``: our own safetensors reader and writer (validated header, bounded sizes);
- ``gguf.py``: llama.cpp's GGUF files, read through the ``gguf`` package with our own checks;
- ``paths.py``: user-given paths checked (missing, a directory, not UTF-8) with one-line errors.
"""
from .atomic import atomic_write, atomic_write_text
from .checkpoint import Checkpoint, CheckpointError, load_checkpoint, restore, save_checkpoint
from .safetensors import SafetensorsError, load_file, read_metadata, save_file

__all__ = ["atomic_write", "atomic_write_text", "Checkpoint", "CheckpointError", "load_checkpoint", "restore",
           "save_checkpoint", "SafetensorsError", "load_file", "read_metadata", "save_file"]
