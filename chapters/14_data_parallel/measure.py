"""Chapter 14 — the measurements that need several MPI ranks; run.py starts this under ``mpiexec -n N``:

    mpiexec -n N python chapters/14_data_parallel/measure.py allreduce OUT.json [--fast]
    mpiexec -n N python chapters/14_data_parallel/measure.py train OUT.json [--fast]
    python chapters/14_data_parallel/measure.py train OUT.json      (one process: no MPI at all)

``allreduce``: the hand-written ring checked against MPI's Allreduce, then Allreduce timings from 1 KB to
64 MB (median over repeats, the slowest rank's time). ``train``: GPT training steps with
``DistributedDataParallel``, with overlap (buckets start during backward) and without (one blocking
allreduce after backward); per step the time of backward, of ``finish()`` (communication not hidden) and of
the whole step, and tokens per second."""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

FAST = "--fast" in sys.argv


def allreduce(comm, out):
    from tinygrad_llm.distributed import ring_allreduce, ring_bytes
    MPI = comm.MPI
    rng = np.random.default_rng(comm.rank)
    x = rng.standard_normal(100_003)
    mine, sent = ring_allreduce(comm, x)
    check = {"max_abs_diff_vs_mpi": float(np.abs(mine - comm.allreduce(x)).max()), "bytes_sent": sent,
             "formula_bytes": ring_bytes(x.nbytes, comm.size), "elements": int(x.size)}
    sizes = [2 ** k for k in range(10, 17 if FAST else 27, 2)]          # 1 KB ... 64 MB, x4
    rows = []
    for M in sizes:
        buf = np.ones(M // 8)
        res = np.empty_like(buf)
        reps = 3 if FAST else (40 if M <= 2 ** 16 else 12 if M <= 2 ** 22 else 5)
        times = []
        for _ in range(reps + 1):
            comm.barrier()
            t0 = time.perf_counter()
            comm.comm.Allreduce(buf, res, op=MPI.SUM)
            dt = comm.comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)   # the slowest rank's time
            times.append(dt)
        times = times[1:]                                                   # the first one warms up
        rows.append({"bytes": M, "median_s": float(np.median(times)), "min_s": float(np.min(times)), "reps": reps})
    if comm.rank == 0:
        with open(out, "w") as f:
            json.dump({"ranks": comm.size, "ring_check": check, "timings": rows, "load": os.getloadavg()}, f)


def train(comm, out):
    from tinygrad_llm import backend, optim
    from tinygrad_llm.apps.lm import LMTask
    from tinygrad_llm.data.corpus import load_text
    from tinygrad_llm.distributed import DistributedDataParallel
    from tinygrad_llm.models import registry
    from tinygrad_llm.tokenizers import CharTokenizer
    text = load_text(None)[:400_000]
    tok = CharTokenizer.train(text)
    ids = np.asarray(tok.encode(text), dtype=np.int64)
    preset, B, steps, warm = ("tiny", 8, 6, 2) if FAST else ("cpu", 16, 40, 5)
    size, rank = (comm.size, comm.rank) if comm else (1, 0)
    results = {"ranks": size, "preset": preset, "batch": B, "steps": steps - warm, "block_size": None,
               "threads": os.environ.get("OMP_NUM_THREADS"), "modes": {}}
    for mode in (("overlap", "blocking") if comm else ("single",)):
        backend.manual_seed(0)
        model = registry.build("gpt", preset, vocab_size=tok.vocab_size)
        ddp = DistributedDataParallel(model, comm, overlap=(mode == "overlap")) if comm else None
        opt = optim.AdamW(model.parameters(), lr=1e-3)
        task = LMTask(model, ids, ids[:2000], B, seed=0)
        if comm:
            task.shard(rank, size)
        rec = {"backward": [], "finish": [], "step": [], "mpi_in_backward": []}
        for step in range(steps):
            t0 = time.perf_counter()
            loss = task.loss(model, step)
            opt.zero_grad()
            if ddp:
                ddp.start_step()
            c0 = ddp.comm_time if ddp else 0.0
            t1 = time.perf_counter()
            loss.backward()
            t2 = time.perf_counter()
            c1 = ddp.comm_time if ddp else 0.0
            if ddp:
                ddp.finish()
            t3 = time.perf_counter()
            opt.step()
            t4 = time.perf_counter()
            if step >= warm:
                rec["backward"].append(t2 - t1)
                rec["finish"].append(t3 - t2)
                rec["step"].append(t4 - t0)
                rec["mpi_in_backward"].append(c1 - c0)              # Iallreduce starts and Testall polls
        stats = {k: float(np.mean(v)) for k, v in rec.items()}
        stats["tokens_per_s"] = B * model.block_size / stats["step"]
        results["block_size"] = model.block_size
        stats["grad_bytes"] = int(sum(p.data.nbytes for p in model.parameters()))
        stats["params"] = int(sum(p.data.size for p in model.parameters()))
        if ddp:
            stats["buckets"] = len(ddp.buckets)
            ddp.remove_hooks()
        results["modes"][mode] = stats
    results["load"] = os.getloadavg()
    if rank == 0:
        with open(out, "w") as f:
            json.dump(results, f)


if __name__ == "__main__":
    what, out = sys.argv[1], sys.argv[2]
    from tinygrad_llm.distributed import launched_by_mpiexec, run_or_abort, world
    comm = world() if launched_by_mpiexec() else None
    if what == "allreduce":
        run_or_abort(allreduce, comm, out, comm=comm)
    elif comm is not None:
        run_or_abort(train, comm, out, comm=comm)
    else:
        train(None, out)
