"""Run under ``mpiexec -n N`` by tests/test_distributed.py: ``python tests/dist_worker.py SCENARIO OUT_DIR``.
Every scenario writes what the test checks into OUT_DIR (rank 0, or one file per rank); the test, not this
script, decides pass or fail. Scenarios ``raise`` and ``mismatch`` fail on purpose."""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from tinygrad_llm import backend, optim
from tinygrad_llm.apps.lm import lm_trainer
from tinygrad_llm.apps.trainer import TrainConfig
from tinygrad_llm.distributed import (DistributedDataParallel, ZeroRedundancyOptimizer, ring_allreduce,
                                      run_or_abort, world)
from tinygrad_llm.models import registry

STEPS = 20
B = 8


def corpus():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 20, size=6000)
    return ids[:5000], ids[5000:]


def build(model="gpt", dtype="float64", seed=0, **over):
    over = {"block_size": 16, **over}
    backend.manual_seed(seed)
    with backend.default_dtype(dtype):
        return registry.build(model, "tiny", vocab_size=20, **over)


def config(**kw):
    base = dict(steps=STEPS, batch_size=B, lr=3e-3, warmup_steps=3, eval_interval=0, eval_batches=2, seed=5,
                progress=False)
    return TrainConfig(**{**base, **kw})


def params(model):
    return {n: p.data.copy() for n, p in model.named_parameters()}


def save(out, name, arrays, comm):
    if comm.rank == 0:
        np.savez(os.path.join(out, name), **arrays)


# ------------------------------------------------------------------ scenarios that must succeed
def equivalence(comm, out):
    """Trainer with N ranks (per-rank batch B/N) for 20 AdamW steps; the test compares with one process."""
    tr, va = corpus()
    for model in ("gpt", "lstm"):
        for dtype in ("float64", "float32"):
            m = build(model, dtype)
            t = lm_trainer(m, tr, va, config(), comm=comm)
            t.fit()
            save(out, f"equiv_{model}_{dtype}.npz", params(m), comm)


def bucketing(comm, out):
    """The same 5 steps with one bucket per parameter, 1 MB buckets, tiny buckets and no overlap: identical
    parameters; and the event order of one backward."""
    tr, _ = corpus()
    results, events = {}, {}
    for name, cap, overlap in (("per_param", 0.0, True), ("one_mb", 1.0, True), ("small", 0.004, True),
                               ("blocking", 1.0, False)):
        m = build("gpt", "float64")
        ddp = DistributedDataParallel(m, comm, bucket_cap_mb=cap, overlap=overlap)
        opt = optim.AdamW(m.parameters(), lr=1e-2)
        from tinygrad_llm.apps.lm import LMTask
        task = LMTask(m, tr, tr[:100], B, seed=5)
        task.shard(comm.rank, comm.size)
        for step in range(5):
            opt.zero_grad()
            ddp.start_step()
            task.loss(m, step).backward()
            ddp.finish()
            opt.step()
        results[name] = params(m)
        events[name] = {"events": ddp.events, "buckets": len(ddp.buckets), "params": len(ddp.params)}
        ddp.remove_hooks()
    for name, p in results.items():
        save(out, f"bucket_{name}.npz", p, comm)
    if comm.rank == 0:
        with open(os.path.join(out, "bucket_events.json"), "w") as f:
            json.dump(events, f)


def no_sync(comm, out):
    """Gradient accumulation: 2 micro-batches (the first under no_sync, each loss / 2) per step, against one
    batch of twice the size; 5 AdamW steps each."""
    from tinygrad_llm.apps.lm import LMTask
    tr, _ = corpus()
    res = {}
    for mode in ("accumulate", "large"):
        m = build("gpt", "float64")
        ddp = DistributedDataParallel(m, comm)
        opt = optim.AdamW(m.parameters(), lr=1e-2)
        big = LMTask(m, tr, tr[:100], 2 * B, seed=5)
        big.shard(comm.rank, comm.size)
        launches = []
        for step in range(5):
            opt.zero_grad()
            ddp.start_step()
            if mode == "large":
                big.loss(m, step).backward()
            else:
                rng = np.random.default_rng([5, step])              # the same global batch, in two halves
                from tinygrad_llm.data.corpus import get_batch
                x, y = get_batch(big.train_data, 2 * B, big.block_size, rng)
                x, y = x[big.rows], y[big.rows]
                h = len(x) // 2
                with ddp.no_sync():
                    (m(x[:h], y[:h])[1] * 0.5).backward()
                n_before = sum(e[0] == "launch" for e in ddp.events)
                (m(x[h:], y[h:])[1] * 0.5).backward()
                launches.append(n_before)
            ddp.finish()
            opt.step()
        res[mode] = params(m)
        res[mode + "_launches_in_no_sync"] = np.array(launches if launches else [-1])
        ddp.remove_hooks()
    save(out, "nosync.npz", {f"{k}/{n}": v for k in ("accumulate", "large") for n, v in res[k].items()} |
         {"launches_in_no_sync": res["accumulate_launches_in_no_sync"]}, comm)


