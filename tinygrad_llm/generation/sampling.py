r"""Choosing the next token from its logits: greedy, temperature, top-k and top-p (nucleus) sampling.

The logits $z$ become probabilities with a temperature $\tau$:
$$p_i = \frac{e^{z_i/\tau}}{\sum_j e^{z_j/\tau}}$$

- greedy: $x_{t+1} = \arg\max_i z_i$ (the limit $\tau \to 0$);
- temperature $\tau$: $\tau < 1$ sharpens, $\tau > 1$ flattens the distribution;
- top-k: keep the $k$ largest logits, renormalise;
- top-p: keep the smallest set of most likely tokens whose probability sum reaches $p$, renormalise.

``sampling_probs`` is that distribution itself (what a learner plots; what ``sample_next`` draws from).
Random draws come from ``backend.rng()`` (or a generator passed as ``rng``), so ``manual_seed`` makes
sampling repeat.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..functional.softmax import log_softmax_reference


# [start:filter]
def filter_logits(logits, top_k=None, top_p=None):
    """Set every logit outside the top-k / top-p set to -inf. ``logits`` is (B, V), float64."""
    z = np.array(logits, dtype=np.float64)                           # (B, V)
    V = z.shape[-1]
    if top_k is not None and 0 < top_k < V:
        kth = np.partition(z, V - top_k, axis=-1)[:, V - top_k, None]  # (B, 1): the k-th largest
        z[z < kth] = -np.inf
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-z, axis=-1, kind="stable")               # (B, V), most likely first
        p = np.exp(log_softmax_reference(np.take_along_axis(z, order, -1), -1))
        before = np.cumsum(p, axis=-1) - p                           # mass of the tokens ranked above
        drop = before >= top_p                                       # the first token is always kept
        np.put_along_axis(z, order, np.where(drop, -np.inf, np.take_along_axis(z, order, -1)), -1)
    return z
# [end:filter]


# [start:sample]
def sampling_probs(logits, temperature=1.0, top_k=None, top_p=None):
    """The distribution the next token is drawn from, (B, V): softmax of the filtered logits / T.
    T = 0 is greedy: all the mass on the argmax."""
    z = np.asarray(logits, np.float64)                               # (B, V)
    if temperature == 0:
        p = np.zeros_like(z)
        np.put_along_axis(p, np.argmax(z, axis=-1)[:, None], 1.0, axis=-1)
        return p
    z = filter_logits(z / temperature, top_k, top_p)
    return np.exp(log_softmax_reference(z, -1))                      # zero outside the kept set


def sample_next(logits, temperature=1.0, top_k=None, top_p=None, do_sample=True, rng=None):
    """One token id per row of ``logits`` (B, V); ``rng`` defaults to ``backend.rng()``."""
    if not do_sample or temperature == 0:
        return np.argmax(logits, axis=-1)                            # greedy
    p = sampling_probs(logits, temperature, top_k, top_p)            # (B, V)
    u = (rng or backend.rng()).random((p.shape[0], 1))               # (B, 1)
    idx = (np.cumsum(p, axis=-1) < u).sum(axis=-1)                   # inverse-CDF draw
    kept_last = p.shape[-1] - 1 - np.argmax(p[:, ::-1] > 0, axis=-1)
    return np.minimum(idx, kept_last)                                # guard against round-off at the top
# [end:sample]
