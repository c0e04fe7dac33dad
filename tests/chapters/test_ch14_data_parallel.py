import importlib.util
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from tinygrad_llm import Tensor
from tinygrad_llm.distributed import alpha_beta_time, fit_alpha_beta, predict_step, ring_bytes

CHAPTER = pathlib.Path(__file__).resolve().parents[2] / "chapters" / "14_data_parallel"
spec = importlib.util.spec_from_file_location("ch14_solutions", CHAPTER / "solutions.py")
sol = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sol)


def grad_of_mean_loss(w0, x, y):
    w = Tensor(w0.copy(), requires_grad=True)
    (((Tensor(x) @ w) - Tensor(y)) ** 2).mean().backward()
    return w.grad.numpy()


def test_unequal_shards_need_weights_not_the_plain_mean():
    rng = np.random.default_rng(0)
    x, y, w0 = rng.standard_normal((8, 3)), rng.standard_normal((8, 2)), rng.standard_normal((3, 2))
    full = grad_of_mean_loss(w0, x, y)
    cut = [slice(0, 3), slice(3, 8)]                                     # shards of 3 and 5 examples
    grads = [grad_of_mean_loss(w0, x[s], y[s]) for s in cut]
    np.testing.assert_allclose(sol.weighted_shard_mean(grads, [3, 5]), full, rtol=1e-12, atol=1e-14)
    assert np.abs((grads[0] + grads[1]) / 2 - full).max() > 1e-3         # the plain mean is wrong here
    with pytest.raises(ValueError, match="weighted_shard_mean"):
        sol.weighted_shard_mean(grads, [3])


@pytest.mark.parametrize("N", [2, 4, 8, 64])
def test_the_ring_moves_n_times_less_than_allreduce_through_rank_0(N):
    M = 1_000_000
    assert sol.naive_allreduce_bytes(M, N) == pytest.approx(N * ring_bytes(M, N))


@pytest.mark.parametrize("N", [4, 8, 64])
def test_tree_is_faster_below_the_crossover_and_the_ring_above(N):
    alpha, beta = 20e-6, 1.25e9
    M = sol.ring_tree_crossover(N, alpha, beta)
    assert sol.tree_allreduce_time(M, N, alpha, beta) == pytest.approx(float(alpha_beta_time(M, N, alpha, beta)))
    assert sol.tree_allreduce_time(M / 10, N, alpha, beta) < alpha_beta_time(M / 10, N, alpha, beta)
    assert sol.tree_allreduce_time(M * 10, N, alpha, beta) > alpha_beta_time(M * 10, N, alpha, beta)
    assert sol.ring_tree_crossover(2, alpha, beta) == 0.0              # N = 2: the ring is never slower


def test_nodes_where_communication_shows():
    P, tokens, alpha, beta = 124_000_000, 8192, 50e-6, 1.25e9
    slow = sol.nodes_where_comm_shows(P, tokens, 1e9, alpha, beta, max_nodes=64)
    assert slow is None                                                   # a slow node hides everything
    N = sol.nodes_where_comm_shows(P, tokens, 5e12, alpha, beta, max_nodes=64)
    assert N is not None and predict_step(P, tokens, 5e12, N, alpha, beta)["exposed_s"] > 0
    assert predict_step(P, tokens, 5e12, N - 1, alpha, beta)["exposed_s"] == 0


def test_alpha_beta_fit_recovers_known_parameters():
    sizes = [2 ** k for k in range(10, 27, 2)]
    t = alpha_beta_time(sizes, 4, 7e-6, 3e9)
    a, b = fit_alpha_beta(sizes, t, 4)
    assert a == pytest.approx(7e-6, rel=1e-6) and b == pytest.approx(3e9, rel=1e-6)
    with pytest.raises(ValueError, match="fit_alpha_beta"):
        fit_alpha_beta([1024], [1e-5], 2)


def test_predict_step_formula():
    p = predict_step(1_000_000, 1000, 1e9, 8, 1e-5, 1e9, bucket_bytes=1e6)
    tc = 6e9 / 1e9
    tcomm = 2 * 4 * 7 * 1e-5 + 2 * 7 / 8 * 4e6 / 1e9
    assert p["buckets"] == 4 and p["compute_s"] == pytest.approx(tc) and p["comm_s"] == pytest.approx(tcomm)
    assert p["efficiency"] == 1.0
    q = predict_step(1_000_000, 1000, 1e13, 8, 1e-5, 1e9, bucket_bytes=1e6)
    assert q["step_s"] == pytest.approx(q["compute_s"] / 3 + q["comm_s"]) and q["efficiency"] < 1


def test_walkthrough_runs_fast(tmp_path):
    pytest.importorskip("mpi4py", reason="needs the distributed extra (mpi4py, mpich)")
    r = subprocess.run([sys.executable, str(CHAPTER / "run.py"), "--fast", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["fast"] and res["identity_max_abs_diff"] < 1e-12
    chk = res["allreduce"]["2"]["ring_check"]
    assert chk["max_abs_diff_vs_mpi"] == 0.0 and chk["bytes_sent"] == chk["formula_bytes"]
    assert (tmp_path / "alpha_beta.png").stat().st_size > 1000
    assert len(res["prediction"]["rows"]) == 3 * 2 * 4
