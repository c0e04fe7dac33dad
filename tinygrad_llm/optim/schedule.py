r"""Learning-rate schedules as multipliers of the base rate, $\eta_t = \eta_0 \cdot f(t)$.

- linear warm-up: $f(t) = t / W$ for $t < W$;
- cosine decay after warm-up: $f(t) = r + (1 - r)\,\tfrac12\big(1 + \cos(\pi\,\tfrac{t - W}{T - W})\big)$, floor $r$;
- linear decay after warm-up (the BERT fine-tuning recipe): $f(t) = \max\big(0, \tfrac{T - t}{T - W}\big)$.
"""
from __future__ import annotations

import math


def warmup_cosine(warmup_steps: int, total_steps: int, min_ratio: float = 0.0):
    def f(t):
        if t < warmup_steps:
            return t / max(1, warmup_steps)
        progress = min(1.0, (t - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return f


def warmup_linear(warmup_steps: int, total_steps: int):
    def f(t):
        if t < warmup_steps:
            return t / max(1, warmup_steps)
        return max(0.0, (total_steps - t) / max(1, total_steps - warmup_steps))
    return f


def constant():
    return lambda t: 1.0


class LambdaLR:
    """Sets each group's ``lr = base_lr * f(step)``; call ``step()`` once after each optimizer step."""

    def __init__(self, optimizer, lr_lambda):
        self.optimizer, self.lr_lambda = optimizer, lr_lambda
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.last_step = 0
        self._apply()

    def _apply(self):
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = base * self.lr_lambda(self.last_step)

    def step(self):
        self.last_step += 1
        self._apply()

    def get_last_lr(self):
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self):
        return {"last_step": self.last_step, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, sd):
        self.last_step, self.base_lrs = int(sd["last_step"]), list(sd["base_lrs"])
        self._apply()
