r"""Stochastic gradient descent with momentum (PyTorch's formulation).

$$b_t = \mu\, b_{t-1} + (g_t + \lambda\theta_{t-1}),\quad b_1 = g_1 + \lambda\theta_0,\qquad
\theta_t = \theta_{t-1} - \eta\, b_t$$
(with Nesterov: $\theta_t = \theta_{t-1} - \eta\,(g_t + \mu b_t)$). Without momentum: $\theta_t = \theta_{t-1} - \eta g_t$.
"""
from __future__ import annotations

from .optimizer import Optimizer


class SGD(Optimizer):
    def __init__(self, params, lr=1e-2, momentum=0.0, weight_decay=0.0, nesterov=False):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: lr, momentum and weight_decay must be >= 0, got {lr}, {momentum}, {weight_decay}")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov))

    # [start:sgd-update]
    def update(self, p, g, group, state):
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.data
        mu = group["momentum"]
        if mu:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = g.copy()
            else:
                buf = state["momentum_buffer"]
                buf *= mu
                buf += g
            buf = state["momentum_buffer"]
            g = g + mu * buf if group["nesterov"] else buf
        p.data -= (group["lr"] * g).astype(p.dtype, copy=False)
    # [end:sgd-update]
