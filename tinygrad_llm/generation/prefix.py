r"""Decoding after a prefix of embeddings (image tokens): one decoder, its state, and the prefix rows together.

A vision-language model hands its language model $P$ vectors $Z$ before any token; every decoding step
conditions on them:
$$x_{t+1} \sim p_\theta(\cdot \mid Z, x_{\le t})$$
``PrefixedDecoder`` turns a decoder whose ``next_logits`` accepts ``prefix=`` (GPT, Llama) into a plain
member of the decoding protocol, so the one sampling loop and the one beam search run unchanged. The
prefix rows travel in the state: when the loop repeats prompt rows (``num_return_sequences``, beams) the
prefix is repeated the same way (``np.repeat``), and ``reorder_state`` reorders it with the KV cache, so
the uncached path sees the right image for every surviving beam too.
"""
from __future__ import annotations

import numpy as np


class PrefixedDecoder:
    def __init__(self, model, prefix):
        p = prefix.data if hasattr(prefix, "data") else prefix
        if getattr(p, "ndim", 0) != 3:
            raise ValueError(f"generate: prefix must have shape (B, P, C), got {getattr(p, 'shape', None)}")
        self.model, self.prefix = model, p

    def next_logits(self, ids, state=None, use_cache=True):
        if state is None:
            rows, B = ids.shape[0], self.prefix.shape[0]
            if rows % B:
                raise ValueError(f"generate: {rows} prompt rows do not fit a prefix of {B} rows")
            state = {"prefix": np.repeat(self.prefix, rows // B, axis=0), "inner": None}
        logits, state["inner"] = self.model.next_logits(ids, state["inner"], use_cache=use_cache,
                                                        prefix=state["prefix"])
        return logits, state

    def reorder_state(self, state, rows):
        if state is not None:
            state["prefix"] = state["prefix"][rows]
            state["inner"] = self.model.reorder_state(state["inner"], rows)
        return state
