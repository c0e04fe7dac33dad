r"""Perplexity: the exponentiated average negative log-likelihood per token.

$$\mathrm{PPL} = \exp\Big(-\frac{1}{N}\sum_{t=1}^{N} \log p(w_t \mid w_{<t})\Big)$$

Equivalently, with the mean negative log-likelihood (the cross-entropy loss in nats)
$\overline{\mathrm{NLL}} = -\frac{1}{N}\sum_t \log p_t$, perplexity is $e^{\overline{\mathrm{NLL}}}$.
A model that spreads its probability uniformly over $V$ tokens has $\mathrm{PPL} = V$: perplexity is the
size of the "effective vocabulary" the model is choosing from at each step. Log-probabilities are taken in
base $e$; pass ``base=2`` when they are log2 (bits), the result is the same perplexity.
"""
from __future__ import annotations

import math

import numpy as np


# [start:perplexity]
def perplexity(log_probs, base: float = math.e) -> float:
    """PPL from per-token log-probabilities ``log p(w_t | w_<t)`` (natural log unless ``base`` is given)."""
    lp = np.asarray(log_probs, dtype=np.float64).ravel()   # (N,)
    if lp.size == 0:
        raise ValueError("perplexity: got an empty sequence of log-probabilities (N = 0)")
    if np.isnan(lp).any() or (lp > 1e-12).any():
        raise ValueError("perplexity: log-probabilities must be <= 0 and not NaN "
                         f"(max {np.nanmax(lp) if not np.isnan(lp).all() else float('nan')})")
    mean_nll = -lp.mean() * math.log(base)                  # convert to nats
    return float(np.exp(mean_nll))
# [end:perplexity]


def perplexity_from_nll(mean_nll: float, base: float = math.e) -> float:
    """PPL from the mean negative log-likelihood per token (e.g. a cross-entropy loss in nats)."""
    v = float(mean_nll)
    if math.isnan(v) or v < 0:
        raise ValueError(f"perplexity_from_nll: mean NLL must be a non-negative number, got {mean_nll!r}")
    return math.exp(v * math.log(base))
