r"""ZeRO stage 1 (Rajbhandari et al., 2020): the optimizer state is sharded across the ranks.

Plain data parallelism keeps a full copy of Adam's two moments $m, v$ on every rank: $2P$ numbers per rank
for $P$ parameters, the same on all $N$ ranks. ZeRO-1 lays all parameters end to end in one flat vector of
length $P$ (padded to $P' = N\lceil P/N\rceil$) and makes rank $r$ the owner of the slice
$[rS, (r+1)S)$ with $S = P'/N$. One step:

1. **reduce-scatter** the gradients: rank $r$ receives only its slice of $\sum_q g^{(q)}$, divided by $N$
   (the mean gradient, as in ``ddp.py``, but only where it owns the parameters);
2. clip with the global norm $\lVert g\rVert = \sqrt{\sum_r \lVert g_{[r]}\rVert^2}$ (one allreduce of a
   scalar);
3. rank $r$ runs the ordinary optimizer (AdamW) on its slice only, so it keeps $m, v$ for $S \approx P/N$
   numbers: optimizer memory per rank is $2P/N$ instead of $2P$;
4. **all-gather** the updated slices, so every rank again holds all parameters.

Reduce-scatter + all-gather move the same $2\frac{N-1}{N}M$ bytes per rank as one ring allreduce
(``ring.py``), so the memory saving costs no extra communication. Each element's update is the same
AdamW arithmetic as in plain data parallelism, so the parameters agree to rounding.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import no_grad
from ..optim import AdamW
from ..tensor import Tensor


class ZeroRedundancyOptimizer:
    """``optimizer_class`` (AdamW by default) over this rank's slice of the parameters. ``params`` is a list of
    parameters or of groups (``{"params": [...], option: value}``), as for any optimizer; ``max_norm``
    clips the global gradient norm (the clipping has to see every rank's slice, so it lives here).
    Use like an optimizer after plain ``loss.backward()``: ``zero_grad()``, ``step()``, ``param_groups``."""

    def __init__(self, params, comm, optimizer_class=AdamW, max_norm: float | None = None, **defaults):
        params = list(params)
        if not params:
            raise ValueError("ZeroRedundancyOptimizer: got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.comm, self.max_norm = comm, max_norm
        self.params = [p for g in groups for p in g["params"]]
        for p in self.params:
            if not p.data.flags.c_contiguous:
                raise ValueError(f"ZeroRedundancyOptimizer: a parameter of shape {p.shape} is not contiguous")
        dtypes = {p.dtype for p in self.params}
        if len(dtypes) != 1:
            raise ValueError(f"ZeroRedundancyOptimizer: all parameters must share one dtype, got {sorted(map(str, dtypes))}")
        self.dtype = dtypes.pop()
        N, r = comm.size, comm.rank
        self.numel = sum(p.data.size for p in self.params)
        self.shard = -(-self.numel // N)                    # S = ceil(P / N)
        lo_r, hi_r = r * self.shard, (r + 1) * self.shard
        # [start:shard]
        self.pieces = []                                    # (param, start in param, end in param, piece tensor)
        inner_groups, off = [], 0
        for g in groups:
            mine = []
            for p in g["params"]:
                lo, hi = max(off, lo_r), min(off + p.data.size, hi_r)
                if lo < hi:                                 # this parameter overlaps my slice
                    piece = Tensor(np.zeros(0, dtype=self.dtype), requires_grad=True)
                    piece.data = p.data.reshape(-1)[lo - off:hi - off]   # a view: updating it updates p
                    self.pieces.append((p, lo - off, hi - off, piece))
                    mine.append(piece)
                off += p.data.size
            inner_groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": mine})
        # [end:shard]
        self.optimizer = optimizer_class(inner_groups, **defaults)
        self.param_groups = self.optimizer.param_groups    # the schedule sets lr here
        self.comm_bytes = 0

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def _flat(self, arrays) -> np.ndarray:
        flat = np.zeros(self.shard * self.comm.size, dtype=self.dtype)
        off = 0
        for p, a in zip(self.params, arrays):
            n = p.data.size
            if a is not None:
                flat[off:off + n] = a.reshape(-1)
            off += n
        return flat

    def step(self):
        """Reduce-scatter the gradients, clip, update my slice, all-gather the parameters. Returns the global
        gradient norm before clipping."""
        N, S = self.comm.size, self.shard
        # [start:step]
        g = self.comm.reduce_scatter(self._flat([None if p.grad is None else p.grad.data for p in self.params]))
        g /= N                                              # my slice of the mean gradient
        sq = self.comm.allreduce(np.array([float((g.astype(np.float64) ** 2).sum())]))
        norm = math.sqrt(float(sq[0]))
        if self.max_norm is not None:
            scale = self.max_norm / (norm + 1e-6)
            if scale < 1.0:
                g *= g.dtype.type(scale)
        base = self.comm.rank * S
        off = 0
        for p, lo, hi, piece in self.pieces:
            piece.grad = Tensor(g[off:off + hi - lo])
            off += hi - lo
        self.optimizer.step()                               # AdamW on my slice; the pieces are views of p.data
        full = self.comm.allgather(self._flat([p.data for p in self.params])[base:base + S])
        with no_grad():
            off = 0
            for p in self.params:
                n = p.data.size
                p.data[...] = full[off:off + n].reshape(p.shape)
                off += n
        # [end:step]
        self.comm_bytes += 2 * (N - 1) * S * self.dtype.itemsize
        return norm

    def state_bytes(self) -> int:
        """Bytes of optimizer state held by this rank (the arrays of ``optimizer.state``)."""
        return sum(v.nbytes for st in self.optimizer.state.values() for v in st.values() if hasattr(v, "nbytes"))

    def state_dict(self):
        return self.optimizer.state_dict()
