"""Chapter 13 exercises: write the body of each function below, then check your answers with

    pytest tests/chapters/test_ch13_evaluation.py --answers chapters/13_evaluation/exercises.py

Each function raises NotImplementedError until you write it. The worked solutions are in solutions.py."""
from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache
import numpy as np

from tinygrad_llm.metrics import sentence_bleu


def prf_from_confusion(cm):
    """Exercise 1. Compute per-class precision, recall and F1 from a confusion matrix alone."""
    raise NotImplementedError("exercise 1: write prf_from_confusion")


def micro_f1_from_confusion(cm) -> float:
    """Exercise 2. Show that for single-label classification micro-precision = micro-recall = micro-F1 = accuracy."""
    raise NotImplementedError("exercise 2: write micro_f1_from_confusion")


def bleu_by_hand(hyp, ref, max_order: int = 4) -> float:
    """Exercise 3. Write unsmoothed BLEU for one tokenised sentence and one reference from scratch with `Counter`."""
    raise NotImplementedError("exercise 3: write bleu_by_hand")


def mean_sentence_bleu(hyps, refs) -> float:
    """Exercise 4. Compute the mean of sentence-level BLEU scores over a corpus and compare it with corpus BLEU.
    Why do they differ, and which one is the BLEU of the papers?"""
    raise NotImplementedError("exercise 4: write mean_sentence_bleu")


def lcs_recursive(a, b) -> int:
    """Exercise 5. Write the LCS of ROUGE-L as a memoised recursion and check it against the table version."""
    raise NotImplementedError("exercise 5: write lcs_recursive")


def perplexity_from_cross_entropy(loss_nats: float) -> float:
    """Exercise 6. A language model's validation cross-entropy loss is 1.5 nats per character. What is its
    perplexity, and how many bits per character is that?"""
    raise NotImplementedError("exercise 6: write perplexity_from_cross_entropy")
