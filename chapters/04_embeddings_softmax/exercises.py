"""Chapter 04 exercises: write the body of each function below, then check your answers with

    pytest tests/chapters/test_ch04_embeddings_softmax.py --answers chapters/04_embeddings_softmax/exercises.py

Each function raises NotImplementedError until you write it. The worked solutions are in solutions.py."""
from __future__ import annotations

import numpy as np

import tinygrad_llm.functional as F
from tinygrad_llm import Tensor


def cross_entropy_numpy(logits: np.ndarray, targets: np.ndarray) -> float:
    """Exercise 1. Write cross-entropy with NumPy only (log-sum-exp with the row maximum subtracted) and check it
    against `F.cross_entropy` on logits of size 10."""
    raise NotImplementedError("exercise 1: write cross_entropy_numpy")


def cross_entropy_logit_grad(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    r"""Exercise 2. Derive $\partial L/\partial z_{ij} = (p_{ij} - y_{ij})/N$ and check it against `x.grad`."""
    raise NotImplementedError("exercise 2: write cross_entropy_logit_grad")


def bigram_mle_nll(ids: np.ndarray, V: int) -> float:
    r"""Exercise 3. Show that the relative counts minimise the bigram NLL (Lagrange multipliers for $\sum_b P(b\mid
    a) = 1$), and check numerically that any other table scores worse."""
    raise NotImplementedError("exercise 3: write bigram_mle_nll")


def embedding_via_onehot(ids: np.ndarray, weight: Tensor) -> Tensor:
    r"""Exercise 4. Implement the embedding lookup as `onehot(ids) @ E` and check that the forward values and $\bar
    E$ equal `F.embedding`'s. Which one is faster for $V = 50{,}000$, and why?"""
    raise NotImplementedError("exercise 4: write embedding_via_onehot")


def first_updates(grad: np.ndarray, lr: float, eps: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    r"""Exercise 5. Compare the first update of SGD and of Adam for the same gradient (`first_updates`): show that
    Adam's is about $-\eta\,\mathrm{sign}(g)$ for every parameter whatever the gradient's scale, and SGD's is
    $-\eta g$. For which optimiser is $\eta$ a step size in parameter units, and why is $\eta = 0.1$ a large
    step for Adam?

    (SGD's first update, Adam's first update) of a parameter whose gradient is ``grad``."""
    raise NotImplementedError("exercise 5: write first_updates")
