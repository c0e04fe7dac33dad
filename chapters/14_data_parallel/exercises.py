"""Chapter 14 exercises: write the body of each function below, then check your answers with

    pytest tests/chapters/test_ch14_data_parallel.py --answers chapters/14_data_parallel/exercises.py

Each function raises NotImplementedError until you write it. The worked solutions are in solutions.py."""
from __future__ import annotations

import math
import numpy as np

from tinygrad_llm.distributed import alpha_beta_time, predict_step


def weighted_shard_mean(shard_grads, shard_sizes):
    r"""Exercise 1. Shards of unequal size: show that the shard gradients must be weighted by $|\mathcal B_r|/B$,
    and check it against the gradient of the whole batch."""
    raise NotImplementedError("exercise 1: write weighted_shard_mean")


def naive_allreduce_bytes(M: float, N: int) -> float:
    """Exercise 2. How many bytes go through rank 0 in an allreduce made of a reduce to rank 0 and a broadcast?
    Compare with the ring."""
    raise NotImplementedError("exercise 2: write naive_allreduce_bytes")


def tree_allreduce_time(M, N: int, alpha: float, beta: float):
    r"""Exercise 3. A binary tree allreduce takes $2\lceil\log_2 N\rceil(\alpha + M/\beta)$. Find the message size
    below which it beats the ring. What happens for $N = 2$?"""
    raise NotImplementedError("exercise 3: write tree_allreduce_time")


def ring_tree_crossover(N: int, alpha: float, beta: float) -> float:
    r"""Exercise 3. A binary tree allreduce takes $2\lceil\log_2 N\rceil(\alpha + M/\beta)$. Find the message size
    below which it beats the ring. What happens for $N = 2$?

    The message size (bytes) where tree and ring take equal time: solve 2L(alpha + M/beta) = 2(N-1) alpha + 2
    (N-1)/N M/beta for M, with L = ceil(log2 N). For N = 2 it is 0: both pay two latencies, and the ring sends
    half the message each time, so it is never slower."""
    raise NotImplementedError("exercise 3: write ring_tree_crossover")


def ring_time(M, N, alpha, beta):
    r"""Exercise 3. A binary tree allreduce takes $2\lceil\log_2 N\rceil(\alpha + M/\beta)$. Find the message size
    below which it beats the ring. What happens for $N = 2$?"""
    raise NotImplementedError("exercise 3: write ring_time")


def nodes_where_comm_shows(params, tokens, flops, alpha, beta, max_nodes=4096):
    """Exercise 4. With `predict_step`, find the smallest number of nodes at which communication stops hiding for
    GPT-2 small at 10 Gbit/s, for a node computing at 5 TFLOP/s."""
    raise NotImplementedError("exercise 4: write nodes_where_comm_shows")