def zero(comm, out):
    """ZeRO-1 against plain data parallelism (both AdamW with decay groups and clipping), 20 steps, float64
    and float32; and the optimizer state bytes on each rank."""
    from tinygrad_llm.apps.lm import LMTask
    tr, _ = corpus()
    for dtype in ("float64", "float32"):
        res, mem = {}, {}
        for mode in ("dp", "zero"):
            m = build("gpt", dtype)
            ddp = DistributedDataParallel(m, comm, overlap=(mode == "dp"))
            groups = optim.param_groups_for_weight_decay(m, 0.1)
            if mode == "dp":
                opt = optim.AdamW(groups, lr=1e-2, weight_decay=0.1)
            else:
                ddp.remove_hooks()                                   # ZeRO reduce-scatters the gradients itself
                opt = ZeroRedundancyOptimizer(groups, comm, max_norm=0.5, lr=1e-2, weight_decay=0.1)
            task = LMTask(m, tr, tr[:100], B, seed=5)
            task.shard(comm.rank, comm.size)
            for step in range(STEPS):
                opt.zero_grad()
                task.loss(m, step).backward()
                if mode == "dp":
                    ddp.finish()
                    optim.clip_grad_norm_(m.parameters(), 0.5)
                opt.step()
            res[mode] = params(m)
            mem[mode] = (opt.state_bytes() if mode == "zero" else
                         sum(v.nbytes for st in opt.state.values() for v in st.values() if hasattr(v, "nbytes")))
        save(out, f"zero_{dtype}.npz", {f"{k}/{n}": v for k in res for n, v in res[k].items()}, comm)
        allmem = comm.allgather(np.array([mem["dp"], mem["zero"]], dtype=np.int64)).reshape(comm.size, 2)
        if comm.rank == 0:
            with open(os.path.join(out, f"zero_mem_{dtype}.json"), "w") as f:
                json.dump({"dp": allmem[:, 0].tolist(), "zero": allmem[:, 1].tolist(),
                           "numel": sum(p.data.size for p in m.parameters())}, f)


class _Stop(Exception):
    pass


def resume_write(comm, out):
    """Train 20-step runs (GPT and LSTM) on N ranks, stopping after step 10 with a checkpoint there."""
    tr, va = corpus()

    def stop(trainer, rec):
        if trainer.step == 10:
            raise _Stop

    for model in ("gpt", "lstm"):
        m = build(model, "float64")
        t = lm_trainer(m, tr, va, config(checkpoint_interval=10, out_dir=os.path.join(out, f"resume_{model}")),
                       comm=comm)
        try:
            t.fit(callback=stop)
        except _Stop:
            pass


def ring(comm, out):
    """The hand-written ring against MPI's Allreduce on several sizes (one not divisible by N, one < N)."""
    rows = []
    for n in (1, 7, 1000, 4099):
        rng = np.random.default_rng(comm.rank * 100 + n)
        x = rng.standard_normal(n)
        mine, sent = ring_allreduce(comm, x)
        ref = comm.allreduce(x)
        ints, _ = ring_allreduce(comm, np.arange(n, dtype=np.int64) * (comm.rank + 1))
        rows.append({"n": n, "max_diff": float(np.abs(mine - ref).max()), "sent": sent,
                     "int_exact": bool((ints == comm.allreduce(np.arange(n, dtype=np.int64) * (comm.rank + 1))).all())})
    allsent = comm.allgather(np.array([r["sent"] for r in rows], dtype=np.int64)).reshape(comm.size, -1)
    if comm.rank == 0:
        for i, r in enumerate(rows):
            r["sent_by_rank"] = allsent[:, i].tolist()
        with open(os.path.join(out, "ring.json"), "w") as f:
            json.dump({"size": comm.size, "rows": rows}, f)


# ------------------------------------------------------------------ scenarios that must fail fast
def raise_on_one_rank(comm, out):
    """Rank 1 raises in its 3rd step; the others would wait in the allreduce forever without run_or_abort."""
    tr, va = corpus()
    m = build("gpt", "float32")
    t = lm_trainer(m, tr, va, config(steps=200), comm=comm)
    loss = t.task.loss

    def bad_loss(model, step):
        if comm.rank == 1 and step == 3:
            raise RuntimeError("injected failure in the loss of step 3")
        return loss(model, step)

    t.task.loss = bad_loss
    with open(os.path.join(out, f"started_{comm.rank}"), "w") as f:
        f.write(str(time.time()))
    t.fit()


def mismatch(comm, out):
    """Rank 1 builds a wider model: the shape check fails on every rank before any gradient is exchanged."""
    tr, va = corpus()
    m = build("gpt", "float32", n_embd=32 if comm.rank == 0 else 48)
    lm_trainer(m, tr, va, config(), comm=comm).fit()


def config_mismatch(comm, out):
    """Rank 1 was started with another learning rate: the config check names it on every rank."""
    tr, va = corpus()
    m = build("gpt", "float32")
    lm_trainer(m, tr, va, config(lr=3e-3 if comm.rank == 0 else 1e-3), comm=comm).fit()


SCENARIOS = {"equivalence": equivalence, "bucketing": bucketing, "no_sync": no_sync, "zero": zero,
             "resume_write": resume_write, "ring": ring, "raise": raise_on_one_rank, "mismatch": mismatch, "config_mismatch": config_mismatch}


def main(names, out):
    comm = world()
    for name in names:
        t0 = time.perf_counter()
        SCENARIOS[name](comm, out)
        if comm.rank == 0:
            print(f"{name}: {time.perf_counter() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    run_or_abort(main, sys.argv[1].split(","), sys.argv[2], prefix="dist_worker: error")
