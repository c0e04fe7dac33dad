"""Solutions to the chapter 01 exercises (tested in tests/chapters/test_ch01_autograd.py)."""
from __future__ import annotations

import numpy as np

from tinygrad_llm import Function, Tensor
from tinygrad_llm.backend import array_module


# Exercise 1: softplus y = log(1 + e^x) as a Function. Its derivative is the sigmoid.
class Softplus(Function):
    @staticmethod
    def forward(ctx, x):
        xp = array_module(x)
        ctx.save_for_backward(x)
        return xp.logaddexp(0.0, x)          # log(1 + e^x) without overflow for large x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        xp = array_module(x)
        return (g * 0.5 * (1 + xp.tanh(0.5 * x)),)  # sigma(x)


def softplus(x: Tensor) -> Tensor:
    return Softplus.apply(x)


# Exercise 2: f(x, y) = (x*y + x)^2 by hand: df/dx = 2(xy + x)(y + 1), df/dy = 2(xy + x) x
def f_and_manual_grads(x: float, y: float):
    u = x * y + x
    return u * u, 2 * u * (y + 1), 2 * u * x


# Exercise 3: gradients accumulate. After k backward passes of sum(w * x), w.grad == k * x.
def grad_after_k_backwards(x: np.ndarray, k: int) -> np.ndarray:
    w = Tensor(np.zeros_like(x), requires_grad=True)
    for _ in range(k):
        (w * Tensor(x)).sum().backward()
    return w.grad.numpy()


# Exercise 4: finite-difference error vs step size: truncation ~ eps^2, rounding ~ u / eps.
def central_difference_error(f, df, x0: float, eps: float) -> float:
    return abs((f(x0 + eps) - f(x0 - eps)) / (2 * eps) - df(x0))
