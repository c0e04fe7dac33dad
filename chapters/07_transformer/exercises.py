"""Chapter 07 exercises: write the body of each function below, then check your answers with

    pytest tests/chapters/test_ch07_transformer.py --answers chapters/07_transformer/exercises.py

Each function raises NotImplementedError until you write it. The worked solutions are in solutions.py."""
from __future__ import annotations

import numpy as np

from tinygrad_llm import Tensor


def encoder_layer_num_parameters(E: int, F: int) -> int:
    """Exercise 1. Count the parameters of an encoder layer ($4E^2 + 4E$ for attention, $2EF + F + E$ for the FFN,
    $4E$ for the two LayerNorms) and of a decoder layer; check against `num_parameters()`."""
    raise NotImplementedError("exercise 1: write encoder_layer_num_parameters")


def decoder_layer_num_parameters(E: int, F: int) -> int:
    """Exercise 1. Count the parameters of an encoder layer ($4E^2 + 4E$ for attention, $2EF + F + E$ for the FFN,
    $4E$ for the two LayerNorms) and of a decoder layer; check against `num_parameters()`."""
    raise NotImplementedError("exercise 1: write decoder_layer_num_parameters")


def multihead_numpy(x, in_proj_weight, in_proj_bias, out_w, out_b, num_heads):
    """Exercise 2. Write multi-head self-attention in NumPy with a loop over heads from `in_proj_weight`,
    `in_proj_bias` and `out_proj`, and check it against `nn.MultiheadAttention`."""
    raise NotImplementedError("exercise 2: write multihead_numpy")


def sinusoid_shift_matrix(d_model: int, k: int, base: float = 10000.0) -> np.ndarray:
    """Exercise 3. Find the matrix $R_k$ with $P_{p+k} = P_p R_k$ for all $p$ (one 2×2 rotation per feature pair)."""
    raise NotImplementedError("exercise 3: write sinusoid_shift_matrix")


def post_ln(x, f, eps=1e-5):
    """Exercise 4. Write post-LN and pre-LN for one sublayer in NumPy and check a whole encoder layer against them."""
    raise NotImplementedError("exercise 4: write post_ln")


def pre_ln(x, f, eps=1e-5):
    """Exercise 4. Write post-LN and pre-LN for one sublayer in NumPy and check a whole encoder layer against them."""
    raise NotImplementedError("exercise 4: write pre_ln")


def change_before(layer, tgt, memory, t: int, seed: int = 0) -> float:
    r"""Exercise 5. Why does the decoder's cross-attention need no causal mask? Check it: replace the target tokens
    after position $t$ and measure how much the decoder layer's outputs at positions $\le t$ move
    (`change_before`).

    Largest change of a decoder layer's outputs at positions <= t (tgt (B, T, E), batch first) when the target
    positions after t are replaced by noise; self-attention causal, cross-attention unmasked."""
    raise NotImplementedError("exercise 5: write change_before")
