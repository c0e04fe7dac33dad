import json
import pathlib

import numpy as np
import pytest

from tinygrad_llm import Tensor
from tinygrad_llm.distributed import alpha_beta_time, fit_alpha_beta, predict_step, ring_bytes

CHAPTER = pathlib.Path(__file__).resolve().parents[2] / "chapters" / "14_data_parallel"


def grad_of_mean_loss(w0, x, y):
    w = Tensor(w0.copy(), requires_grad=True)
    (((Tensor(x) @ w) - Tensor(y)) ** 2).mean().backward()
    return w.grad.numpy()


def test_unequal_shards_need_weights_not_the_plain_mean(sol):
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
def test_the_ring_moves_n_times_less_than_allreduce_through_rank_0(N, sol):
    M = 1_000_000
    assert sol.naive_allreduce_bytes(M, N) == pytest.approx(N * ring_bytes(M, N))


@pytest.mark.parametrize("N", [4, 8, 64])
def test_tree_is_faster_below_the_crossover_and_the_ring_above(N, sol):
    alpha, beta = 20e-6, 1.25e9
    M = sol.ring_tree_crossover(N, alpha, beta)
    assert sol.tree_allreduce_time(M, N, alpha, beta) == pytest.approx(float(alpha_beta_time(M, N, alpha, beta)))
    assert sol.ring_time(M, N, alpha, beta) == pytest.approx(sol.tree_allreduce_time(M, N, alpha, beta))
    assert sol.tree_allreduce_time(M / 10, N, alpha, beta) < alpha_beta_time(M / 10, N, alpha, beta)
    assert sol.tree_allreduce_time(M * 10, N, alpha, beta) > alpha_beta_time(M * 10, N, alpha, beta)
    assert sol.ring_tree_crossover(2, alpha, beta) == 0.0              # N = 2: the ring is never slower


def test_nodes_where_communication_shows(sol):
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


def test_walkthrough_runs_fast(notebook):
    pytest.importorskip("mpi4py", reason="needs the distributed extra (mpi4py, mpich)")
    r = notebook(f"{CHAPTER.name}/run.py")
    tmp_path = r.out
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["fast"] and res["identity_max_abs_diff"] < 1e-12
    chk = res["allreduce"]["2"]["ring_check"]
    assert chk["max_abs_diff_vs_mpi"] == 0.0 and chk["bytes_sent"] == chk["formula_bytes"]
    assert (tmp_path / "alpha_beta.png").stat().st_size > 1000
    assert len(res["prediction"]["rows"]) == 3 * 2 * 4


