"""Chapter 01 exercises: write the body of each function below, then check your answers with

    pytest tests/chapters/test_ch01_autograd.py --answers chapters/01_autograd/exercises.py

Each function raises NotImplementedError until you write it. The worked solutions are in solutions.py."""
from __future__ import annotations

import numpy as np

from tinygrad_llm import Function, Tensor
from tinygrad_llm.backend import array_module


class Softplus(Function):
    r"""Exercise 1. Write `Softplus`, $y = \log(1 + e^x)$, as a `Function`; its derivative is $\sigma(x)$. Check it
    with `gradcheck`."""

    @staticmethod
    def forward(ctx, x):
        raise NotImplementedError("exercise 1: write Softplus.forward")

    @staticmethod
    def backward(ctx, g):
        raise NotImplementedError("exercise 1: write Softplus.backward")


def softplus(x: Tensor) -> Tensor:
    r"""Exercise 1. Write `Softplus`, $y = \log(1 + e^x)$, as a `Function`; its derivative is $\sigma(x)$. Check it
    with `gradcheck`."""
    raise NotImplementedError("exercise 1: write softplus")


def f_and_manual_grads(x: float, y: float):
    """Exercise 2. Differentiate $f(x, y) = (xy + x)^2$ by hand and compare with `backward`."""
    raise NotImplementedError("exercise 2: write f_and_manual_grads")


def grad_after_k_backwards(x: np.ndarray, k: int) -> np.ndarray:
    r"""Exercise 3. Call `backward` $k$ times on $\sum w \odot x$ without `zero_grad`. What is `w.grad`?"""
    raise NotImplementedError("exercise 3: write grad_after_k_backwards")


def central_difference_error(f, df, x0: float, eps: float) -> float:
    r"""Exercise 4. Measure the central-difference error of $\tanh'$ as a function of $\epsilon$ and find the best
    $\epsilon$ in float64."""
    raise NotImplementedError("exercise 4: write central_difference_error")
