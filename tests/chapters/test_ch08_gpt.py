import math
import pathlib

import numpy as np
from chapter_helpers import assert_quoted, recorded

from tinygrad_llm import optim
from tinygrad_llm.models.gpt import GPT, GPTConfig
from tinygrad_llm.nn import Parameter

CHAPTER = pathlib.Path(__file__).resolve().parents[2] / "chapters" / "08_gpt"


def test_parameter_count_matches_the_model(sol):
    for V, T, L, C, H in [(13, 8, 1, 16, 2), (65, 64, 4, 128, 4)]:
        m = GPT(GPTConfig(vocab_size=V, block_size=T, n_layer=L, n_embd=C, n_head=H))
        assert sol.gpt_num_parameters(V, T, L, C) == m.num_parameters()
        assert sol.gpt_num_parameters(V, T, L, C, tied=False) - m.num_parameters() == V * C


def test_lr_matches_the_scheduler(sol):
    p = Parameter(np.zeros(2, np.float32))
    opt = optim.AdamW([p], lr=0.5)
    sched = optim.LambdaLR(opt, optim.warmup_cosine(7, 40, 0.1))
    for t in range(45):
        assert math.isclose(opt.param_groups[0]["lr"], sol.lr_at(t, 0.5, 7, 40, 0.1), rel_tol=1e-12, abs_tol=1e-15)
        sched.step()


def test_adamw_step_matches_the_optimizer(sol):
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal((3, 4))
    p = Parameter(p0.copy())
    opt = optim.AdamW([p], lr=0.01, weight_decay=0.1)
    ref, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    for t in range(1, 4):
        g = rng.standard_normal((3, 4))
        p.grad = Parameter(g.copy(), requires_grad=False)
        opt.step()
        ref, m, v = sol.adamw_step(ref, g, m, v, t, 0.01, wd=0.1)
    np.testing.assert_allclose(p.data, ref, rtol=1e-12, atol=1e-14)


def test_initial_loss_is_log_vocab(sol):
    m = GPT(GPTConfig(vocab_size=50, block_size=8, n_layer=1, n_head=2, n_embd=16))
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 50, (16, 8)), rng.integers(0, 50, (16, 8))
    _, loss = m(x, y)
    assert abs(float(loss.data) - sol.initial_loss(50)) < 0.1         # small init: near-uniform predictions


def test_walkthrough_runs_fast(notebook):
    r = notebook(f"{CHAPTER.name}/run.py")
    for name in ("loss.png", "schedule.png"):
        assert (r.out / name).is_file()
    assert "checkpoint holds step 60" in r.stdout


def test_clip_by_global_norm_matches_the_library(sol):
    rng = np.random.default_rng(0)
    for max_norm in (0.5, 1e3):
        grads = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
        params = [Parameter(np.zeros_like(g)) for g in grads]
        for p, g in zip(params, grads):
            p.grad = Parameter(g.copy())
        total = optim.clip_grad_norm_(params, max_norm)
        clipped, ours = sol.clip_by_global_norm(grads, max_norm)
        assert math.isclose(ours, total, rel_tol=1e-12)
        for p, c in zip(params, clipped):
            np.testing.assert_allclose(c, p.grad.numpy(), rtol=1e-12)
        new_norm = math.sqrt(sum((c ** 2).sum() for c in clipped))
        assert new_norm <= max_norm * (1 + 1e-9) and (max_norm < total or new_norm == total)


# ---------------------------------------------------------------------------------------------------------
# The chapter text against the numbers of the walk-through's last full run (chapters/08_gpt/figures/results.json).

def ch08_fields(r):
    t, corpus = r["training"], r["corpus"]
    curve = [loss for _, loss in t["eval"]]
    fields = {"chars": f"{corpus['characters'] / 1e6:.1f}", "V": corpus["vocabulary"],
              "lnV": f"{math.log(corpus['vocabulary']):.2f}", "first": f"{t['first_train_loss']:.2f}",
              "steps": f"{t['steps']:,}", "every": f"{t['eval'][0][0]:,}", "last_step": f"{t['eval'][-1][0]:,}",
              "curve": ", ".join(f"{x:.2f}" for x in curve[:-1]), "final": f"{curve[-1]:.3f}",
              "cpu": f"{t['seconds']['cpu']:,.0f}", "wall": f"{t['seconds']['wall']:,.0f}",
              "load": f"{t['load_average_at_end'][1]:.1f}", "cpus": r["machine"]["cpus"],
              "threads": "one thread" if t["threads"]["numba_threads"] == 1 else f"{t['threads']['numba_threads']} threads"}
    for name, row in r["sizes"].items():
        fields[f"size_{name}"] = f"{row['L']} | {row['H']} | {row['C']} | {row['T']} | {row['parameters']:,} | " \
                       f"{row['train_flops_per_token']:,}"
    return fields


def test_readme_quotes_the_recorded_run():
    assert_quoted(CHAPTER, ch08_fields(recorded(CHAPTER)), [
        "| `cpu` | {size_cpu} |", "| `baby` | {size_baby} |", "| `gpt2` (V = 50257) | {size_gpt2} |",
        "starts at $\\ln V$ ({lnV} for the {V} characters of this corpus)",
        "({chars} M characters, {V} distinct)",
        "{steps} steps with {threads}",
        "The first batch's loss is {first}, close to $\\ln {V} = {lnV}$",
        "the validation loss after every {every} steps is {curve} and, at step {last_step}, {final}",
        "falling at every evaluation, more slowly towards the end",
        "({cpu} s of CPU time; {wall} s wall, with a 5-minute load average of {load} on the {cpus} cores at the end)"])


def test_the_recorded_run_learns_as_the_text_says():
    t = recorded(CHAPTER)["training"]
    V = recorded(CHAPTER)["corpus"]["vocabulary"]
    assert abs(t["first_train_loss"] - math.log(V)) < 0.15            # untrained: close to uniform
    curve = [loss for _, loss in t["eval"]]
    assert t["steps"] == 1000 and len(curve) == 10
    drops = -np.diff(curve)
    assert (drops > 0).all()                                         # falls at every evaluation ...
    assert drops[-3:].max() < drops[:4].min()                        # ... more slowly towards the end
    sizes = recorded(CHAPTER)["sizes"]
    for row in sizes.values():
        C, L, V, T = row["C"], row["L"], row["V"], row["T"]
        assert row["parameters"] == V * C + T * C + L * (12 * C * C + 13 * C) + 2 * C
