r"""The communicator: a thin layer over MPI (``mpi4py``), the engine Horovod and PyTorch's MPI backend use.

``mpiexec -n N python ...`` starts N copies of the same program, the *ranks* $r = 0, \dots, N-1$. They share
no memory; everything they exchange goes through MPI calls on the world communicator. The collectives used
for data parallelism, on an array of $M$ bytes:

- ``allreduce``: every rank ends with $\sum_r x_r$ (elementwise);
- ``reduce_scatter``: the sum, cut into $N$ equal blocks; rank $r$ ends with block $r$ only;
- ``allgather``: rank $r$ contributes block $r$; every rank ends with all $N$ blocks;
- ``bcast``: rank 0's array is copied to every rank.

An allreduce is a reduce-scatter followed by an all-gather (``ring.py`` writes both out by hand).

Cost model (α–β, Hockney): a message of $m$ bytes between two ranks takes $\alpha + m/\beta$, with
latency $\alpha$ and bandwidth $\beta$. A ring allreduce is $2(N-1)$ such steps of $M/N$ bytes each:
$$t_{\text{allreduce}}(M, N) = 2(N-1)\,\alpha + 2\,\frac{N-1}{N}\,\frac{M}{\beta}.$$

``mpi4py`` is an optional dependency (the ``distributed`` extra: ``pip install -e '.[distributed]'``, which
brings the ``mpich`` wheel and its ``mpiexec``); it is imported only when a communicator is made.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time

import numpy as np

_MPI_ENV = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS")


def mpi():
    """The ``mpi4py.MPI`` module, or an ImportError saying how to install it."""
    try:
        from mpi4py import MPI
    except ImportError:
        raise ImportError("tinygrad_llm.distributed needs mpi4py and an MPI library: "
                          "pip install -e '.[distributed]' (installs mpi4py and the mpich wheel)") from None
    return MPI


def launched_by_mpiexec() -> bool:
    """Whether this process was started by ``mpiexec`` (the process manager sets these variables)."""
    return any(k in os.environ for k in _MPI_ENV)


def find_mpiexec() -> str:
    """The ``mpiexec`` beside this Python (the mpich wheel installs it into the environment's bin/),
    else the one on PATH; a FileNotFoundError naming the extra when there is none."""
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if os.path.isfile(here) and os.access(here, os.X_OK):
        return here
    found = shutil.which("mpiexec")
    if found is None:
        raise FileNotFoundError("mpiexec not found: install the distributed extra "
                                "(pip install -e '.[distributed]' brings the mpich wheel and its mpiexec)")
    return found


class Comm:
    """The world (or a given) communicator with the few calls data parallelism needs. Array calls take
    contiguous NumPy arrays (the buffers MPI reads and writes directly, no pickling)."""

    def __init__(self, comm=None):
        MPI = mpi()
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()

    # ------------------------------------------------------------ collectives on arrays
    def allreduce(self, x: np.ndarray) -> np.ndarray:
        """$\\sum_r x_r$ on every rank (a new array)."""
        x = np.ascontiguousarray(x)
        out = np.empty_like(x)
        self.comm.Allreduce(x, out, op=self.MPI.SUM)
        return out

    def iallreduce_(self, buf: np.ndarray):
        """Start a non-blocking in-place sum of ``buf`` over the ranks; returns the request (``wait()`` it)."""
        return self.comm.Iallreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM)

    def reduce_scatter(self, x: np.ndarray) -> np.ndarray:
        """Block ``rank`` of $\\sum_r x_r$; ``x`` is flat with a length divisible by ``size``."""
        x = np.ascontiguousarray(x)
        if x.ndim != 1 or len(x) % self.size:
            raise ValueError(f"reduce_scatter: needs a flat array whose length is a multiple of {self.size}, "
                             f"got shape {x.shape}")
        out = np.empty(len(x) // self.size, dtype=x.dtype)
        self.comm.Reduce_scatter_block(x, out, op=self.MPI.SUM)
        return out

    def allgather(self, block: np.ndarray) -> np.ndarray:
        """The blocks of all ranks, concatenated in rank order (each rank gives an equal-sized flat block)."""
        block = np.ascontiguousarray(block)
        out = np.empty(block.size * self.size, dtype=block.dtype)
        self.comm.Allgather(block, out)
        return out

    def bcast_(self, x: np.ndarray, root: int = 0) -> np.ndarray:
        """Overwrite ``x`` in place with rank ``root``'s ``x``."""
        if not x.flags.c_contiguous:
            raise ValueError(f"bcast_: the array of shape {x.shape} is not contiguous")
        self.comm.Bcast(x, root=root)
        return x

    def allgather_stack(self, x: np.ndarray, axis: int = 0) -> np.ndarray:
        """Every rank's equally shaped ``x``, concatenated along ``axis`` in rank order."""
        x = np.ascontiguousarray(x)
        parts = self.allgather(x.reshape(-1)).reshape((self.size,) + x.shape)
        return np.concatenate(list(parts), axis=axis)

    # ------------------------------------------------------------ small JSON values (shapes, configs), sent
    # as UTF-8 bytes: nothing is pickled
    def allgather_json(self, obj) -> list:
        """``obj`` (JSON-able) of every rank, in rank order."""
        data = np.frombuffer(json.dumps(obj, sort_keys=True, default=str).encode("utf-8"), dtype=np.uint8)
        counts = np.empty(self.size, dtype=np.int64)
        self.comm.Allgather(np.array([len(data)], dtype=np.int64), counts)
        out = np.empty(int(counts.sum()), dtype=np.uint8)
        self.comm.Allgatherv(data, [out, counts.tolist()])
        offs = np.concatenate([[0], np.cumsum(counts)])
        return [json.loads(out[offs[i]:offs[i + 1]].tobytes().decode("utf-8")) for i in range(self.size)]

    def barrier(self):
        self.comm.Barrier()

    def abort(self, code: int = 1):
        """End every rank now (MPI_Abort): the way out when one rank fails and the others would wait forever."""
        self.comm.Abort(code)


_WORLD = None


def world() -> Comm:
    """The world communicator (made once)."""
    global _WORLD
    if _WORLD is None:
        _WORLD = Comm()
    return _WORLD


def world_if_launched() -> Comm | None:
    """The world communicator when started by ``mpiexec`` with more than one rank, else None (one process
    needs no MPI and no mpi4py)."""
    if not launched_by_mpiexec():
        return None
    w = world()
    return w if w.size > 1 else None


ABORT_GRACE_S = 1.0


def run_or_abort(fn, *args, comm: Comm | None = None, prefix: str = "error", **kwargs):
    """Call ``fn``; if it raises on any rank, print ``<prefix> on rank r: <message>`` to stderr and abort
    every rank, so the others do not wait forever in a collective. Returns ``fn``'s result.

    A rank other than 0 waits ``ABORT_GRACE_S`` before it aborts: when every rank fails at once (ranks that
    disagree on the config all see the difference), rank 0 reports first and its message is the one shown."""
    try:
        return fn(*args, **kwargs)
    except BaseException as e:           # noqa: BLE001 - whatever it was, the other ranks must not hang
        comm = comm or world()
        msg = str(e) or type(e).__name__
        if comm.rank != 0:
            time.sleep(ABORT_GRACE_S)
        print(f"{prefix} on rank {comm.rank} of {comm.size}: {type(e).__name__}: {msg}", file=sys.stderr,
              flush=True)
        comm.abort(2)
        raise                            # not reached: Abort ends the process
