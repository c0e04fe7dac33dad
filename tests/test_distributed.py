"""Data parallelism over MPI, with 2 ranks started by ``mpiexec`` (the ``distributed`` extra): the same answer
as one process (GPT and LSTM, float64 and float32), buckets and overlap, ``no_sync``, ZeRO-1, resuming a
2-rank checkpoint in one process, the hand-written ring, and failures that end every rank quickly.

The 2-rank side runs in ``tests/dist_worker.py`` (one ``mpiexec`` for all scenarios that must succeed, one
for each failure); every ``mpiexec`` has a timeout, so nothing here can hang."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("mpi4py", reason="needs the distributed extra (mpi4py, mpich)")

from tinygrad_llm.distributed import find_mpiexec, ring_bytes  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import dist_worker as W  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "dist_worker.py"
N = 2
TOL = {"float64": 1e-12, "float32": 1e-5}


def mpirun(scenarios, out, timeout=420, n=N):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    cmd = [find_mpiexec(), "-n", str(n), sys.executable, str(WORKER), ",".join(scenarios), str(out)]
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    return r, time.monotonic() - t0


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """All succeeding scenarios on 2 ranks, once."""
    out = tmp_path_factory.mktemp("dist")
    r, _ = mpirun(["ring", "equivalence", "bucketing", "no_sync", "zero", "resume_write"], out)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out


def max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


def one_process(model, dtype, **cfg):
    """The reference: one process, the whole batch B, the same config."""
    tr, va = W.corpus()
    m = W.build(model, dtype)
    t = W.lm_trainer(m, tr, va, W.config(**cfg))
    return m, t


def test_ring_allreduce_equals_mpi_allreduce_and_moves_2_n_minus_1_over_n_m(ranks):
    res = json.loads((ranks / "ring.json").read_text())
    assert res["size"] == N
    for row in res["rows"]:
        assert row["max_diff"] <= 1e-12 and row["int_exact"], row
        M = row["n"] * 8
        assert sum(row["sent_by_rank"]) == 2 * (N - 1) * M            # every chunk crosses 2(N-1) links
        for sent in row["sent_by_rank"]:
            assert abs(sent - ring_bytes(M, N)) <= 2 * (N - 1) * 8     # chunk sizes differ by one element


@pytest.mark.parametrize("model", ["gpt", "lstm"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_n_ranks_with_batch_b_over_n_equal_one_process_with_batch_b(ranks, model, dtype):
    m, t = one_process(model, dtype)
    t.fit()
    ref = {n: p.data for n, p in m.named_parameters()}
    dp = dict(np.load(ranks / f"equiv_{model}_{dtype}.npz"))
    assert next(iter(dp.values())).dtype == np.dtype(dtype)
    moved = max_diff(ref, {n: p for n, p in W.params(W.build(model, dtype)).items()})
    assert moved > 1e-3                                               # 20 steps moved the parameters ...
    assert max_diff(ref, dp) <= TOL[dtype]                            # ... and both runs moved them alike


def test_bucketing_on_or_off_gives_identical_parameters_and_allreduce_overlaps_backward(ranks):
    runs = {k: dict(np.load(ranks / f"bucket_{k}.npz")) for k in ("per_param", "one_mb", "small", "blocking")}
    for k in ("one_mb", "small", "blocking"):
        assert max_diff(runs["per_param"], runs[k]) == 0.0, k
    ev = json.loads((ranks / "bucket_events.json").read_text())
    assert ev["per_param"]["buckets"] == ev["per_param"]["params"] and ev["one_mb"]["buckets"] == 1
    assert 1 < ev["small"]["buckets"] < ev["small"]["params"]
    for k in ("per_param", "small"):                                  # a bucket starts while backward still runs
        kinds = [e[0] for e in ev[k]["events"]]
        first_launch = kinds.index("launch")
        last_ready = len(kinds) - 1 - kinds[::-1].index("ready")
        assert first_launch < last_ready, k
        launched = [e[1] for e in ev[k]["events"] if e[0] == "launch"]
        assert launched == sorted(launched) == list(range(ev[k]["buckets"]))   # in order, each once
    assert ev["blocking"]["events"] == []                            # no hooks: everything after backward


def test_no_sync_accumulation_equals_the_large_batch(ranks):
    z = np.load(ranks / "nosync.npz")
    acc = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith("accumulate/")}
    big = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith("large/")}
    assert max_diff(acc, big) <= 1e-12
    assert (z["launches_in_no_sync"] == 0).all()                     # nothing was sent inside no_sync()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_zero1_equals_plain_data_parallel_with_1_over_n_optimizer_memory(ranks, dtype):
    z = np.load(ranks / f"zero_{dtype}.npz")
    dp = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith("dp/")}
    zero = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith("zero/")}
    assert max_diff(dp, zero) <= TOL[dtype]
    mem = json.loads((ranks / f"zero_mem_{dtype}.json").read_text())
    item = np.dtype(dtype).itemsize
    assert mem["dp"] == [2 * mem["numel"] * item] * N                 # m and v of every parameter, on every rank
    shard = -(-mem["numel"] // N)
    for b in mem["zero"]:                                             # m and v of my slice only
        assert shard * 2 * item - 2 * N * item <= b <= shard * 2 * item
    assert sum(mem["zero"]) == mem["dp"][0]                          # the shards partition the state


@pytest.mark.parametrize("model", ["gpt", "lstm"])
def test_checkpoint_of_two_ranks_resumes_in_one_process_as_one_uninterrupted_run(ranks, model, tmp_path):
    m, t = one_process(model, "float64")
    t.fit()
    ref = {n: p.data for n, p in m.named_parameters()}
    m2, t2 = one_process(model, "float64", checkpoint_interval=10, out_dir=str(tmp_path))
    t2.resume(ranks / f"resume_{model}" / "checkpoint.npz")
    assert t2.step == 10
    t2.fit()
    assert max_diff(ref, {n: p.data for n, p in m2.named_parameters()}) <= 1e-12


def test_one_rank_raising_ends_every_rank_within_seconds(tmp_path):
    r, wall = mpirun(["raise"], tmp_path, timeout=120)
    assert r.returncode != 0
    assert "on rank 1 of 2: RuntimeError: injected failure in the loss of step 3" in r.stderr
    started = float((tmp_path / "started_0").read_text())
    assert time.time() - started < 20, "the other rank kept waiting"


def test_ranks_disagreeing_on_shapes_fail_with_a_clear_error_on_rank_0(tmp_path):
    r, _ = mpirun(["mismatch"], tmp_path, timeout=120)
    assert r.returncode != 0
    assert ("on rank 0 of 2: ValueError: data parallel: parameter wte.weight has shape (20, 32) (float32) on rank 0 "
            "but wte.weight has shape (20, 48) (float32) on rank 1") in r.stderr


def test_ranks_disagreeing_on_the_config_fail_naming_the_setting(tmp_path):
    r, _ = mpirun(["config_mismatch"], tmp_path, timeout=120)
    assert r.returncode != 0
    assert "on rank 0 of 2: ValueError: data parallel: config train.lr is 0.003 on rank 0 but 0.001 on rank 1" in r.stderr


def test_cli_trains_on_two_processes_rank_0_reports_and_saves(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "tinygrad_llm.cli", "train", "--nproc", "2", "--model", "gpt", "--preset", "tiny",
           "--steps", "4", "--batch-size", "4", "--eval-interval", "2", "--sample", "0", "--quiet", "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("trained 4 steps") == 1 and r.stdout.count("step 2: loss") == 1   # rank 0 alone
    assert (out / "checkpoint.npz").is_file() and (out / "loss.png").is_file()
    bad = subprocess.run(cmd[:-1] + [str(tmp_path / "bad"), "--batch-size", "3"], capture_output=True, text=True,
                         timeout=240, env=env)
    assert bad.returncode != 0
    assert "--batch-size: 3 is not divisible by --nproc 2" in bad.stderr and "Traceback" not in bad.stderr
