"""Safe weight readers: safetensors (our own header parser, no pickle) and GGUF (via the ``gguf`` package).

``load_file(path) -> {name: np.ndarray}`` and ``save_file(tensors, path)`` read and write safetensors;
``gguf`` reads llama.cpp files.
"""
from .safetensors import SafetensorsError, load_file, read_metadata, save_file

__all__ = ["SafetensorsError", "load_file", "read_metadata", "save_file"]
