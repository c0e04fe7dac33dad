"""Chapter 08 exercises: write the body of each function below, then check your answers with

    pytest tests/chapters/test_ch08_gpt.py --answers chapters/08_gpt/exercises.py

Each function raises NotImplementedError until you write it. The worked solutions are in solutions.py."""
from __future__ import annotations

import math
import numpy as np


def gpt_num_parameters(V: int, T: int, L: int, C: int, tied: bool = True) -> int:
    """Exercise 1. Count a GPT's parameters from $V, T, L, C$ with a tied head, and with an untied one; check
    against `num_parameters()`."""
    raise NotImplementedError("exercise 1: write gpt_num_parameters")


def lr_at(t: int, peak: float, W: int, S: int, r: float = 0.0) -> float:
    """Exercise 2. Write the learning rate at step $t$ of warm-up + cosine as a function and compare it with
    `LambdaLR`."""
    raise NotImplementedError("exercise 2: write lr_at")


def adamw_step(p, g, m, v, t, lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.01):
    """Exercise 3. Write one AdamW step in NumPy and compare three steps with `optim.AdamW`."""
    raise NotImplementedError("exercise 3: write adamw_step")


def initial_loss(V: int) -> float:
    r"""Exercise 4. What loss does an untrained model start from, and why is it close to $\ln V$?"""
    raise NotImplementedError("exercise 4: write initial_loss")


def clip_by_global_norm(grads, max_norm: float):
    """Exercise 5. Write clipping by global norm in NumPy (`clip_by_global_norm`) and check it against
    `optim.clip_grad_norm_`: the update keeps its direction, only its length is capped.

    (clipped copies of the gradient arrays, their global norm before clipping)."""
    raise NotImplementedError("exercise 5: write clip_by_global_norm")
