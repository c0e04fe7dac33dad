"""Chapter 09 exercises: write the body of each function below, then check your answers with

    pytest tests/chapters/test_ch09_generation.py --answers chapters/09_generation/exercises.py

Each function raises NotImplementedError until you write it. The worked solutions are in solutions.py."""
from __future__ import annotations

import numpy as np


def softmax(z):
    e = np.exp(z - np.max(z))
    return e / e.sum()


def top_k_probs(z, k):
    """Exercise 1. Compute the top-k distribution of a logit vector in NumPy and compare it with `filter_logits`."""
    raise NotImplementedError("exercise 1: write top_k_probs")


def nucleus(z, p):
    """Exercise 2. Compute the nucleus for a given $p$ by walking the sorted probabilities."""
    raise NotImplementedError("exercise 2: write nucleus")


def entropy_at_temperature(z, tau):
    r"""Exercise 3. Show numerically that the entropy of $\mathrm{softmax}(z/\tau)$ grows with $\tau$ and stays
    below $\ln V$."""
    raise NotImplementedError("exercise 3: write entropy_at_temperature")


def per_token_flops(n, C, cached):
    """Exercise 4. Count the matrix-product FLOPs per new token of one layer with and without the cache for a
    sequence of length $n$; how does the ratio grow with $n$?"""
    raise NotImplementedError("exercise 4: write per_token_flops")


def rotary_score(q, k, m: int, n: int, base: float = 10000.0) -> float:
    """Exercise 5. Why can a model with rotary or relative positions slide its cache one token at a time, while
    this GPT cannot? Show that a rotary score depends on the positions $m, n$ only through $m - n$
    (`rotary_score`), and that a score with learned absolute positions added to the tokens does not
    (`absolute_score`).

    q . k after rotating each (even, odd) feature pair of q by m * theta_i and of k by n * theta_i."""
    raise NotImplementedError("exercise 5: write rotary_score")


def absolute_score(x_q, x_k, positions, w_q, w_k, m: int, n: int) -> float:
    """Exercise 5. Why can a model with rotary or relative positions slide its cache one token at a time, while
    this GPT cannot? Show that a rotary score depends on the positions $m, n$ only through $m - n$
    (`rotary_score`), and that a score with learned absolute positions added to the tokens does not
    (`absolute_score`).

    ((x_q + p_m) W_q^T) . ((x_k + p_n) W_k^T) with a learned position table ``positions`` (T, C)."""
    raise NotImplementedError("exercise 5: write absolute_score")
