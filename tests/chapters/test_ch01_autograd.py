import pathlib

import numpy as np
import pytest

from tinygrad_llm import Tensor
from tinygrad_llm.testing import gradcheck

from chapter_helpers import assert_quoted, recorded

CHAPTER = pathlib.Path(__file__).resolve().parents[2] / "chapters" / "01_autograd"


def test_softplus_function_is_correct(sol):
    x = np.array([-30.0, -1.0, 0.0, 2.0, 40.0])
    y = sol.softplus(Tensor(x)).numpy()
    assert np.allclose(y, np.log1p(np.exp(np.minimum(x, 30))) + np.maximum(x - 30, 0), rtol=1e-12)
    assert gradcheck(sol.softplus, Tensor(np.random.default_rng(0).standard_normal(6), requires_grad=True))


def test_manual_gradients_match_backward(sol):
    x, y = Tensor(np.array(1.5), requires_grad=True), Tensor(np.array(-0.3), requires_grad=True)
    f = ((x * y + x) * (x * y + x))
    f.backward()
    val, dx, dy = sol.f_and_manual_grads(1.5, -0.3)
    assert f.item() == pytest.approx(val) and x.grad.item() == pytest.approx(dx) and y.grad.item() == pytest.approx(dy)


def test_grad_accumulates_k_times(sol):
    x = np.array([1.0, -2.0, 0.5])
    assert np.allclose(sol.grad_after_k_backwards(x, 4), 4 * x)


def test_best_epsilon_is_near_cube_root_of_roundoff(sol):
    errs = {e: sol.central_difference_error(np.tanh, lambda v: 1 - np.tanh(v) ** 2, 0.7, e)
            for e in 10.0 ** np.arange(-12, -1)}
    best = min(errs, key=errs.get)
    assert 1e-7 <= best <= 1e-3 and errs[best] < 1e-9
    assert errs[1e-12] > errs[best] * 100 and errs[1e-2] > errs[best] * 100


def test_walkthrough_runs_fast(notebook):
    r = notebook(f"{CHAPTER.name}/run.py")
    assert (r.out / "graph.png").stat().st_size > 1000 and (r.out / "fd_error.png").stat().st_size > 1000
    assert "gradcheck softmax(a @ b): True" in r.stdout


def test_readme_quotes_the_recorded_run():
    """The best epsilon of each dtype, read off the recorded error curve, is the power of ten the text names;
    float32's best step is the larger one, and its smallest error is far above float64's."""
    r = recorded(CHAPTER)
    fields = {dt: f"{round(np.log10(r[f'best_eps_{dt}'])):d}" for dt in ("float64", "float32")}
    assert r["best_eps_float32"] > 10 * r["best_eps_float64"]
    assert r["smallest_error"]["float32"] > 1e3 * r["smallest_error"]["float64"]
    assert_quoted(CHAPTER, fields, ["near $10^{{{float64}}}$ in float64 but only $10^{{{float32}}}$ in float32"])
