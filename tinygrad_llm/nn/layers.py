"""The simple layers: each holds its parameters and calls one functional op.

| layer | formula | op file |
|---|---|---|
| Linear | $y = xW^\\top + b$ | functional/linear.py |
| Embedding | $y_t = E_{i_t,:}$ | functional/embedding.py |
| LayerNorm | $y = \\gamma \\odot \\frac{x-\\mu}{\\sqrt{\\sigma^2+\\epsilon}} + \\beta$ | functional/layernorm.py |
| Dropout | $y = m \\odot x / (1-p)$ | functional/dropout.py |
| GELU | $y = x\\,\\Phi(x)$ | functional/gelu.py |

Initialisation follows PyTorch: Linear weights and biases $\\mathcal U(-1/\\sqrt{C_{in}}, 1/\\sqrt{C_{in}})$,
Embedding $\\mathcal N(0, 1)$, LayerNorm $\\gamma = 1, \\beta = 0$.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from .. import functional as F
from .module import Module, Parameter


def _uniform(shape, bound):
    return backend.rng().uniform(-bound, bound, size=shape).astype(backend.get_default_dtype())


class Linear(Module):
    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features) if in_features else 0.0
        self.weight = Parameter(_uniform((out_features, in_features), bound))   # (C_out, C_in)
        self.bias = Parameter(_uniform((out_features,), bound)) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    def __init__(self, num_embeddings: int, embedding_dim: int):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = Parameter(backend.rng().standard_normal((num_embeddings, embedding_dim))
                                .astype(backend.get_default_dtype()))             # (V, C)

    def forward(self, ids):
        return F.embedding(ids, self.weight)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class LayerNorm(Module):
    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True):
        super().__init__()
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps = eps
        dt = backend.get_default_dtype()
        self.weight = Parameter(np.ones(self.normalized_shape, dt)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape, dt)) if elementwise_affine and bias else None

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"


class Dropout(Module):
    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class GELU(Module):
    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)


class ReLU(Module):
    def forward(self, x):
        return F.relu(x)


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)
