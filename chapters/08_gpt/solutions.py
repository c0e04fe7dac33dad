"""Solutions to the chapter 08 exercises (tested in tests/chapters/test_ch08_gpt.py)."""
from __future__ import annotations

import math

import numpy as np


# Exercise 1: GPT parameter count from the config (tied head): embeddings V C + T C, per block 12 C^2 + 13 C,
# final LayerNorm 2 C. An untied head adds V C more.
def gpt_num_parameters(V: int, T: int, L: int, C: int, tied: bool = True) -> int:
    return V * C + T * C + L * (12 * C * C + 13 * C) + 2 * C + (0 if tied else V * C)


# Exercise 2: the learning rate at step t of linear warm-up (W steps) then cosine decay to r * peak at step S.
def lr_at(t: int, peak: float, W: int, S: int, r: float = 0.0) -> float:
    if t < W:
        return peak * t / W
    progress = min(1.0, (t - W) / max(1, S - W))
    return peak * (r + (1 - r) * 0.5 * (1 + math.cos(math.pi * progress)))


# Exercise 3: one AdamW step in NumPy (decoupled weight decay), for checking optim.AdamW by hand.
def adamw_step(p, g, m, v, t, lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.01):
    p = p * (1 - lr * wd)
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


# Exercise 4: the loss a model that knows nothing starts from: uniform over V tokens.
def initial_loss(V: int) -> float:
    return math.log(V)


# Exercise 5: clipping by global norm: when the norm of all gradients together exceeds c, scale every one by
# c / norm, so the step keeps its direction and only its length is capped.
def clip_by_global_norm(grads, max_norm: float):
    """(clipped copies of the gradient arrays, their global norm before clipping)."""
    total = float(np.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads)))
    scale = min(1.0, max_norm / (total + 1e-6))
    return [g * scale for g in grads], total
