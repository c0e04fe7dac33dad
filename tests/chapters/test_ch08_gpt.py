import math
import pathlib

import numpy as np

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
