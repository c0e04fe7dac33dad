"""Solutions to the chapter 10 exercises (tested in tests/chapters/test_ch10_encoder_decoder.py)."""
from __future__ import annotations

import itertools

import numpy as np

import tinygrad_llm.functional as F
from tinygrad_llm import Tensor, no_grad


# Exercise 1: label smoothing. The target distribution puts 1 - eps on the true token and spreads eps
# uniformly over all V tokens: q = (1 - eps) * onehot(y) + eps / V. The loss is the cross-entropy
# -sum_v q_v log p_v, averaged over non-padding positions:
#   L = (1 - eps) * NLL(y) + eps * mean_v(-log p_v)
def label_smoothed_cross_entropy(logits: Tensor, targets, eps: float = 0.1, ignore_index: int = 0) -> Tensor:
    t = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    V = logits.shape[-1]
    logp = F.log_softmax(logits, axis=-1).reshape(-1, V)              # (N, V)
    flat = t.reshape(-1)
    valid = flat != ignore_index                                       # (N,)
    nll = -logp[np.arange(flat.shape[0]), np.where(valid, flat, 0)]   # (N,)
    uniform = -logp.mean(axis=-1)                                      # (N,)
    per_token = nll * (1.0 - eps) + uniform * eps
    return (per_token * valid.astype(logits.dtype)).sum() / max(int(valid.sum()), 1)


# Exercise 2: error analysis by field. An ISO date 'YYYY-MM-DD' has three fields; which one does the
# model get wrong? Malformed outputs (not three dash-separated fields) count as wrong in every field.
def field_accuracy(hypotheses, references) -> dict:
    if len(hypotheses) != len(references):
        raise ValueError(f"field_accuracy: {len(hypotheses)} hypotheses but {len(references)} references")
    right = {"year": 0, "month": 0, "day": 0}
    for h, r in zip(hypotheses, references):
        hf, rf = h.split("-"), r.split("-")
        if len(hf) != 3:
            continue
        for name, a, b in zip(right, hf, rf):
            right[name] += a == b
    n = max(len(references), 1)
    return {k: v / n for k, v in right.items()}


# Exercise 3: beam search is an approximation of argmax_y p(y|x). On a tiny vocabulary, enumerate every
# output of at most L tokens (each followed by <eos>) and find the exact best one, to compare.
def exact_best_sequence(model, src, max_len: int, length_penalty: float = 0.0):
    """(score, ids) of the best sequence of <= max_len tokens + <eos> by log p / |y|^alpha (brute force)."""
    V = model.tgt_embed.weight.shape[0]
    tokens = [v for v in range(V) if v not in (model.pad_id, model.bos_id, model.eos_id)]
    src = np.asarray(src).reshape(1, -1)
    was_training = model.training
    model.eval()
    best = (-np.inf, None)
    with no_grad():
        memory = model.encode(src)
        pad = src == model.pad_id
        for n in range(max_len + 1):
            cands = list(itertools.product(tokens, repeat=n))
            ys = np.array([[model.bos_id, *c] for c in cands], dtype=np.int64)        # (M, n + 1)
            mem = np.broadcast_to(memory.data, (len(cands),) + memory.shape[1:])
            logits = model.decode(ys, Tensor(np.ascontiguousarray(mem)), np.repeat(pad, len(cands), 0)).data
            logits = logits.astype(np.float64)
            logp = logits - logits.max(-1, keepdims=True)
            logp -= np.log(np.exp(logp).sum(-1, keepdims=True))                      # (M, n + 1, V)
            targets = np.concatenate([ys[:, 1:], np.full((len(cands), 1), model.eos_id)], axis=1)
            total = np.take_along_axis(logp, targets[..., None], axis=-1)[..., 0].sum(-1)
            scores = total / (n + 1) ** length_penalty
            i = int(np.argmax(scores))
            if scores[i] > best[0]:
                best = (float(scores[i]), list(cands[i]))
    model.train(was_training)
    return best


# Exercise 4: read an alignment off the cross-attention weights: for each output position, the source
# token it attends to most.
def hard_alignment(weights, src_tokens, tgt_tokens):
    """weights (T, S) -> [(target token, most-attended source token)]."""
    w = np.asarray(weights)
    if w.shape != (len(tgt_tokens), len(src_tokens)):
        raise ValueError(f"hard_alignment: weights of shape {w.shape} do not match {len(tgt_tokens)} target "
                         f"and {len(src_tokens)} source tokens")
    return [(t, src_tokens[j]) for t, j in zip(tgt_tokens, w.argmax(axis=1))]
