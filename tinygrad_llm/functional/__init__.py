"""Functional ops: one formula a file, each a ``Function`` with forward and analytic backward.

Import as ``import tinygrad_llm.functional as F``.

Loading this package also gives ``Tensor`` its operators and methods, from one table,
``TENSOR_METHODS`` below (name on Tensor -> functional op): ``tensor.py`` is the data structure only
and imports none of this. Each entry's function takes the tensor as its first argument, so
``x.sum(axis=0)`` is ``F.sum(x, axis=0)`` and ``x + y`` is ``F.add(x, y)``; the reflected operators
(``2.0 - x``) swap the arguments. A test checks every entry is installed and every op is registered.
"""
import types

import numpy as np

from ..tensor import Tensor
from ._util import ShapeError
from .attention import (additive_mask, attention_weights, capture_attention, causal_mask,
                        scaled_dot_product_attention, scaled_dot_product_attention_composed)
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
from .rmsnorm import rms_norm, rms_norm_composed
from .rope import rope, rope_angles, rope_composed
from .shape import (cat, concat, expand, flatten, getitem, masked_fill, permute, reshape, split, squeeze, stack,
                    transpose, unsqueeze, where)
from .softmax import log_softmax, log_softmax_composed, softmax, softmax_composed
from .swiglu import silu, swiglu, swiglu_composed


def _reflected(op):
    """``other OP tensor``: Python calls ``tensor.__rOP__(other)``."""
    def method(self, other):
        return op(other, self)
    method.__name__ = f"r{op.__name__}"
    return method


TENSOR_METHODS = {
    # arithmetic operators
    "__add__": add, "__radd__": _reflected(add), "__sub__": sub, "__rsub__": _reflected(sub),
    "__mul__": mul, "__rmul__": _reflected(mul), "__truediv__": div, "__rtruediv__": _reflected(div),
    "__pow__": pow, "__rpow__": _reflected(pow), "__matmul__": matmul, "__rmatmul__": _reflected(matmul),
    "__neg__": neg, "__getitem__": getitem,
    # elementwise
    "exp": exp, "log": log, "sqrt": sqrt, "tanh": tanh, "sigmoid": sigmoid, "relu": relu, "abs": abs,
    # reductions
    "sum": sum, "mean": mean, "max": max, "var": var,
    # shape
    "reshape": reshape, "view": reshape, "flatten": flatten, "transpose": transpose, "permute": permute,
    "unsqueeze": unsqueeze, "squeeze": squeeze, "expand": expand, "split": split, "masked_fill": masked_fill,
    "T": property(lambda self: transpose(self, -2, -1) if self.ndim >= 2 else self),
    # softmax
    "softmax": softmax, "log_softmax": log_softmax,
    # dtype
    "astype": cast, "float": lambda self: cast(self, np.float32), "double": lambda self: cast(self, np.float64),
}

for _name, _method in TENSOR_METHODS.items():
    setattr(Tensor, _name, _method)
del _name, _method

__all__ = sorted(n for n, v in globals().items()
                 if not n.startswith("_") and not isinstance(v, types.ModuleType) and n not in ("Tensor", "TENSOR_METHODS"))
