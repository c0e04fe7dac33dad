r"""Position information added to token embeddings: fixed sinusoids or a learned table.

Sinusoidal (Vaswani et al., 2017), for position $p$ and feature pairs $2k, 2k+1$ of a $d$-dimensional model:
$$P_{p,2k} = \sin\!\left(\frac{p}{10000^{2k/d}}\right),\qquad P_{p,2k+1} = \cos\!\left(\frac{p}{10000^{2k/d}}\right)$$
Each pair is a rotation at its own frequency, so $P_{p+\Delta}$ is a fixed linear map of $P_p$ for every
$p$: relative offsets are easy to read off. Nothing is trained; the table is a buffer.

Learned: $y_{t} = x_t + W_{t,:}$ with a trained table $W$ of shape (max_len, d), as in GPT-2 and BERT.
Its gradient is the embedding scatter-add, $\bar W_{t,:} = \sum_{b} \bar y_{b,t}$.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from .. import functional as F
from .module import Module, Parameter


def sinusoidal_table(max_len: int, d_model: int, base: float = 10000.0, dtype=None) -> np.ndarray:
    """The (max_len, d_model) table of sines (even features) and cosines (odd features)."""
    pos = np.arange(max_len, dtype=np.float64)[:, None]                 # (T, 1)
    freq = base ** (-np.arange(0, d_model, 2, dtype=np.float64) / d_model)  # (ceil(d/2),)
    table = np.zeros((max_len, d_model))
    table[:, 0::2] = np.sin(pos * freq)
    table[:, 1::2] = np.cos(pos * freq[: d_model // 2])
    return table.astype(dtype or backend.get_default_dtype())


def _check_len(name, T, max_len):
    if T > max_len:
        raise ValueError(f"{name}: sequence of length {T} is longer than max_len={max_len}")


class SinusoidalPositionalEncoding(Module):
    """``x + P[:T]`` for x of shape (B, T, d) (or (T, B, d) with ``batch_first=False``)."""

    def __init__(self, d_model: int, max_len: int = 5000, batch_first: bool = True, base: float = 10000.0):
        super().__init__()
        self.d_model, self.max_len, self.batch_first = d_model, max_len, batch_first
        self.pe = sinusoidal_table(max_len, d_model, base)                 # (max_len, d), not trained

    def forward(self, x):
        T = x.shape[1] if self.batch_first else x.shape[0]
        _check_len("SinusoidalPositionalEncoding", T, self.max_len)
        pe = self.pe[:T].astype(x.dtype, copy=False)                         # (T, d); add moves it to x's device
        return x + (pe if self.batch_first else pe[:, None, :])

    def extra_repr(self):
        return f"d_model={self.d_model}, max_len={self.max_len}"


class LearnedPositionalEmbedding(Module):
    """``x + W[start:start+T]`` with a trained (max_len, d) table ``weight``."""

    def __init__(self, max_len: int, d_model: int, batch_first: bool = True):
        super().__init__()
        self.max_len, self.d_model, self.batch_first = max_len, d_model, batch_first
        self.weight = Parameter(backend.rng().normal(0.0, 0.02, (max_len, d_model))
                                .astype(backend.get_default_dtype()))       # (max_len, d)

    def forward(self, x, start: int = 0):
        T = x.shape[1] if self.batch_first else x.shape[0]
        _check_len("LearnedPositionalEmbedding", start + T, self.max_len)
        pos = F.embedding(np.arange(start, start + T), self.weight)           # (T, d)
        return x + (pos if self.batch_first else pos.unsqueeze(1))

    def extra_repr(self):
        return f"{self.max_len}, {self.d_model}"
