"""Layers (``Module`` subclasses) with PyTorch names and weight layouts."""
from .layers import GELU, Dropout, Embedding, LayerNorm, Linear, ReLU, Tanh
from .module import Module, ModuleList, Parameter, Sequential

__all__ = ["Module", "ModuleList", "Sequential", "Parameter", "Linear", "Embedding", "LayerNorm", "Dropout",
           "GELU", "ReLU", "Tanh"]
