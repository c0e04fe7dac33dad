r"""The Adam / AdamW update of one parameter in one pass over memory.

Per element, with gradient $g$, moments $m, v$, step $t$ (after the increment), rate $\eta$, decay $\lambda$:
$$\theta \leftarrow \theta(1-\eta\lambda)\ \text{(AdamW)}\quad\text{or}\quad g \leftarrow g+\lambda\theta\ \text{(Adam)},$$
$$m \leftarrow \beta_1 m + (1-\beta_1)g,\qquad v \leftarrow \beta_2 v + (1-\beta_2)g^2,\qquad
\theta \leftarrow \theta - \frac{\eta}{1-\beta_1^t}\,\frac{m}{\sqrt{v}/\sqrt{1-\beta_2^t}+\epsilon}$$
(no gradient flows through an optimizer step, so there is no backward). The reference,
``adam_update_reference`` in ``optim/adam.py``, runs these as NumPy statements: each one a pass over
the whole parameter and most of them a temporary array (eight passes, five temporaries). Here each
element is read once (θ, g, m, v) and written once (θ, m, v), in place.
"""
from __future__ import annotations

import math

from numba import njit


@njit(cache=True, fastmath={"contract"})
def _adam(p, g, m, v, decay, l2, b1, b2, step_size, rbc2, eps):
    for i in range(p.shape[0]):
        gi = g[i] + l2 * p[i]
        pi = p[i] * decay
        mi = b1 * m[i] + (1 - b1) * gi
        vi = b2 * v[i] + (1 - b2) * (gi * gi)
        m[i] = mi
        v[i] = vi
        p[i] = pi - step_size * (mi / (math.sqrt(vi) * rbc2 + eps))


def adam_update(p, g, m, v, t, lr, b1, b2, eps, weight_decay, decoupled):
    """Update parameter ``p`` and its moments ``m``, ``v`` in place for step ``t``; returns (p, m, v).
    All four arrays C-contiguous, of one float dtype and one shape (the dispatch rule checks)."""
    dt = p.dtype.type
    decay = dt(1 - lr * weight_decay) if decoupled else dt(1)
    l2 = dt(0) if decoupled else dt(weight_decay)
    _adam(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), decay, l2, dt(b1), dt(b2),
          dt(lr / (1 - b1 ** t)), dt(1 / math.sqrt(1 - b2 ** t)), dt(eps))
    return p, m, v


