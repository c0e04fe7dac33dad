r"""Data parallelism the way PyTorch's ``DistributedDataParallel`` does it: every rank holds the whole model,
reads its own shard of each global batch, and the gradients are averaged over the ranks before the step.

**Why the average of per-rank gradients is the gradient of the global loss.** A global batch $\mathcal B$ of
$B$ examples is cut into $N$ equal shards $\mathcal B_r$ of $B/N$. The loss is a mean over examples, so
$$\mathcal L(\theta;\mathcal B) = \frac1B\sum_{i\in\mathcal B}\ell_i(\theta)
   = \frac1N\sum_{r=0}^{N-1}\underbrace{\frac{N}{B}\sum_{i\in\mathcal B_r}\ell_i(\theta)}_{\mathcal L_r(\theta)},
\qquad
\nabla_\theta\mathcal L = \frac1N\sum_{r}\nabla_\theta\mathcal L_r$$
because the gradient is linear. Each rank computes $\nabla\mathcal L_r$ on its shard; one allreduce (sum)
and a division by $N$ give every rank $\nabla\mathcal L$, so every rank takes the same optimizer step and the
replicas stay equal — the same step one process would take on the whole batch (up to the order of
floating-point additions). It needs equal shard sizes (or weights $|\mathcal B_r|/B$) and the same
parameters on every rank at the start: rank 0's are broadcast.

**Buckets and overlap.** Backward produces gradients from the last layer to the first. Parameters are put
into buckets of about ``bucket_cap_mb`` megabytes in reverse parameter order; a post-accumulate hook
(``Tensor.register_post_accumulate_grad_hook``) counts the gradients of a bucket as they become final, and
when a bucket is complete its gradients are copied into one flat buffer and a non-blocking ``Iallreduce``
starts, while backward goes on with earlier layers. ``finish()`` (called after ``backward``) waits for all
buckets, divides by $N$ and writes the mean back into each ``.grad``. Buckets start strictly in order, so
every rank issues the same collectives in the same order (MPI matches non-blocking collectives by order).
A bucket of $M$ bytes costs $t(M, N) = 2(N-1)\alpha + 2\frac{N-1}{N}M/\beta$: few large buckets pay the
latency $\alpha$ rarely, small ones start earlier and hide more behind backward.

**``no_sync()``** skips the allreduce: gradients accumulate locally over several micro-batches, and the
first backward outside the context reduces the sum (gradient accumulation costs one allreduce per step).
"""
from __future__ import annotations

import contextlib
import json
import time

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor


def broadcast_parameters(comm, model):
    """Copy rank 0's parameters (and buffers) to every rank, in place."""
    with no_grad():
        for _, p in model.named_parameters():
            comm.bcast_(p.data)
        for _, b in getattr(model, "named_buffers", lambda: [])():
            if isinstance(b, np.ndarray) and b.flags.c_contiguous and b.flags.writeable:
                comm.bcast_(b)


def check_agreement(comm, model, config: dict | None = None):
    """Every rank must build the same model with the same training config; else a ValueError on every rank
    naming the first difference (no rank waits forever for a collective the others never call)."""
    mine = {"params": [[n, list(p.shape), str(p.dtype)] for n, p in model.named_parameters()],
            "config": json.loads(json.dumps(config or {}, default=str))}
    everyone = comm.allgather_json(mine)
    ref = everyone[0]
    for r, other in enumerate(everyone[1:], start=1):
        if other["params"] != ref["params"]:
            a, b = ref["params"], other["params"]
            if len(a) != len(b):
                raise ValueError(f"data parallel: rank 0 has {len(a)} parameters, rank {r} has {len(b)}")
            i = next(i for i in range(len(a)) if a[i] != b[i])
            raise ValueError(f"data parallel: parameter {a[i][0]} has shape {tuple(a[i][1])} ({a[i][2]}) on rank 0 "
                             f"but {b[i][0]} has shape {tuple(b[i][1])} ({b[i][2]}) on rank {r}")
        a, b = _flat(ref["config"]), _flat(other["config"])
        if a != b:
            k = next(k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))
            raise ValueError(f"data parallel: config {k} is {a.get(k)!r} on rank 0 but {b.get(k)!r} on rank {r}")


