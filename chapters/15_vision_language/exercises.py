"""Chapter 15 exercises: write the body of each function below, then check your answers with

    pytest tests/chapters/test_ch15_vision_language.py --answers chapters/15_vision_language/exercises.py

Each function raises NotImplementedError until you write it. The worked solutions are in solutions.py."""
from __future__ import annotations

import math
import numpy as np


def patch_embed_loops(x, weight, bias):
    """Exercise 1. Write the patch embedding with explicit loops over patches and filters, and check it against
    `nn.PatchEmbedding` (and so against a strided convolution)."""
    raise NotImplementedError("exercise 1: write patch_embed_loops")


def pixel_unshuffle_tokens(y, r):
    """Exercise 2. Write the inverse of pixel shuffle, and check that it is also pixel shuffle's backward."""
    raise NotImplementedError("exercise 2: write pixel_unshuffle_tokens")


def info_nce_and_dt(x, y, t):
    r"""Exercise 3. Write InfoNCE in NumPy together with $\partial\mathcal L/\partial t$, and compare both with
    `F.info_nce` and its gradient."""
    raise NotImplementedError("exercise 3: write info_nce_and_dt")


def image_tokens(image_size, patch_size, r):
    r"""Exercise 4. How many image tokens does the decoder read for a $512 \times 512$ image with $16 \times 16$
    patches and $r = 4$? Write the formula."""
    raise NotImplementedError("exercise 4: write image_tokens")


def chance_recall(N, m, k):
    """Exercise 5. Derive the chance level of Recall@k when $m$ of $N$ items are right, and check it by simulation."""
    raise NotImplementedError("exercise 5: write chance_recall")
