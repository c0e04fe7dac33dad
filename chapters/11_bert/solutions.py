"""Chapter 11 exercise solutions."""
import numpy as np


def bert_num_parameters(V: int, P: int, types: int, L: int, C: int, I: int, pooler: bool = True) -> int:
    """Exercise 1: BERT's parameter count from its sizes (vocab V, positions P, token types, L layers,
    hidden C, intermediate I). Embeddings (V + P + types) C + LayerNorm 2C; per layer: Q, K, V, O projections
    4(C^2 + C), two LayerNorms 4C, feed-forward C I + I + I C + C; pooler C^2 + C."""
    emb = (V + P + types) * C + 2 * C
    layer = 4 * (C * C + C) + 4 * C + C * I + I + I * C + C
    return emb + L * layer + (C * C + C if pooler else 0)


def cosine_matrix(X: np.ndarray) -> np.ndarray:
    """Exercise 2: pairwise cosine similarities of the rows of X (not necessarily unit length)."""
    n = np.linalg.norm(X, axis=1, keepdims=True)
    U = X / np.maximum(n, 1e-12)
    return U @ U.T


def cls_embedding(h: np.ndarray) -> np.ndarray:
    """Exercise 3: the alternative sentence embedding, the [CLS] token's final hidden state, L2-normalised."""
    u = h[:, 0]
    return u / np.maximum(np.linalg.norm(u, axis=-1, keepdims=True), 1e-12)


def linear_warmup_lr(t: int, lr: float, warmup: int, total: int) -> float:
    """Exercise 4: the learning rate of step t under linear warm-up then linear decay to zero."""
    if t < warmup:
        return lr * t / max(1, warmup)
    return lr * max(0.0, (total - t) / max(1, total - warmup))


# Exercise 5: split by passage instead of by play. Shuffle all (passage, label, play) rows and hold out a
# fraction: nearly every test passage then comes from a play the classifier was trained on, and it can score
# by recognising the play (its characters' names, places, words) instead of the genre. The held-out-play
# split measures what the chapter asks: does the genre carry over to a play never seen?
def split_by_passage(rows, test_fraction: float = 0.2, seed: int = 0):
    """(train, test): the rows shuffled, the last ``test_fraction`` of them held out."""
    order = np.random.default_rng(seed).permutation(len(rows))
    n_test = int(round(len(rows) * test_fraction))
    return [rows[i] for i in order[n_test:]], [rows[i] for i in order[:n_test]]


def seen_play_fraction(train, test) -> float:
    """The fraction of test rows whose play (third field) also has rows in the training split."""
    plays = {r[2] for r in train}
    return sum(r[2] in plays for r in test) / len(test)
