r"""Linear layer with a fused bias + GELU epilogue: $y = \mathrm{gelu}(x W^\top + b)$.

$$h = x W^\top + b,\qquad y = \mathrm{gelu}(h) = h\,\Phi(h) = \tfrac h2\big(1 + \mathrm{erf}(h/\sqrt2)\big)$$
or the tanh form $\tfrac h2\big(1 + \tanh u\big)$, $u = \sqrt{2/\pi}\,(h + 0.044715\,h^3)$. Backward:
$$\bar h = \bar y \odot \mathrm{gelu}'(h),\quad \mathrm{gelu}'(h) = \Phi(h) + h\,\varphi(h)
\ \ \big(\text{tanh form: } \tfrac12(1+\tanh u) + \tfrac h2 (1-\tanh^2 u)\,\sqrt{2/\pi}\,(1 + 3\cdot0.044715\,h^2)\big)$$
$$\bar x = \bar h W,\qquad \bar W = \bar h^\top x,\qquad \bar b = \textstyle\sum_{\text{rows}} \bar h$$

The product itself is BLAS (nothing beats it for one large matrix). What Numba wins is the
epilogue: NumPy evaluates ``0.5*h*(1+erf(h/sqrt2))`` after ``+ b`` as six separate passes over the
(N, out) array with a temporary for each; here one pass per row adds the bias, keeps $h$ for the
backward pass and writes $y$, both threads working (always parallel: it follows a GEMM, so the
array is large). $\tanh u = 1 - 2/(e^{2u}+1)$ uses the
vectorisable :func:`fast_exp.fexp`.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .fast_exp import fexp
from .softmax import PARALLEL_MIN

SQRT_HALF = 1.0 / math.sqrt(2.0)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
TANH_C = math.sqrt(2.0 / math.pi)


# error_model="numpy": a division by zero gives inf as in NumPy. Numba's default ("python") tests
# every divisor to raise ZeroDivisionError, and that branch alone kept the loops below scalar
# (measured 12x slower than the SIMD loop on 2^19 float32 elements).
@njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _tanh(u, one):
    """tanh u = 1 - 2 / (e^{2u} + 1): vectorisable, exact limits +-1 for large |u|."""
    return one - (one + one) / (fexp(u + u) + one)


# [start:gelu-epilogue]
@njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _bias_gelu_row(h, b, y, tanh_form):
    """h += b (in place, kept for backward) and y = gelu(h), for one row. One loop per form, so the
    tanh loop (no library call in it) becomes SIMD code."""
    t = h.dtype.type
    one, half, c, k, r2 = t(1), t(0.5), t(TANH_C), t(0.044715), t(SQRT_HALF)
    if tanh_form:
        for j in range(h.shape[0]):
            v = h[j] + b[j]
            h[j] = v
            y[j] = half * v * (one + _tanh(c * (v + k * v * v * v), one))
    else:
        for j in range(h.shape[0]):
            v = h[j] + b[j]
            h[j] = v
            y[j] = half * v * (one + t(math.erf(v * r2)))
# [end:gelu-epilogue]


@njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _gelu_grad_row(h, gy, gh, tanh_form):
    """gh = gy * gelu'(h), for one row."""
    t = h.dtype.type
    one, half, c, k, r2, ip = t(1), t(0.5), t(TANH_C), t(0.044715), t(SQRT_HALF), t(INV_SQRT_2PI)
    if tanh_form:
        for j in range(h.shape[0]):
            v = h[j]
            th = _tanh(c * (v + k * v * v * v), one)
            gh[j] = gy[j] * (half * (one + th) + half * v * (one - th * th) * c * (one + t(3) * k * v * v))
    else:
        for j in range(h.shape[0]):
            v = h[j]
            cdf = half * (one + t(math.erf(v * r2)))
            gh[j] = gy[j] * (cdf + v * ip * fexp(-half * v * v))


@njit(cache=True)
def _bias_gelu_serial(h, b, y, tanh_form):
    for i in range(h.shape[0]):
        _bias_gelu_row(h[i], b, y[i], tanh_form)


@njit(cache=True, parallel=True)
def _bias_gelu_parallel(h, b, y, tanh_form):
    for i in prange(h.shape[0]):
        _bias_gelu_row(h[i], b, y[i], tanh_form)


