"""Chapter 05 exercises: write the body of each function below, then check your answers with

    pytest tests/chapters/test_ch05_rnn_lstm.py --answers chapters/05_rnn_lstm/exercises.py

Each function raises NotImplementedError until you write it. The worked solutions are in solutions.py."""
from __future__ import annotations

import numpy as np

import tinygrad_llm.functional as F
from tinygrad_llm import Tensor


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def lstm_step_numpy(x, h, c, w_ih, w_hh, b_ih, b_hh):
    """Exercise 1. Write one LSTM step in NumPy from PyTorch-layout weights and check it against `nn.LSTMCell`."""
    raise NotImplementedError("exercise 1: write lstm_step_numpy")


def lstm_num_parameters(input_size: int, hidden_size: int, num_layers: int) -> int:
    r"""Exercise 2. Count the parameters of an $L$-layer LSTM: $\sum_l 4H(C_l + H + 2)$. Check against
    `num_parameters()`."""
    raise NotImplementedError("exercise 2: write lstm_num_parameters")


def forget_gate_product(x, w_ih, b_ih, b_hh):
    r"""Exercise 3. Set $W_{hh} = 0$ so the gates do not depend on the state. Show that $\partial c_T / \partial c_0
    = \prod_t f_t$ and check it against `c0.grad`.

    x (T, B, C) -> prod_t sigmoid(z_f,t), shape (B, H), for an LSTM layer with W_hh = 0."""
    raise NotImplementedError("exercise 3: write forget_gate_product")


def tbptt_pairs_covered(T: int, k: int) -> int:
    """Exercise 4. With chunks of $k$ steps over a sequence of $T$, how many of the $T(T-1)/2$ (later step, earlier
    step) pairs does a gradient connect?"""
    raise NotImplementedError("exercise 4: write tbptt_pairs_covered")


def tanh_rnn_input_gradient_norms(x, w_ih, w_hh, b_ih, b_hh):
    """Exercise 5. Replace the LSTM by a plain tanh RNN (build it from `F.linear` and `F.tanh`) and redraw the
    gradient-flow figure (`tanh_rnn_input_gradient_norms`). How many steps back does the gradient survive?

    x (T, B, C) and PyTorch-layout weights -> (T,) norms of the gradient of sum(h_T) w.r.t. each x_t."""
    raise NotImplementedError("exercise 5: write tanh_rnn_input_gradient_norms")
