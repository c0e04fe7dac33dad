"""Solutions to the chapter 15 exercises (the stubs are in exercises.py; tested in
tests/chapters/test_ch15_vision_language.py)."""
from __future__ import annotations

import math

import numpy as np


# Exercise 1: every output token is one patch dotted with every filter; stride P means patches do not overlap.
def patch_embed_loops(x, weight, bias):
    B, C, H, W = x.shape
    D, _, P, _ = weight.shape
    Hp, Wp = H // P, W // P
    out = np.zeros((B, Hp * Wp, D))
    for b in range(B):
        for i in range(Hp):
            for j in range(Wp):
                patch = x[b, :, i * P:(i + 1) * P, j * P:(j + 1) * P]            # (C, P, P)
                for d in range(D):
                    out[b, i * Wp + j, d] = np.sum(weight[d] * patch) + bias[d]
    return out


# Exercise 2: read the r^2 D vector of token (I, J) as an (r, r, D) block and put it back on the S x S grid.
def pixel_unshuffle_tokens(y, r):
    B, M, RD = y.shape
    D, G = RD // (r * r), math.isqrt(M)                                          # G = S / r blocks per side
    return y.reshape(B, G, G, r, r, D).transpose(0, 1, 3, 2, 4, 5).reshape(B, G * r * G * r, D)


# Exercise 3: S = e^t U V^T, L = mean of the row and column cross-entropies; dL/dt = sum(dL/dS * S).
def info_nce_and_dt(x, y, t):
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    v = y / np.linalg.norm(y, axis=1, keepdims=True)
    S = math.exp(t) * u @ v.T
    B = len(S)

    def log_softmax(z, axis):
        z = z - z.max(axis=axis, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))

    lp, lq = log_softmax(S, 1), log_softmax(S, 0)
    loss = -(np.trace(lp) + np.trace(lq)) / (2 * B)
    dS = (np.exp(lp) + np.exp(lq) - 2 * np.eye(B)) / (2 * B)
    return float(loss), float((dS * S).sum())


# Exercise 4: (image / patch)^2 patches, then r^2 of them share one token.
def image_tokens(image_size, patch_size, r):
    return (image_size // patch_size // r) ** 2


# Exercise 5: P(no right item among k) = C(N - m, k) / C(N, k).
def chance_recall(N, m, k):
    return 1 - math.comb(N - m, k) / math.comb(N, k)