# ---------------------------------------------------------------- the chapter's numbers come from results.json
def readme_facts(res) -> dict:
    """The numbers the README quotes, formatted as the README writes them."""
    tr = res["train"]
    s, o, b = tr["single"]["modes"]["single"], tr["two_ranks"]["modes"]["overlap"], tr["two_ranks"]["modes"]["blocking"]
    s1 = tr["single_1_thread"]["modes"]["single"]
    a2, a4 = res["allreduce"]["2"], res["allreduce"]["4"]
    rows = res["prediction"]["rows"]
    assert [(r["model"], r["network"], r["nodes"]) for r in rows[:5]] == [
        ("GPT-S (cpu preset)", "10 Gbit/s", n) for n in (8, 16, 32, 64)] + [("GPT-S (cpu preset)", "100 Gbit/s", 8)]
    return {
        "identity": f"{res['identity_max_abs_diff']:.1e}",
        "ring_bytes": f"{a2['ring_check']['bytes_sent']:,}", "ring_elems": f"{a2['ring_check']['elements']:,}",
        "ring_diff2": f"{a2['ring_check']['max_abs_diff_vs_mpi']:.1e}",
        "ring_diff4": f"{a4['ring_check']['max_abs_diff_vs_mpi']:.1e}",
        "ring_bytes4": f"{a4['ring_check']['bytes_sent']:,}",
        "alpha2": f"{a2['alpha_s'] * 1e6:.1f} µs", "beta2": f"{a2['beta_Bps'] / 1e9:.2f} GB/s",
        "alpha4": f"{a4['alpha_s'] * 1e6:.1f} µs", "beta4": f"{a4['beta_Bps'] / 1e9:.2f} GB/s",
        "load2": f"{a2['load'][0]:.1f}", "load4": f"{a4['load'][0]:.1f}",
        "load_train1": f"{tr['single']['load'][0]:.1f}", "load_train2": f"{tr['two_ranks']['load'][0]:.1f}",
        "tok11": f"{s1['tokens_per_s']:,.0f}", "step11": f"{s1['step'] * 1e3:.0f} ms",
        "bw11": f"{s1['backward'] * 1e3:.0f} ms", "load_train11": f"{tr['single_1_thread']['load'][0]:.1f}",
        "tok1": f"{s['tokens_per_s']:,.0f}", "tok2o": f"{o['tokens_per_s']:,.0f}", "tok2b": f"{b['tokens_per_s']:,.0f}",
        "step1": f"{s['step'] * 1e3:.0f} ms", "step2o": f"{o['step'] * 1e3:.0f} ms", "step2b": f"{b['step'] * 1e3:.0f} ms",
        "bw1": f"{s['backward'] * 1e3:.0f} ms", "bw2o": f"{o['backward'] * 1e3:.0f} ms",
        "bw2b": f"{b['backward'] * 1e3:.0f} ms",
        "fin2o": f"{o['finish'] * 1e3:.1f} ms", "fin2b": f"{b['finish'] * 1e3:.1f} ms",
        "mpi_bw": f"{o['mpi_in_backward'] * 1e3:.1f} ms",
        "grad_bytes": f"{o['grad_bytes']:,}", "params_s": f"{o['params']:,}",
        "pred_local": f"{tr['predicted_allreduce_s'] * 1e3:.2f} ms",
        "flops": f"{res['prediction']['flops_measured'] / 1e9:.2f} GFLOP/s",
        "load_before": f"{res['load_before'][0]:.1f}", "load_after": f"{res['load_after'][0]:.1f}",
        "steps": f"{tr['single']['steps']}",
        "hidden": f"{(b['finish'] - o['finish']) * 1e3:.1f} ms",
        # rows of the prediction table the prose quotes (GPT-S: 0-7, baby: 8-15, GPT-2 small: 16-23; 10 Gbit/s
        # then 100 Gbit/s; 8, 16, 32, 64 nodes)
        **{f"fstar_{i}": f"{rows[i]['break_even_flops'] / 1e12:,.2f} TFLOP/s" for i in (0, 3, 8, 12, 16, 19, 20, 23)},
        "compute_16": f"{rows[16]['compute_s']:,.2f} s", "comm_16": f"{rows[16]['comm_s'] * 1e3:,.2f} ms",
        "min_eff": f"{min(r['efficiency'] for r in res['prediction']['rows']):.1%}",
    }


def train_rows(res) -> str:
    tr = res["train"]
    runs = [("1 rank × 2 threads", tr["single"]["modes"]["single"]),
            ("1 rank × 1 thread", tr["single_1_thread"]["modes"]["single"]),
            ("2 ranks × 1 thread, overlap", tr["two_ranks"]["modes"]["overlap"]),
            ("2 ranks × 1 thread, blocking allreduce after backward", tr["two_ranks"]["modes"]["blocking"])]
    return "\n".join(f"| {name} | {m['tokens_per_s']:,.0f} | {m['step'] * 1e3:.0f} ms | {m['backward'] * 1e3:.0f} ms | "
                     + (f"{m['finish'] * 1e3:.1f} ms |" if name.startswith("2") else "— |") for name, m in runs)


def timing_rows(res, n: str) -> str:
    f = res["allreduce"][n]
    lines = []
    for r in f["timings"]:
        pred = float(alpha_beta_time(r["bytes"], int(n), f["alpha_s"], f["beta_Bps"]))
        lines.append(f"| {r['bytes']:,} | {r['median_s'] * 1e3:.3f} | {pred * 1e3:.3f} |")
    return "\n".join(lines)


def prediction_rows(res) -> str:
    lines = []
    for r in res["prediction"]["rows"]:
        lines.append(f"| {r['model']} | {r['params'] / 1e6:.2f} M | {r['tokens_per_node']:,} | {r['network']} | "
                     f"{r['nodes']} | {r['compute_s']:,.2f} s | {r['comm_s'] * 1e3:,.2f} ms | {r['efficiency']:.1%} | "
                     f"{r['break_even_flops'] / 1e12:,.2f} |")
    return "\n".join(lines)


def test_readme_numbers_come_from_results_json():
    res = json.loads((CHAPTER / "figures" / "results.json").read_text())
    assert not res["fast"]
    text = (CHAPTER / "README.md").read_text()
    missing = [f"{k}={v}" for k, v in readme_facts(res).items() if v not in text]
    missing += [row for n in ("2", "4") for row in timing_rows(res, n).splitlines() if row not in text]
    missing += [row for row in train_rows(res).splitlines() if row not in text]
    missing += [row for row in prediction_rows(res).splitlines() if row not in text]
    assert missing == [], missing
