"""Chapter 16 exercises: fill in each function, then check yourself with
``python -m pytest tests/chapters/test_ch16_finetuning.py --exercises`` (solutions: ``solutions.py``)."""
from __future__ import annotations

import numpy as np


def lora_parameters(shapes, r: int) -> int:
    """Exercise 1: how many numbers LoRA of rank ``r`` trains on linear layers of the given
    (out_features, in_features) ``shapes``. Check it on SmolLM2 (every projection of 30 blocks, r = 8)."""
    raise NotImplementedError


def merged_weight(W: np.ndarray, A: np.ndarray, B: np.ndarray, alpha: float, r: int) -> np.ndarray:
    """Exercise 2: the ordinary weight W' with x W'^T = x W^T + (alpha/r) (x A^T) B^T for every x."""
    raise NotImplementedError


def training_state_bytes(n_total: int, n_trainable: int, bytes_per_number: int = 4) -> int:
    """Exercise 3: bytes of what training keeps besides activations: every weight, plus a gradient and
    AdamW's two moments for every *trained* number. Compare full fine-tuning of SmolLM2 with LoRA."""
    raise NotImplementedError


def answer_mask(lengths, prompt_lengths) -> np.ndarray:
    """Exercise 4: the (B, max(lengths)) boolean mask of the positions whose *next* token is an answer token,
    for right-padded rows of ``lengths`` tokens whose first ``prompt_lengths`` tokens are the prompt."""
    raise NotImplementedError


def first_gradients(x: np.ndarray, g: np.ndarray, A: np.ndarray, B: np.ndarray, s: float):
    """Exercise 5: the gradients (dA, dB) of a LoRA layer for inputs ``x`` (N, C_in) and output gradient
    ``g`` (N, C_out). With B = 0 (the start), which of the two is zero, and why does training still move?"""
    raise NotImplementedError
