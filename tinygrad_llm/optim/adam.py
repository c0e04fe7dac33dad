r"""Adam and AdamW.

With gradient $g_t$, moments $m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t$, $v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2$
and bias corrections $\hat m_t = m_t/(1-\beta_1^t)$, $\hat v_t = v_t/(1-\beta_2^t)$:
$$\theta_t = \theta_{t-1} - \eta\,\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}$$
Adam folds weight decay into the gradient ($g_t \leftarrow g_t + \lambda\theta_{t-1}$, an L2 penalty).
AdamW decouples it (Loshchilov & Hutter): $\theta_t = \theta_{t-1} - \eta\lambda\theta_{t-1} - \eta\,\hat m_t/(\sqrt{\hat v_t}+\epsilon)$,
so the decay does not pass through the adaptive scaling.
"""
from __future__ import annotations

import math

from ..backend import array_module
from ..functional._dispatch import dispatch, reference
from .optimizer import Optimizer


class Adam(Optimizer):
    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        if lr < 0 or eps < 0 or weight_decay < 0 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"{type(self).__name__}: invalid lr={lr}, betas={betas}, eps={eps}, "
                             f"weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def update(self, p, g, group, state):
        xp = array_module(p.data)
        if "step" not in state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p.data)
            state["exp_avg_sq"] = xp.zeros_like(p.data)
        state["step"] += 1
        dispatch("adam_update", p.data, g, state["exp_avg"], state["exp_avg_sq"], state["step"], group["lr"],
                 *group["betas"], group["eps"], group["weight_decay"], self.decoupled)


@reference("adam_update")
def adam_update_reference(p, g, m, v, t, lr, b1, b2, eps, wd, decoupled):
    """Step ``t`` of Adam (``decoupled=False``) or AdamW on plain arrays: updates the parameter ``p`` and
    its moments ``m``, ``v`` in place and returns them. ``kernels/adam.py`` does the same in one pass."""
    xp = array_module(p)
    if wd and decoupled:
        p *= 1 - lr * wd
    elif wd:
        g = g + wd * p
    # [start:adam-moments]
    m *= b1
    m += (1 - b1) * g
    v *= b2
    v += (1 - b2) * (g * g)
    step_size = lr / (1 - b1 ** t)
    denom = xp.sqrt(v) / math.sqrt(1 - b2 ** t) + eps
    p -= (step_size * (m / denom)).astype(p.dtype, copy=False)
    # [end:adam-moments]
    return p, m, v


class AdamW(Adam):
    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
