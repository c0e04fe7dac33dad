r"""``generate``: the one decoding loop — predict the next-token distribution, choose a token, append it.

$$x_{t+1} \sim p_\theta(\cdot \mid x_{\le t})$$

How a token is chosen is ``sampling.py`` (greedy, temperature, top-k, top-p); ``num_beams > 1`` hands
the prompt to ``beam.py`` instead. A model plugs in with ``next_logits`` and ``reorder_state``
(``generation/__init__.py``); ``GenerationMixin`` gives it the familiar ``model.generate(ids, ...)``.
``generate_stream`` is the same loop handing out each step as it happens (the new token and the logits it
was chosen from), for a caller that shows tokens as they come.
"""
from __future__ import annotations

import numpy as np

from .beam import beam_search
from .sampling import sample_next
from .threads import decode_steps


def _as_ids(ids):
    ids = np.asarray(getattr(ids, "data", ids))
    if ids.ndim == 1:
        ids = ids[None, :]
    if ids.ndim != 2 or ids.shape[1] == 0 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"generate: expected a non-empty integer prompt of shape (T,) or (B, T), got "
                         f"{ids.shape} {ids.dtype}")
    return ids.astype(np.int64)


def _check_args(max_new_tokens, temperature, top_k, top_p, num_beams, num_return_sequences, do_sample):
    if int(max_new_tokens) < 0:
        raise ValueError(f"generate: max_new_tokens must be >= 0, got {max_new_tokens}")
    if temperature < 0:
        raise ValueError(f"generate: temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"generate: top_k must be >= 1, got {top_k}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"generate: top_p must be in (0, 1], got {top_p}")
    if num_beams < 1:
        raise ValueError(f"generate: num_beams must be >= 1, got {num_beams}")
    if num_return_sequences < 1:
        raise ValueError(f"generate: num_return_sequences must be >= 1, got {num_return_sequences}")
    if num_beams > 1 and num_return_sequences > num_beams:
        raise ValueError(f"generate: num_return_sequences={num_return_sequences} > num_beams={num_beams}")
    if num_beams > 1 and do_sample:
        raise ValueError("generate: beam search is deterministic; pass do_sample=False with num_beams > 1")


def generate(model, ids, max_new_tokens=20, temperature=1.0, top_k=None, top_p=None, do_sample=False,
             num_beams=1, num_return_sequences=1, eos_token_id=None, use_cache=True, length_penalty=1.0,
             suppress_tokens=None, rng=None):
    """Continue each prompt row; returns an int64 array (B * num_return_sequences, T + new) of prompt +
    continuation (rows that hit ``eos_token_id`` are padded with it). Tokens in ``suppress_tokens`` are
    never generated. ``rng``: the generator samples are drawn from (default ``backend.rng()``)."""
    _check_args(max_new_tokens, temperature, top_k, top_p, num_beams, num_return_sequences, do_sample)
    ids = _as_ids(ids)
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        if num_beams > 1:
            return _beams_as_rows(model, ids, int(max_new_tokens), num_beams, num_return_sequences, eos_token_id,
                                  use_cache, length_penalty, suppress_tokens)
        ids = np.repeat(ids, num_return_sequences, axis=0)
        return _sample_loop(model, ids, int(max_new_tokens), temperature, top_k, top_p, do_sample, eos_token_id,
                            use_cache, suppress_tokens, rng)
    finally:
        if was_training:
            model.train()


# [start:loop]
def _steps(model, ids, max_new_tokens, temperature, top_k, top_p, do_sample, eos_token_id, use_cache,
           suppress_tokens=None, rng=None):
    """Yield (ids (B, T + t), logits (B, V)) after each step t: the sequences so far and the logits the
    last token was chosen from."""
    done = np.zeros(ids.shape[0], dtype=bool)                          # (B,)
    state = None
    for _ in decode_steps(max_new_tokens, use_cache):                  # range(), plus the thread policy
        logits, state = model.next_logits(ids, state, use_cache=use_cache)     # (B, V)
        if suppress_tokens:
            logits = np.array(logits)
            logits[:, list(suppress_tokens)] = -np.inf
        nxt = sample_next(logits, temperature, top_k, top_p, do_sample, rng)   # (B,)
        if eos_token_id is not None:
            nxt = np.where(done, eos_token_id, nxt)
            done |= nxt == eos_token_id
        ids = np.concatenate([ids, nxt[:, None].astype(np.int64)], axis=1)     # (B, T + 1)
        yield ids, logits
        if eos_token_id is not None and done.all():
            break
# [end:loop]


def _sample_loop(model, ids, max_new_tokens, temperature, top_k, top_p, do_sample, eos_token_id, use_cache,
                 suppress_tokens=None, rng=None):
    for ids, _ in _steps(model, ids, max_new_tokens, temperature, top_k, top_p, do_sample, eos_token_id,
                         use_cache, suppress_tokens, rng):
        pass
    return ids


def generate_stream(model, ids, max_new_tokens=20, temperature=1.0, top_k=None, top_p=None, do_sample=False,
                    eos_token_id=None, use_cache=True, suppress_tokens=None, rng=None):
    """``generate``'s loop one step at a time (no beams): yields ``(ids, logits)`` after each new token,
    ``ids`` (B, T + t) the sequences so far and ``logits`` (B, V) the scores its last column was chosen
    from. Consuming it to the end gives exactly what ``generate`` returns for the same arguments (it *is*
    the loop ``generate`` runs). ``rng`` (a ``numpy.random.Generator``) draws the samples instead of
    ``backend.rng()``, so concurrent callers can each have their own."""
    _check_args(max_new_tokens, temperature, top_k, top_p, 1, 1, do_sample)
    ids = _as_ids(ids)
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        yield from _steps(model, ids, int(max_new_tokens), temperature, top_k, top_p, do_sample, eos_token_id,
                          use_cache, suppress_tokens, rng)
    finally:
        if was_training:
            model.train()


def _beams_as_rows(model, prompt, max_new_tokens, num_beams, n_return, eos, use_cache, length_penalty,
                   suppress_tokens):
    """The ``n_return`` best hypotheses of each prompt as rows of prompt + continuation, padded to one length."""
    results = beam_search(model, prompt, max_new_tokens, num_beams, eos, length_penalty, use_cache,
                          suppress_tokens or ())
    kept = [[y for _, y in hyps[:n_return]] for hyps in results]
    L = max((len(y) for ys in kept for y in ys), default=0)
    pad = eos if eos is not None else 0
    rows = [np.r_[prompt[b], y, np.full(L - len(y), pad, np.int64)] for b, ys in enumerate(kept) for y in ys]
    return np.stack(rows).astype(np.int64)


class GenerationMixin:
    """``model.generate(ids, max_new_tokens, ...)`` for any model with ``next_logits``/``reorder_state``.
    ``default_eos_token_id`` (a property or attribute, None by default) is used when no
    ``eos_token_id`` is given."""

    default_eos_token_id = None

    def generate(self, ids, max_new_tokens=20, **kwargs):
        kwargs.setdefault("eos_token_id", self.default_eos_token_id)
        return generate(self, ids, max_new_tokens, **kwargs)

    def generate_stream(self, ids, max_new_tokens=20, **kwargs):
        """``generate`` one token at a time: yields ``(ids, logits)`` after each step (``decode.generate_stream``)."""
        kwargs.setdefault("eos_token_id", self.default_eos_token_id)
        return generate_stream(self, ids, max_new_tokens, **kwargs)
