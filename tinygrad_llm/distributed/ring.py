r"""Ring allreduce written by hand over point-to-point messages: what MPI's ``Allreduce`` does for large
messages, in two phases on N ranks arranged in a ring (rank $r$ sends to $r+1$, receives from $r-1$, mod N).

Cut the array of $M$ bytes into $N$ chunks $c_0, \dots, c_{N-1}$ of $M/N$ bytes.

1. **Reduce-scatter**, steps $s = 0, \dots, N-2$: rank $r$ sends its partial sum of chunk $(r - s) \bmod N$
   to the right and adds the chunk $(r - s - 1) \bmod N$ it receives from the left into its own copy.
   After $N-1$ steps rank $r$ holds the full sum $\sum_q c^{(q)}_{(r+1) \bmod N}$ of one chunk.
2. **All-gather**, steps $s = 0, \dots, N-2$: rank $r$ sends the finished chunk $(r + 1 - s) \bmod N$ to the
   right and stores the finished chunk $(r - s) \bmod N$ it receives. After $N-1$ steps every rank has all.

Every step each rank sends and receives one chunk, so each rank moves
$$2\,(N-1)\cdot\frac{M}{N} = 2\,\frac{N-1}{N}\,M \ \text{bytes}$$
— almost $2M$ however many ranks there are, which is why the ring is bandwidth-optimal. With latency
$\alpha$ and bandwidth $\beta$ per message, $t = 2(N-1)\alpha + 2\frac{N-1}{N}\frac{M}{\beta}$.

**Predicting a data-parallel step** (``predict_step``). A step on each of $N$ nodes computes for
$t_c = 6P\cdot\text{tokens}/F$ (forward + backward, $\approx 6$ FLOPs per parameter and token, at $F$ FLOP/s)
and allreduces $M = 4P$ gradient bytes in $k = \lceil M / \text{bucket}\rceil$ buckets:
$t_{comm} = 2k(N-1)\alpha + 2\frac{N-1}{N}\frac{M}{\beta}$. Buckets overlap backward, about $\frac23 t_c$,
so only the rest shows: $t_{step} = t_c + \max(0, t_{comm} - \frac23 t_c)$, and the scaling efficiency
(throughput per node against one node alone) is $t_c / t_{step}$. Communication stops hiding once
$t_{comm} > \frac23 t_c$, i.e. once a node computes faster than $F^* = \frac23\cdot 6P\cdot\text{tokens}/t_{comm}$.

Each step is one ``Sendrecv`` (a send to the right and a receive from the left posted together): if every
rank first called a blocking ``Send``, large messages (beyond MPI's eager limit) would wait for a matching
receive that no rank has posted yet, and the ring would deadlock.
"""
from __future__ import annotations

import math

import numpy as np


def ring_allreduce(comm, x: np.ndarray) -> tuple[np.ndarray, int]:
    """The elementwise sum of ``x`` over all ranks of ``comm`` (a ``comm.Comm``), and the number of bytes
    this rank sent. Every rank calls it with an array of the same shape and dtype."""
    N, r = comm.size, comm.rank
    out = np.array(x, copy=True).reshape(-1)
    if N == 1:
        return out.reshape(np.shape(x)), 0
    chunks = np.array_split(out, N)                       # views into `out`: chunk sizes differ by at most 1
    right, left = (r + 1) % N, (r - 1) % N
    recv = np.empty(max(len(c) for c in chunks), dtype=out.dtype)
    sent = 0
    # [start:reduce-scatter]
    for s in range(N - 1):
        send_c, recv_c = chunks[(r - s) % N], chunks[(r - s - 1) % N]
        buf = recv[:len(recv_c)]
        comm.comm.Sendrecv(send_c, dest=right, sendtag=s, recvbuf=buf, source=left, recvtag=s)
        recv_c += buf                                     # my partial sum of that chunk grows by one rank
        sent += send_c.nbytes
    # [end:reduce-scatter]
    # [start:all-gather]
    for s in range(N - 1):
        send_c, recv_c = chunks[(r + 1 - s) % N], chunks[(r - s) % N]
        buf = recv[:len(recv_c)]
        comm.comm.Sendrecv(send_c, dest=right, sendtag=N + s, recvbuf=buf, source=left, recvtag=N + s)
        recv_c[...] = buf                                 # a finished chunk: copy, no addition
        sent += send_c.nbytes
    # [end:all-gather]
    return out.reshape(np.shape(x)), sent


