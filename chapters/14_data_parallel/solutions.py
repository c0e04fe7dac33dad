"""Solutions to the chapter 14 exercises (tested in tests/chapters/test_ch14_data_parallel.py)."""
from __future__ import annotations

import math

import numpy as np

from tinygrad_llm.distributed import alpha_beta_time, predict_step


# Exercise 1: shards of unequal size. The global mean loss is (1/B) sum_i l_i = sum_r (|B_r|/B) L_r, so the
# shard gradients must be weighted by |B_r| / B; the plain mean (1/N) sum_r grad L_r is right only when all
# shards are equal.
def weighted_shard_mean(shard_grads, shard_sizes):
    w = np.asarray(shard_sizes, dtype=np.float64)
    if len(shard_grads) != len(w) or (w <= 0).any():
        raise ValueError(f"weighted_shard_mean: {len(shard_grads)} gradients, sizes {list(shard_sizes)}")
    w = w / w.sum()
    return sum(wi * np.asarray(g) for wi, g in zip(w, shard_grads))


# Exercise 2: allreduce through rank 0 (reduce to rank 0, then broadcast). Rank 0 receives N-1 arrays of M
# bytes and sends N-1: it moves 2(N-1)M bytes, N times the ring's 2(N-1)M/N, and its link is the bottleneck.
def naive_allreduce_bytes(M: float, N: int) -> float:
    return 2 * (N - 1) * M


# Exercise 3: a binary tree (reduce up, broadcast down) takes 2 log2(N) steps of the whole message:
# t_tree = 2 ceil(log2 N) (alpha + M / beta). It pays fewer latencies than the ring (2 log2 N < 2(N-1)) but
# sends the whole M at each step. Below the crossover size the tree is faster, above it the ring.
def tree_allreduce_time(M, N: int, alpha: float, beta: float):
    return 2 * math.ceil(math.log2(N)) * (alpha + np.asarray(M, dtype=np.float64) / beta)


def ring_tree_crossover(N: int, alpha: float, beta: float) -> float:
    """The message size (bytes) where tree and ring take equal time: solve
    2L(alpha + M/beta) = 2(N-1) alpha + 2 (N-1)/N M/beta for M, with L = ceil(log2 N). For N = 2 it is 0:
    both pay two latencies, and the ring sends half the message each time, so it is never slower."""
    L = math.ceil(math.log2(N))
    denom = 2 * L - 2 * (N - 1) / N
    return (2 * (N - 1) - 2 * L) * alpha * beta / denom


def ring_time(M, N, alpha, beta):
    return alpha_beta_time(M, N, alpha, beta)


# Exercise 4: the smallest node count at which communication no longer hides behind backward
# (predict_step's exposed time > 0), or None up to max_nodes.
def nodes_where_comm_shows(params, tokens, flops, alpha, beta, max_nodes=4096):
    for N in range(2, max_nodes + 1):
        if predict_step(params, tokens, flops, N, alpha, beta)["exposed_s"] > 0:
            return N
    return None
