"""Solutions to the chapter 05 exercises (tested in tests/chapters/test_ch05_rnn_lstm.py)."""
from __future__ import annotations

import numpy as np

import tinygrad_llm.functional as F
from tinygrad_llm import Tensor


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


# Exercise 1: one LSTM step in NumPy from PyTorch-layout weights (gate order i, f, g, o).
def lstm_step_numpy(x, h, c, w_ih, w_hh, b_ih, b_hh):
    H = h.shape[-1]
    z = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh                 # (B, 4H)
    i, f, o = _sigmoid(z[:, :H]), _sigmoid(z[:, H:2 * H]), _sigmoid(z[:, 3 * H:])
    g = np.tanh(z[:, 2 * H:3 * H])
    c_new = f * c + i * g
    return o * np.tanh(c_new), c_new


# Exercise 2: parameters of an L-layer LSTM: each layer has W_ih (4H, C_l), W_hh (4H, H) and two biases (4H).
def lstm_num_parameters(input_size: int, hidden_size: int, num_layers: int) -> int:
    H = hidden_size
    return sum(4 * H * ((input_size if l == 0 else H) + H + 2) for l in range(num_layers))


# Exercise 3: the cell's "constant error carousel". When the gates do not depend on the state (W_hh = 0),
# c_T = f_T c_{T-1} + (terms without c_{T-1}), so dc_T/dc_0 = prod_t f_t elementwise.
def forget_gate_product(x, w_ih, b_ih, b_hh):
    """x (T, B, C) -> prod_t sigmoid(z_f,t), shape (B, H), for an LSTM layer with W_hh = 0."""
    H = w_ih.shape[0] // 4
    z_f = x @ w_ih[H:2 * H].T + b_ih[H:2 * H] + b_hh[H:2 * H]  # (T, B, H)
    return np.prod(_sigmoid(z_f), axis=0)


# Exercise 4: with truncated BPTT over chunks of length k, a gradient reaches at most k - 1 steps back
# within a chunk; the number of (step, earlier-step) pairs it covers out of T(T-1)/2 is:
def tbptt_pairs_covered(T: int, k: int) -> int:
    full, rest = divmod(T, k)
    return full * k * (k - 1) // 2 + rest * (rest - 1) // 2


# Exercise 5: a plain tanh RNN, h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), built from F.linear and
# F.tanh; the norm of d(sum h_T)/d x_t for every t. Without the cell's additive path the gradient is a product
# of T - t Jacobians diag(1 - h^2) W_hh and falls geometrically: below 1e-8 after a few dozen steps.
def tanh_rnn_input_gradient_norms(x, w_ih, w_hh, b_ih, b_hh):
    """x (T, B, C) and PyTorch-layout weights -> (T,) norms of the gradient of sum(h_T) w.r.t. each x_t."""
    xt = Tensor(x, requires_grad=True)
    w_ih, w_hh, b_ih, b_hh = (Tensor(a) for a in (w_ih, w_hh, b_ih, b_hh))
    h = Tensor(np.zeros((x.shape[1], w_hh.shape[0]), dtype=x.dtype))
    for t in range(x.shape[0]):
        h = F.tanh(F.linear(xt[t], w_ih, b_ih) + F.linear(h, w_hh, b_hh))
    h.sum().backward()
    return np.linalg.norm(xt.grad.numpy().reshape(x.shape[0], -1), axis=1)