def ring_bytes(M: int, N: int) -> float:
    """Bytes each rank sends in a ring allreduce of ``M`` bytes over ``N`` ranks: $2(N-1)M/N$."""
    return 2 * (N - 1) * M / N


def alpha_beta_time(M, N, alpha: float, beta: float):
    """Predicted ring allreduce time (seconds) of ``M`` bytes on ``N`` ranks with latency ``alpha`` (s)
    and bandwidth ``beta`` (bytes/s): $2(N-1)\\alpha + 2\\frac{N-1}{N}\\frac{M}{\\beta}$."""
    return 2 * (N - 1) * alpha + 2 * (N - 1) / N * np.asarray(M, dtype=np.float64) / beta


def fit_alpha_beta(sizes, times, N: int) -> tuple[float, float]:
    """Least-squares $(\\alpha, \\beta)$ of ``alpha_beta_time`` to measured times of messages of ``sizes``
    bytes on ``N`` ranks: $t = a\\,x_1 + b\\,x_2$ with $x_1 = 2(N-1)$, $x_2 = 2\\frac{N-1}{N}M$, $a=\\alpha$,
    $b = 1/\\beta$. Each row is divided by its time, so small and large messages weigh alike (relative error)."""
    M = np.asarray(sizes, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    if M.shape != t.shape or len(M) < 2:
        raise ValueError(f"fit_alpha_beta: needs at least two (size, time) pairs of equal length, got "
                         f"{M.shape} and {t.shape}")
    A = np.stack([np.full_like(M, 2.0 * (N - 1)), 2.0 * (N - 1) / N * M], axis=1) / t[:, None]
    (a, b), *_ = np.linalg.lstsq(A, np.ones_like(t), rcond=None)
    if b <= 0:
        raise ValueError("fit_alpha_beta: the fitted bandwidth is not positive; the timings do not grow with size")
    return float(max(a, 0.0)), float(1.0 / b)


def predict_step(params: int, tokens: int, flops: float, N: int, alpha: float, beta: float,
                 bucket_bytes: float = 25 * 2 ** 20, backward_fraction: float = 2 / 3, bytes_per_grad: int = 4) -> dict:
    """One data-parallel step of a model with ``params`` parameters, ``tokens`` tokens per node and step, on
    ``N`` nodes computing ``flops`` FLOP/s each, over a network of latency ``alpha`` (s) and bandwidth
    ``beta`` (bytes/s). Returns compute, communication, exposed communication and step seconds, the scaling
    efficiency, the bucket count and ``break_even_flops`` $F^*$ (see the module docstring)."""
    if min(params, tokens, flops, N, beta) <= 0 or alpha < 0:
        raise ValueError(f"predict_step: needs positive sizes and rates, got params={params}, tokens={tokens}, "
                         f"flops={flops}, N={N}, alpha={alpha}, beta={beta}")
    M = bytes_per_grad * params
    k = max(1, math.ceil(M / bucket_bytes))
    tc = 6.0 * params * tokens / flops
    tcomm = 2 * k * (N - 1) * alpha + 2 * (N - 1) / N * M / beta
    exposed = max(0.0, tcomm - backward_fraction * tc)
    return {"compute_s": tc, "comm_s": tcomm, "exposed_s": exposed, "step_s": tc + exposed,
            "efficiency": tc / (tc + exposed), "buckets": k,
            "break_even_flops": backward_fraction * 6.0 * params * tokens / tcomm if tcomm > 0 else math.inf}