def _flat(d: dict, prefix: str = "") -> dict:
    """``{"train": {"lr": 1}}`` -> ``{"train.lr": 1}``, so a difference names the one setting."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


class _Bucket:
    __slots__ = ("params", "index", "buffer", "pending", "request", "launched")

    def __init__(self, params, index, dtype):
        self.params, self.index = params, index
        self.buffer = np.empty(sum(p.data.size for p in params), dtype=dtype)
        self.pending, self.request, self.launched = len(params), None, False


class DistributedDataParallel:
    """Wrap ``model`` (a ``Module``) for data-parallel training on ``comm`` (``comm.Comm``).

    ``bucket_cap_mb``: bucket size in megabytes (0: one bucket per parameter, i.e. no bucketing);
    ``overlap=False``: no hooks, every bucket is reduced with a blocking allreduce in ``finish()`` after
    backward (the baseline for measuring overlap); ``config``: a dict that must be equal on all ranks.
    Use: ``loss.backward(); ddp.finish(); optimizer.step()``."""

    def __init__(self, model, comm, bucket_cap_mb: float = 25.0, overlap: bool = True, broadcast: bool = True,
                 config: dict | None = None):
        if bucket_cap_mb < 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be >= 0, got {bucket_cap_mb}")
        self.module, self.comm, self.overlap = model, comm, overlap
        check_agreement(comm, model, {**(config or {}), "bucket_cap_mb": bucket_cap_mb, "overlap": overlap})
        if broadcast:
            broadcast_parameters(comm, model)
        params = [p for p in model.parameters() if p.requires_grad]
        self.params = params
        # [start:buckets]
        cap = bucket_cap_mb * 2 ** 20
        self.buckets, current, size = [], [], 0
        for p in reversed(params):                         # backward meets the last parameters first
            if current and (size + p.data.nbytes > cap or p.dtype != current[0].dtype):
                self.buckets.append(_Bucket(current, len(self.buckets), current[0].dtype))
                current, size = [], 0
            current.append(p)
            size += p.data.nbytes
        if current:
            self.buckets.append(_Bucket(current, len(self.buckets), current[0].dtype))
        # [end:buckets]
        self._bucket_of = {id(p): b for b in self.buckets for p in b.params}
        self._index_of = {id(p): i for i, p in enumerate(params)}
        self._next = 0                                     # the next bucket to launch (strict order)
        self._sync = True
        self.events = []                                   # ("ready", param index) / ("launch", bucket), this step
        self.comm_time = 0.0                               # seconds spent inside MPI calls, summed over steps
        self._handles = [p.register_post_accumulate_grad_hook(self._on_grad_ready) for p in params] if overlap else []

    def __call__(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def parameters(self):
        return self.module.parameters()

    @contextlib.contextmanager
    def no_sync(self):
        """Backward inside this context accumulates gradients locally without communicating."""
        old, self._sync = self._sync, False
        try:
            yield
        finally:
            self._sync = old

    # [start:hook]
    def _on_grad_ready(self, p):
        if not self._sync:
            return
        self.events.append(("ready", self._index_of[id(p)]))
        b = self._bucket_of[id(p)]
        b.pending -= 1
        while self._next < len(self.buckets) and self.buckets[self._next].pending == 0:
            self._launch(self.buckets[self._next])       # complete buckets start in order
            self._next += 1
        self._progress()
    # [end:hook]

    def _fill(self, b):
        off = 0
        for p in b.params:
            n = p.data.size
            if p.grad is None:
                b.buffer[off:off + n] = 0                  # no gradient on this rank: it contributes zero
            else:
                b.buffer[off:off + n] = p.grad.data.reshape(-1)
            off += n

    def _launch(self, b):
        self._fill(b)
        t0 = time.perf_counter()
        b.request = self.comm.iallreduce_(b.buffer)
        self.comm_time += time.perf_counter() - t0
        b.launched = True
        self.events.append(("launch", b.index))

    def _progress(self):
        """Let MPI move in-flight messages along (MPICH progresses non-blocking collectives inside MPI calls)."""
        reqs = [b.request for b in self.buckets if b.launched and b.request is not None]
        if reqs:
            t0 = time.perf_counter()
            self.comm.MPI.Request.Testall(reqs)
            self.comm_time += time.perf_counter() - t0

    def finish(self):
        """Wait for every bucket, write the mean gradient into each ``.grad``; every rank then holds the same
        gradients. Buckets whose hooks did not all fire (parameters without a gradient) start here, in order."""
        if not self._sync:
            return
        N = self.comm.size
        t0 = time.perf_counter()
        if self.overlap:
            for b in self.buckets[self._next:]:
                self._launch(b)
            self.comm.MPI.Request.Waitall([b.request for b in self.buckets])
        else:
            for b in self.buckets:
                self._fill(b)
                self.comm.comm.Allreduce(self.comm.MPI.IN_PLACE, b.buffer, op=self.comm.MPI.SUM)
        self.comm_time += time.perf_counter() - t0
        with no_grad():
            for b in self.buckets:
                b.buffer /= N
                off = 0
                for p in b.params:
                    n = p.data.size
                    mean = b.buffer[off:off + n].reshape(p.shape)
                    if p.grad is None:
                        p.grad = Tensor(mean.copy())
                    else:
                        np.copyto(p.grad.data, mean)
                    off += n
                b.pending, b.request, b.launched = len(b.params), None, False
        self._next = 0

    def start_step(self):
        """Forget the previous step's event record (the trainer calls it before each step)."""
        self.events = []

    def remove_hooks(self):
        for h in self._handles:
            h.remove()
        self._handles = []
