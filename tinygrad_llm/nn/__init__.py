"""Layers (``Module`` subclasses) with PyTorch names and weight layouts."""
from .attention import MultiheadAttention
from .layers import GELU, Dropout, Embedding, LayerNorm, Linear, ReLU, Tanh
from .lstm import LSTM, LSTMCell
from .module import Module, ModuleList, Parameter, Sequential
from .positional import LearnedPositionalEmbedding, SinusoidalPositionalEncoding, sinusoidal_table
from .transformer import TransformerDecoderLayer, TransformerEncoderLayer
from .vision import ModalityProjector, PatchEmbedding

__all__ = ["Module", "ModuleList", "Sequential", "Parameter", "Linear", "Embedding", "LayerNorm", "Dropout",
           "GELU", "ReLU", "Tanh", "LSTMCell", "LSTM", "MultiheadAttention", "TransformerEncoderLayer",
           "TransformerDecoderLayer", "SinusoidalPositionalEncoding", "LearnedPositionalEmbedding",
           "sinusoidal_table", "PatchEmbedding", "ModalityProjector"]
