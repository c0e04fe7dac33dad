"""Chapter 11 exercises: write the body of each function below, then check your answers with

    pytest tests/chapters/test_ch11_bert.py --answers chapters/11_bert/exercises.py

Each function raises NotImplementedError until you write it. The worked solutions are in solutions.py."""
import numpy as np


def bert_num_parameters(V: int, P: int, types: int, L: int, C: int, I: int, pooler: bool = True) -> int:
    """Exercise 1. Count BERT's parameters from its sizes $V, P, L, C, I$ and check all-MiniLM-L6-v2's 22.7 M
    (`bert_num_parameters`).

    BERT's parameter count from its sizes (vocab V, positions P, token types, L layers, hidden C, intermediate
    I). Embeddings (V + P + types) C + LayerNorm 2C; per layer: Q, K, V, O projections 4(C^2 + C), two
    LayerNorms 4C, feed-forward C I + I + I C + C; pooler C^2 + C."""
    raise NotImplementedError("exercise 1: write bert_num_parameters")


def cosine_matrix(X: np.ndarray) -> np.ndarray:
    """Exercise 2. Write the pairwise cosine-similarity matrix of vectors that are *not* unit length
    (`cosine_matrix`).

    pairwise cosine similarities of the rows of X (not necessarily unit length)."""
    raise NotImplementedError("exercise 2: write cosine_matrix")


def cls_embedding(h: np.ndarray) -> np.ndarray:
    """Exercise 3. Use the `[CLS]` token's final hidden state as the sentence embedding instead of the mean
    (`cls_embedding`); compare the heatmap — MiniLM was trained for mean pooling.

    the alternative sentence embedding, the [CLS] token's final hidden state, L2-normalised."""
    raise NotImplementedError("exercise 3: write cls_embedding")


def linear_warmup_lr(t: int, lr: float, warmup: int, total: int) -> float:
    """Exercise 4. Write the learning rate of step $t$ under linear warm-up and decay and check it against
    `optim.LambdaLR` (`linear_warmup_lr`).

    the learning rate of step t under linear warm-up then linear decay to zero."""
    raise NotImplementedError("exercise 4: write linear_warmup_lr")


def split_by_passage(rows, test_fraction: float = 0.2, seed: int = 0):
    """Exercise 5. Split by passage instead of by play (shuffle all passages, hold out 20 %). Why do both
    classifiers score higher, and why is that number misleading? (`split_by_passage`, `seen_play_fraction`)

    (train, test): the rows shuffled, the last ``test_fraction`` of them held out."""
    raise NotImplementedError("exercise 5: write split_by_passage")


def seen_play_fraction(train, test) -> float:
    """Exercise 5. Split by passage instead of by play (shuffle all passages, hold out 20 %). Why do both
    classifiers score higher, and why is that number misleading? (`split_by_passage`, `seen_play_fraction`)

    The fraction of test rows whose play (third field) also has rows in the training split."""
    raise NotImplementedError("exercise 5: write seen_play_fraction")
