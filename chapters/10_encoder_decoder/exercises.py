"""Chapter 10 exercises: write the body of each function below, then check your answers with

    pytest tests/chapters/test_ch10_encoder_decoder.py --answers chapters/10_encoder_decoder/exercises.py

Each function raises NotImplementedError until you write it. The worked solutions are in solutions.py."""
from __future__ import annotations

import itertools
import numpy as np

import tinygrad_llm.functional as F
from tinygrad_llm import Tensor, no_grad


def label_smoothed_cross_entropy(logits: Tensor, targets, eps: float = 0.1, ignore_index: int = 0) -> Tensor:
    r"""Exercise 1. **Label smoothing.** Replace the one-hot target by $q = (1-\varepsilon)\,\mathrm{onehot}(y) +
    \varepsilon/V$ and write the loss $-\sum_v q_v \log p_v$ with padding ignored. Check it against
    `torch.nn.functional.cross_entropy(..., label_smoothing=ε)`. Why does it hurt the training loss but often
    help BLEU?"""
    raise NotImplementedError("exercise 1: write label_smoothed_cross_entropy")


def field_accuracy(hypotheses, references) -> dict:
    """Exercise 2. **Error analysis.** Write `field_accuracy(hypotheses, references)` giving the accuracy of year,
    month and day separately. Train with `n_train=500` and fewer steps: which field is hardest, and why?"""
    raise NotImplementedError("exercise 2: write field_accuracy")


def exact_best_sequence(model, src, max_len: int, length_penalty: float = 0.0):
    r"""Exercise 3. **How good is beam search?** On a tiny random model, enumerate every output of at most 3 tokens,
    score each by $\log p(y \mid x)$, and find the exact best. Show that a beam wide enough finds it and a
    narrow beam may not.

    (score, ids) of the best sequence of <= max_len tokens + <eos> by log p / |y|^alpha (brute force)."""
    raise NotImplementedError("exercise 3: write exact_best_sequence")


def hard_alignment(weights, src_tokens, tgt_tokens):
    """Exercise 4. **Alignment.** From the cross-attention weights, read off for each output character the source
    word it attends to most (`hard_alignment`). Do the year digits look at the year words?

    weights (T, S) -> [(target token, most-attended source token)]."""
    raise NotImplementedError("exercise 4: write hard_alignment")