@njit(cache=True)
def _gelu_grad_serial(h, gy, gh, tanh_form):
    for i in range(h.shape[0]):
        _gelu_grad_row(h[i], gy[i], gh[i], tanh_form)


@njit(cache=True, parallel=True)
def _gelu_grad_parallel(h, gy, gh, tanh_form):
    for i in prange(h.shape[0]):
        _gelu_grad_row(h[i], gy[i], gh[i], tanh_form)


def _bias_gelu(h, b, y, tanh_form):
    """(N, C) rows; the thread pool only wakes for arrays big enough to pay for it (PARALLEL_MIN)."""
    (_bias_gelu_parallel if h.size >= PARALLEL_MIN else _bias_gelu_serial)(h, b, y, tanh_form)


def _gelu_grad(h, gy, gh, tanh_form):
    (_gelu_grad_parallel if h.size >= PARALLEL_MIN else _gelu_grad_serial)(h, gy, gh, tanh_form)


def _prep(x, w, b, op):
    x, w = np.asarray(x), np.asarray(w)
    if x.dtype not in (np.float32, np.float64) or w.dtype != x.dtype:
        raise TypeError(f"{op}: x and w must be both float32 or both float64, got {x.dtype} and {w.dtype}")
    if w.ndim != 2 or x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"{op}: x (..., in) and w (out, in) do not fit: {x.shape} and {w.shape}")
    bias = np.zeros(w.shape[0], x.dtype) if b is None else np.ascontiguousarray(b, dtype=x.dtype)
    if bias.shape != (w.shape[0],):
        raise ValueError(f"{op}: bias must have shape ({w.shape[0]},), got {bias.shape}")
    return x.reshape(-1, x.shape[-1]), w, bias


def gelu_forward(h, approximate="none"):
    """gelu(h) elementwise (the epilogue without a bias)."""
    h = np.asarray(h)
    h2 = np.array(h.reshape(-1, h.shape[-1]) if h.ndim else h.reshape(1, 1), order="C", copy=True)
    y = np.empty_like(h2)
    _bias_gelu(h2, np.zeros(h2.shape[1], h2.dtype), y, approximate == "tanh")
    return y.reshape(h.shape)


def gelu_backward(h, gy, approximate="none"):
    h = np.asarray(h)
    shape2 = (-1, h.shape[-1]) if h.ndim else (1, 1)
    h2 = np.ascontiguousarray(h).reshape(shape2)
    gy2 = np.ascontiguousarray(np.broadcast_to(gy, h.shape), dtype=h.dtype).reshape(shape2)
    gh = np.empty_like(h2)
    _gelu_grad(h2, gy2, gh, approximate == "tanh")
    return gh.reshape(h.shape)


def linear_bias_gelu(x, w, b=None, approximate="none"):
    """(y, h): y = gelu(x W^T + b) with W (out, in) as in PyTorch; h is the pre-activation."""
    x2, w, bias = _prep(x, w, b, "linear_bias_gelu")
    h = np.matmul(x2, w.T)                                  # (N, out), BLAS
    y = np.empty_like(h)
    if h.size:
        _bias_gelu(h, bias, y, approximate == "tanh")
    out_shape = np.shape(x)[:-1] + (w.shape[0],)
    return y.reshape(out_shape), h.reshape(out_shape)


def linear_bias_gelu_backward(x, w, h, gy, approximate="none"):
    """(dx, dw, db) of y = gelu(x W^T + b), from the saved x, w, pre-activation h and dL/dy."""
    x2, w, _ = _prep(x, w, None, "linear_bias_gelu_backward")
    h2 = np.ascontiguousarray(h).reshape(-1, w.shape[0])
    gy2 = np.ascontiguousarray(gy, dtype=x2.dtype).reshape(-1, w.shape[0])
    gh = np.empty_like(h2)
    if gh.size:
        _gelu_grad(h2, gy2, gh, approximate == "tanh")     # (N, out)
    dx = (gh @ w).reshape(np.shape(x))                      # (N, in)
    dw = gh.T @ x2                                          # (out, in)
    db = gh.sum(axis=0)
    return dx, dw, db

