"""Solutions to the chapter 04 exercises (tested in tests/chapters/test_ch04_embeddings_softmax.py)."""
from __future__ import annotations

import numpy as np

import tinygrad_llm.functional as F
from tinygrad_llm import Tensor


# Exercise 1: cross-entropy by hand. With one-hot targets y_ij, -1/N sum_i sum_j y_ij log p_ij keeps one
# term per row: -log p_{i, t_i}. Subtracting the row maximum before exp keeps it finite.
def cross_entropy_numpy(logits: np.ndarray, targets: np.ndarray) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(targets)), targets].mean())


# Exercise 2: the gradient of the mean cross-entropy w.r.t. the logits is (softmax(z) - onehot(t)) / N.
def cross_entropy_logit_grad(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    p[np.arange(len(targets)), targets] -= 1.0
    return p / len(targets)


# Exercise 3: maximum likelihood for a bigram table. The NLL -1/N sum log P(w_t | w_{t-1}) over a table of
# free probabilities is minimised by the relative counts c(a, b) / c(a, .); this is the floor a neural bigram
# model (which can represent any table when C is large enough) approaches on the training data.
def bigram_mle_nll(ids: np.ndarray, V: int) -> float:
    counts = np.zeros((V, V))
    np.add.at(counts, (ids[:-1], ids[1:]), 1)
    p = counts[ids[:-1], ids[1:]] / counts.sum(axis=1)[ids[:-1]]
    return float(-np.log(p).mean())


# Exercise 4: the embedding lookup as a product with one-hot rows; its gradient w.r.t. the table is
# onehot^T g, i.e. each row collects the gradients of every position that used it.
def embedding_via_onehot(ids: np.ndarray, weight: Tensor) -> Tensor:
    onehot = Tensor(np.eye(weight.shape[0], dtype=weight.dtype)[ids])     # (N, V)
    return F.matmul(onehot, weight)                                        # (N, C)


# Exercise 5: the first update of SGD and of Adam for the same gradient. SGD moves by -lr * g, so its step
# scales with the gradient; Adam's first step is -lr * m_hat / (sqrt(v_hat) + eps) = -lr * g / (|g| + eps),
# about lr * sign(g) for every parameter whatever the gradient's scale. So lr is Adam's step size in parameter
# units (0.1 is a large step for every logit at once), while for SGD it is multiplied by the gradient.
def first_updates(grad: np.ndarray, lr: float, eps: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """(SGD's first update, Adam's first update) of a parameter whose gradient is ``grad``."""
    return -lr * grad, -lr * grad / (np.abs(grad) + eps)
