"""Functional ops: one formula a file, each a ``Function`` with forward and analytic backward.

Import as ``import tinygrad_llm.functional as F``.
"""
from ._util import ShapeError
from .attention import (attention_weights, causal_mask, scaled_dot_product_attention,
                        scaled_dot_product_attention_composed)
from .cross_entropy import cross_entropy, cross_entropy_composed
from .dropout import dropout
from .elementwise import abs, add, cast, div, exp, log, mul, neg, pow, relu, sigmoid, sqrt, sub, tanh
from .embedding import embedding
from .gelu import gelu
from .layernorm import layer_norm, layer_norm_composed
from .linear import linear
from .lora import lora_linear, lora_linear_composed
from .lstm_cell import lstm_cell, lstm_cell_composed, lstm_sequence
from .matmul import matmul
from .reduce import max, mean, sum, var
from .shape import (cat, concat, expand, getitem, masked_fill, permute, reshape, split, squeeze, stack,
                    transpose, unsqueeze, where)
from .softmax import log_softmax, log_softmax_composed, softmax, softmax_composed

__all__ = [n for n in dir() if not n.startswith("_")]
