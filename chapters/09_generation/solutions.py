"""Solutions to the chapter 09 exercises (tested in tests/chapters/test_ch09_generation.py)."""
from __future__ import annotations

import numpy as np


def softmax(z):
    e = np.exp(z - np.max(z))
    return e / e.sum()


# Exercise 1: the top-k distribution: zero outside the k largest logits, renormalised.
def top_k_probs(z, k):
    z = np.asarray(z, np.float64)
    keep = z >= np.sort(z)[::-1][k - 1]
    p = softmax(z) * keep
    return p / p.sum()


# Exercise 2: the nucleus: most likely tokens in order until their probability reaches p.
def nucleus(z, p):
    probs = softmax(np.asarray(z, np.float64))
    order = np.argsort(-probs, kind="stable")
    kept, mass = [], 0.0
    for i in order:
        kept.append(int(i))
        mass += probs[i]
        if mass >= p:
            break
    return sorted(kept)


# Exercise 3: entropy of the tempered distribution (it grows with the temperature).
def entropy_at_temperature(z, tau):
    p = softmax(np.asarray(z, np.float64) / tau)
    return float(-(p[p > 0] * np.log(p[p > 0])).sum())


# Exercise 4: attention FLOPs per new token with and without the KV cache for a sequence of length n,
# counting only the matrix products of one layer of width C (projections + attention scores):
# uncached recomputes all n positions (n * (24 C^2) + 4 n^2 C); cached computes one (24 C^2 + 4 n C).
def per_token_flops(n, C, cached):
    return 24 * C * C + 4 * n * C if cached else n * 24 * C * C + 4 * n * n * C


# Exercise 5: with rotary positions the score of a query at position m and a key at n depends only on m - n,
# so the cached keys stay valid when the window slides (every position shifts by the same s). This GPT adds a
# learned vector p_m to the token before the projections; shifting the positions changes every cached key.
def rotary_score(q, k, m: int, n: int, base: float = 10000.0) -> float:
    """q . k after rotating each (even, odd) feature pair of q by m * theta_i and of k by n * theta_i."""
    theta = base ** (-np.arange(0, len(q), 2) / len(q))

    def rotate(x, p):
        c, s = np.cos(p * theta), np.sin(p * theta)
        out = np.empty_like(x, dtype=np.float64)
        out[0::2], out[1::2] = x[0::2] * c - x[1::2] * s, x[0::2] * s + x[1::2] * c
        return out
    return float(rotate(q, m) @ rotate(k, n))


def absolute_score(x_q, x_k, positions, w_q, w_k, m: int, n: int) -> float:
    """((x_q + p_m) W_q^T) . ((x_k + p_n) W_k^T) with a learned position table ``positions`` (T, C)."""
    return float(((x_q + positions[m]) @ w_q.T) @ ((x_k + positions[n]) @ w_k.T))
