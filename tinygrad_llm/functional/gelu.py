r"""GELU, the Gaussian error linear unit, in its exact (erf) and tanh-approximated forms.

Exact (BERT): $$\mathrm{GELU}(x) = x\,\Phi(x) = \frac{x}{2}\left(1 + \mathrm{erf}\!\left(\frac{x}{\sqrt 2}\right)\right)$$
with derivative $\Phi(x) + x\,\varphi(x)$, $\varphi(x) = e^{-x^2/2}/\sqrt{2\pi}$.

Tanh form (GPT-2): $$\mathrm{GELU}(x) \approx \frac{x}{2}\left(1 + \tanh u\right),\quad u = \sqrt{2/\pi}\,(x + 0.044715\,x^3)$$
with derivative $\frac12(1+\tanh u) + \frac{x}{2}(1-\tanh^2 u)\sqrt{2/\pi}\,(1 + 3\cdot 0.044715\,x^2)$.

On the CPU with kernels on, the tanh form runs as one fused pass (``kernels/linear.py``), saving
only $x$ (2.5x NumPy measured). The erf form stays on NumPy: without a vectorised erf the fused
kernel only matched it.
"""
from __future__ import annotations

import math

from .. import backend, kernels
from ..autograd import Function
from ..backend import array_module

_K = math.sqrt(2.0 / math.pi)
_C = 0.044715


class GeluErf(Function):
    @staticmethod
    def forward(ctx, x):
        phi_cdf = 0.5 * (1.0 + backend.erf(x * (1.0 / math.sqrt(2.0))))
        ctx.save_for_backward(x, phi_cdf)
        return x * phi_cdf

    @staticmethod
    def backward(ctx, g):
        x, cdf = ctx.saved_tensors
        pdf = array_module(x).exp(-0.5 * x * x) * (1.0 / math.sqrt(2.0 * math.pi))
        return (g * (cdf + x * pdf),)


class GeluTanh(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.kernel = kernels.applicable(x)
        if ctx.kernel:                                             # fused Numba kernel
            ctx.save_for_backward(x)
            return kernels.gelu_forward(x, "tanh")
        t = array_module(x).tanh(_K * (x + _C * x * x * x))
        ctx.save_for_backward(x, t)
        return 0.5 * x * (1.0 + t)

    @staticmethod
    def backward(ctx, g):
        if ctx.kernel:
            (x,) = ctx.saved_tensors
            return (kernels.gelu_backward(x, g, "tanh"),)
        x, t = ctx.saved_tensors
        du = _K * (1.0 + 3.0 * _C * x * x)
        return (g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du),)


def gelu(x, approximate="none"):
    """``approximate='none'`` is the exact erf form, ``'tanh'`` the GPT-2 approximation (PyTorch's names)."""
    if approximate == "none":
        return GeluErf.apply(x)
    if approximate == "tanh":
        return GeluTanh.apply(x)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
