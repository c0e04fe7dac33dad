"""Solutions to the chapter 06 exercises (tested in tests/chapters/test_ch06_attention.py)."""
from __future__ import annotations

import numpy as np


# Exercise 1: attention in NumPy. mask: boolean, True where a query may look at a key.
def attention_numpy(q, k, v, mask=None):
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])    # (..., T_q, T_k)
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    s = s - s.max(axis=-1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=-1, keepdims=True)
    return p @ v


# Exercise 2: for q, k with independent unit-variance entries, q.k = sum_i q_i k_i has variance d
# (each term has mean 0 and variance E[q_i^2] E[k_i^2] = 1); dividing by sqrt(d) brings it back to 1.
def logit_variance(d: int, n: int = 20000, scaled: bool = False, seed: int = 0) -> float:
    r = np.random.default_rng(seed)
    s = (r.standard_normal((n, d)) * r.standard_normal((n, d))).sum(1)
    return float((s / np.sqrt(d) if scaled else s).var())


# Exercise 3: the causal mask as an additive matrix: 0 on and below the diagonal, -inf above.
def causal_additive_mask(T: int) -> np.ndarray:
    return np.triu(np.full((T, T), -np.inf), k=1)


# Exercise 4: the softmax Jacobian diag(p) - p p^T has largest eigenvalue <= max_i p_i; when one weight
# tends to 1 every entry tends to 0, so gradients through a saturated softmax vanish.
def softmax_jacobian(z: np.ndarray) -> np.ndarray:
    p = np.exp(z - z.max())
    p /= p.sum()
    return np.diag(p) - np.outer(p, p)


# Exercise 5: the attention matrix P holds one weight per (batch, head, query, key): B * h * T^2 numbers.
# T = 8192, 12 heads, batch 8, float32: 8 * 12 * 8192^2 * 4 bytes = 25,769,803,776 bytes = 24 GiB in one layer,
# which is why long-context kernels (FlashAttention) never store P.
def attention_matrix_bytes(T: int, heads: int, batch: int, bytes_per_number: int = 4) -> int:
    return batch * heads * T * T * bytes_per_number
