"""Chapter 06 exercises: write the body of each function below, then check your answers with

    pytest tests/chapters/test_ch06_attention.py --answers chapters/06_attention/exercises.py

Each function raises NotImplementedError until you write it. The worked solutions are in solutions.py."""
from __future__ import annotations

import numpy as np


def attention_numpy(q, k, v, mask=None):
    """Exercise 1. Write attention in NumPy (with a boolean mask) and check it against
    `F.scaled_dot_product_attention`."""
    raise NotImplementedError("exercise 1: write attention_numpy")


def logit_variance(d: int, n: int = 20000, scaled: bool = False, seed: int = 0) -> float:
    r"""Exercise 2. Show that $\mathrm{Var}(q \cdot k) = d_k$ for independent unit-variance entries, and check it by
    sampling."""
    raise NotImplementedError("exercise 2: write logit_variance")


def causal_additive_mask(T: int) -> np.ndarray:
    r"""Exercise 3. Build the causal mask as an additive matrix (0 and $-\infty$)."""
    raise NotImplementedError("exercise 3: write causal_additive_mask")


def softmax_jacobian(z: np.ndarray) -> np.ndarray:
    r"""Exercise 4. Write the softmax Jacobian $\mathrm{diag}(p) - pp^\top$, check it against autograd, and show
    that it vanishes as the softmax saturates."""
    raise NotImplementedError("exercise 4: write softmax_jacobian")


def attention_matrix_bytes(T: int, heads: int, batch: int, bytes_per_number: int = 4) -> int:
    """Exercise 5. Attention costs $O(T^2 d)$ time and $O(T^2)$ memory for $P$. For $T = 8192$, 12 heads, batch 8
    and float32, how much memory does $P$ take in one layer (`attention_matrix_bytes`)?"""
    raise NotImplementedError("exercise 5: write attention_matrix_bytes")
