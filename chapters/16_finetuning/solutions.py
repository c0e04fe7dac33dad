"""Chapter 16 exercise solutions (tests/chapters/test_ch16_finetuning.py checks them)."""
from __future__ import annotations

import numpy as np


def lora_parameters(shapes, r: int) -> int:
    """Exercise 1: A is (r, in) and B is (out, r): r (in + out) numbers a layer."""
    return sum(r * (out_f + in_f) for out_f, in_f in shapes)


def _smollm2_linear_shapes(layers: int = 30, C: int = 576, kv: int = 192, I: int = 1536):
    """The (out, in) shapes of SmolLM2-135M's seven projections in each of its blocks."""
    per_block = [(C, C), (kv, C), (kv, C), (C, C), (I, C), (I, C), (C, I)]   # q k v o gate up down
    return per_block * layers


def merged_weight(W: np.ndarray, A: np.ndarray, B: np.ndarray, alpha: float, r: int) -> np.ndarray:
    """Exercise 2: x W^T + s (x A^T) B^T = x (W + s B A)^T, so W' = W + (alpha / r) B A."""
    return W + (alpha / r) * (B @ A)


def training_state_bytes(n_total: int, n_trainable: int, bytes_per_number: int = 4) -> int:
    """Exercise 3: the weights, then a gradient and two AdamW moments per trained number."""
    return bytes_per_number * (n_total + 3 * n_trainable)


def answer_mask(lengths, prompt_lengths) -> np.ndarray:
    """Exercise 4: position t predicts token t + 1, so the answer tokens n_prompt .. L-1 are predicted at
    positions n_prompt - 1 .. L - 2."""
    mask = np.zeros((len(lengths), max(lengths)), dtype=bool)
    for i, (L, n) in enumerate(zip(lengths, prompt_lengths)):
        mask[i, n - 1:L - 1] = True
    return mask


def first_gradients(x: np.ndarray, g: np.ndarray, A: np.ndarray, B: np.ndarray, s: float):
    """Exercise 5: dA = s (g B)^T x is zero while B = 0; dB = s g^T (x A^T) is not (A is random), so the first
    step moves B, and from the second step on A gets a gradient too. (Were A zero as well, both would stay
    zero for ever: the product BA has a saddle at A = B = 0.)"""
    dA = s * (g @ B).T @ x
    dB = s * g.T @ (x @ A.T)
    return dA, dB
