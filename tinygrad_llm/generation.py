r"""Autoregressive decoding: greedy, temperature, top-k, top-p (nucleus) sampling and beam search.

Every method repeats one loop — predict the next-token distribution, choose a token, append it:
$$x_{t+1} \sim p_\theta(\cdot \mid x_{\le t}),\qquad
p_i = \frac{e^{z_i/\tau}}{\sum_j e^{z_j/\tau}}$$

- greedy: $x_{t+1} = \arg\max_i z_i$ (the limit $\tau \to 0$);
- temperature $\tau$: $\tau < 1$ sharpens, $\tau > 1$ flattens the distribution;
- top-k: keep the $k$ largest logits, renormalise;
- top-p: keep the smallest set of most likely tokens whose probability sum reaches $p$, renormalise;
- beam search: keep the ``num_beams`` prefixes with the largest $\sum_t \log p(x_t \mid x_{<t})$,
  ranked at the end by that sum divided by $\mathrm{length}^{\alpha}$ (``length_penalty`` $\alpha$).

A model plugs in with ``next_logits(ids, state, use_cache) -> (logits (B, V), state)`` and
``reorder_state(state, index)``: the GPT keeps a KV cache in ``state``, the LSTM its $(h, c)$.
Random draws come from ``backend.rng()``, so ``manual_seed`` makes sampling repeat.
"""
from __future__ import annotations

import numpy as np

from . import backend


def _as_ids(ids):
    ids = np.asarray(getattr(ids, "data", ids))
    if ids.ndim == 1:
        ids = ids[None, :]
    if ids.ndim != 2 or ids.shape[1] == 0 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"generate: expected a non-empty integer prompt of shape (T,) or (B, T), got "
                         f"{ids.shape} {ids.dtype}")
    return ids.astype(np.int64)


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


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
        p = np.exp(_log_softmax(np.take_along_axis(z, order, -1)))
        before = np.cumsum(p, axis=-1) - p                           # mass of the tokens ranked above
        drop = before >= top_p                                       # the first token is always kept
        np.put_along_axis(z, order, np.where(drop, -np.inf, np.take_along_axis(z, order, -1)), -1)
    return z
# [end:filter]


# [start:sample]
def sample_next(logits, temperature=1.0, top_k=None, top_p=None, do_sample=True):
    """One token id per row of ``logits`` (B, V)."""
    if not do_sample or temperature == 0:
        return np.argmax(logits, axis=-1)                            # greedy
    z = filter_logits(np.asarray(logits, np.float64) / temperature, top_k, top_p)
    p = np.exp(_log_softmax(z))                                      # (B, V), zero outside the kept set
    u = backend.rng().random((p.shape[0], 1))                        # (B, 1)
    idx = (np.cumsum(p, axis=-1) < u).sum(axis=-1)                   # inverse-CDF draw
    kept_last = p.shape[-1] - 1 - np.argmax(p[:, ::-1] > 0, axis=-1)
    return np.minimum(idx, kept_last)                                # guard against round-off at the top
# [end:sample]


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
             num_beams=1, num_return_sequences=1, eos_token_id=None, use_cache=True, length_penalty=1.0):
    """Continue each prompt row; returns an int64 array (B * num_return_sequences, T + new) of prompt +
    continuation (rows that hit ``eos_token_id`` are padded with it)."""
    _check_args(max_new_tokens, temperature, top_k, top_p, num_beams, num_return_sequences, do_sample)
    ids = _as_ids(ids)
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        if num_beams > 1:
            return _beam_search(model, ids, int(max_new_tokens), num_beams, num_return_sequences, eos_token_id,
                                use_cache, length_penalty)
        ids = np.repeat(ids, num_return_sequences, axis=0)
        return _sample_loop(model, ids, int(max_new_tokens), temperature, top_k, top_p, do_sample, eos_token_id,
                            use_cache)
    finally:
        if was_training:
            model.train()


# [start:loop]
def _sample_loop(model, ids, max_new_tokens, temperature, top_k, top_p, do_sample, eos_token_id, use_cache):
    done = np.zeros(ids.shape[0], dtype=bool)                          # (B,)
    state = None
    for _ in range(max_new_tokens):
        logits, state = model.next_logits(ids, state, use_cache=use_cache)     # (B, V)
        nxt = sample_next(logits, temperature, top_k, top_p, do_sample)        # (B,)
        if eos_token_id is not None:
            nxt = np.where(done, eos_token_id, nxt)
            done |= nxt == eos_token_id
        ids = np.concatenate([ids, nxt[:, None].astype(np.int64)], axis=1)     # (B, T + 1)
        if eos_token_id is not None and done.all():
            break
    return ids
# [end:loop]


def _beam_search(model, prompt, max_new_tokens, K, n_return, eos, use_cache, length_penalty):
    B, T0 = prompt.shape
    ids = np.repeat(prompt, K, axis=0)                                  # (B*K, T)
    scores = np.tile(np.r_[0.0, np.full(K - 1, -np.inf)], B)            # only beam 0 is live at first
    finished = [[] for _ in range(B)]                                   # (score, tokens) per prompt
    state = None
    for step in range(max_new_tokens):
        logits, state = model.next_logits(ids, state, use_cache=use_cache)   # (B*K, V)
        V = logits.shape[-1]
        cand = (scores[:, None] + _log_softmax(np.asarray(logits, np.float64))).reshape(B, K * V)
        order = np.argsort(-cand, axis=-1, kind="stable")[:, :2 * K]      # (B, 2K) best continuations
        new_rows, new_tok, new_scores = [], [], []
        for b in range(B):
            kept = 0
            for j in order[b]:
                beam, tok, sc = b * K + j // V, j % V, cand[b, j]
                if sc == -np.inf:
                    break
                if eos is not None and tok == eos:
                    seq = np.r_[ids[beam, T0:], tok]
                    finished[b].append((sc / len(seq) ** length_penalty, seq))
                    continue
                new_rows.append(beam); new_tok.append(tok); new_scores.append(sc)
                kept += 1
                if kept == K:
                    break
            while kept < K:                                              # pad with dead beams
                new_rows.append(b * K); new_tok.append(0); new_scores.append(-np.inf)
                kept += 1
        rows = np.array(new_rows)
        ids = np.concatenate([ids[rows], np.array(new_tok, np.int64)[:, None]], axis=1)
        scores = np.array(new_scores)
        state = model.reorder_state(state, rows)
        if eos is not None and all(len(f) >= K for f in finished):   # early stopping: K hypotheses each
            break
    out = []
    L = ids.shape[1] - T0
    for b in range(B):
        hyps = list(finished[b])
        for k in range(K):
            if scores[b * K + k] > -np.inf and L > 0:
                hyps.append((scores[b * K + k] / L ** length_penalty, ids[b * K + k, T0:]))
            elif L == 0:
                hyps.append((0.0, ids[b * K + k, T0:]))
        hyps.sort(key=lambda h: -h[0])
        for _, seq in hyps[:n_return]:
            pad = np.full(L - len(seq), eos if eos is not None else 0, np.int64)
            out.append(np.r_[prompt[b], seq, pad])
    return np.stack(out).astype(np.int64)
