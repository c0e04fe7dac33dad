r"""GELU, the Gaussian error linear unit, in its exact (erf) and tanh-approximated forms.

Exact (BERT):

$$\mathrm{GELU}(x) = x\,\Phi(x) = \frac{x}{2}\left(1 + \mathrm{erf}\!\left(\frac{x}{\sqrt 2}\right)\right)$$

with derivative $\Phi(x) + x\,\varphi(x)$, $\varphi(x) = e^{-x^2/2}/\sqrt{2\pi}$.

Tanh form (GPT-2):

$$\mathrm{GELU}(x) \approx \frac{x}{2}\left(1 + \tanh u\right),\quad u = \sqrt{2/\pi}\,(x + 0.044715\,x^3)$$

with derivative $\frac12(1+\tanh u) + \frac{x}{2}(1-\tanh^2 u)\sqrt{2/\pi}\,(1 + 3\cdot 0.044715\,x^2)$.

``gelu_forward`` / ``gelu_backward`` are the plain-array references of both forms. On the CPU
``_dispatch`` runs the tanh form as one fused Numba pass (``kernels/linear.py``, same arguments;
2.5x NumPy measured). The erf form stays on NumPy: without a vectorised erf the fused kernel only
matched it. The node saves only $x$; the backward recomputes $\Phi$ or $\tanh u$ from it.
"""
from __future__ import annotations

import math

from .. import backend
from ..autograd import Function
from ..backend import array_module
from ._dispatch import dispatch, reference

_K = math.sqrt(2.0 / math.pi)
_C = 0.044715


@reference("gelu_forward")
def gelu_forward(x, approximate="none"):
    """GELU of an array: exact (``'none'``) or the tanh approximation (``'tanh'``)."""
    if approximate == "tanh":
        t = array_module(x).tanh(_K * (x + _C * x * x * x))
        return 0.5 * x * (1.0 + t)
    cdf = 0.5 * (1.0 + backend.erf(x * (1.0 / math.sqrt(2.0))))   # Phi(x)
    return x * cdf


@reference("gelu_backward")
def gelu_backward(x, g, approximate="none"):
    """``g`` times GELU'(x), for the same form as the forward."""
    xp = array_module(x)
    if approximate == "tanh":
        t = xp.tanh(_K * (x + _C * x * x * x))
        du = _K * (1.0 + 3.0 * _C * x * x)
        return g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)
    cdf = 0.5 * (1.0 + backend.erf(x * (1.0 / math.sqrt(2.0))))
    pdf = xp.exp(-0.5 * x * x) * (1.0 / math.sqrt(2.0 * math.pi))
    return g * (cdf + x * pdf)


class Gelu(Function):
    @staticmethod
    def forward(ctx, x, approximate):
        ctx.save_for_backward(x)
        ctx.approximate = approximate
        return dispatch("gelu_forward", x, approximate)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return dispatch("gelu_backward", x, g, ctx.approximate), None


def gelu(x, approximate="none"):
    """``approximate='none'`` is the exact erf form, ``'tanh'`` the GPT-2 approximation (PyTorch's names)."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(x, approximate)
