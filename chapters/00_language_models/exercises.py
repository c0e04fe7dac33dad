"""Chapter 00 exercises: write the body of each function below, then check your answers with

    pytest tests/chapters/test_ch00_language_models.py --answers chapters/00_language_models/exercises.py

Each function raises NotImplementedError until you write it. The worked solutions are in solutions.py."""
from __future__ import annotations

import math
from collections import Counter
import numpy as np

from tinygrad_llm.models.ngram import NGramLM


def add_k_bigram_log_prob(corpus, sequence, vocab_size: int, k: float) -> float:
    """Exercise 1. Compute the add-k bigram log-probability of a short sequence with nothing but
    `collections.Counter`, and check that it equals `NGramLM(2, V,
    smoothing="add_k").log_prob_sequence(...).sum()`.

    log P(sequence) = log P(w_1) + sum_t log P(w_t | w_{t-1}), each an add-k estimate."""
    raise NotImplementedError("exercise 1: write add_k_bigram_log_prob")


def bits_per_token(ppl: float) -> float:
    r"""Exercise 2. Perplexity in bits: show that $\log_2 \mathrm{PPL}$ is the average number of bits per token, and
    that a uniform model over $V = 64$ tokens needs 6 bits. How many bits per character does the best model
    above need?"""
    raise NotImplementedError("exercise 2: write bits_per_token")


def greedy(model: NGramLM, context, n: int) -> np.ndarray:
    """Exercise 3. Replace sampling by *greedy* decoding (always take the most likely token). Why must the text
    eventually repeat itself with a fixed-order n-gram model? Measure the length of the cycle."""
    raise NotImplementedError("exercise 3: write greedy")


def cycle_length(tokens) -> int:
    """Exercise 3. Replace sampling by *greedy* decoding (always take the most likely token). Why must the text
    eventually repeat itself with a fixed-order n-gram model? Measure the length of the cycle.

    Length of the shortest period with which the end of ``tokens`` repeats (0 if none is found)."""
    raise NotImplementedError("exercise 3: write cycle_length")


def best_lambda(model: NGramLM, val_ids, grid) -> tuple[float, float]:
    r"""Exercise 4. Choose the Jelinek–Mercer weight $\lambda$ on the validation data. Why must it not be chosen on
    the training data?"""
    raise NotImplementedError("exercise 4: write best_lambda")


def add_k_unseen_mass(model: NGramLM, context) -> float:
    r"""Exercise 5. What fraction of the probability after a context $h$ does add-k give to tokens never seen after
    $h$? Derive $(V - N_{1+}(h\,\bullet))\,k / (c(h) + kV)$ and use it to explain the rising add-k curve."""
    raise NotImplementedError("exercise 5: write add_k_unseen_mass")
