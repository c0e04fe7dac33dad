import math
import pathlib

import numpy as np
import pytest

from tinygrad_llm.functional.softmax import softmax_forward

CHAPTER = pathlib.Path(__file__).resolve().parents[2] / "chapters" / "02_kernels"


@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 7, 3), (16, 9, 11)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_jki_equals_numpy(sol, shape, dtype):
    M, K, N = shape
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((M, K)).astype(dtype), rng.standard_normal((K, N)).astype(dtype)
    np.testing.assert_allclose(sol.matmul_jki(a, b), a @ b, rtol=1e-5, atol=1e-5)


def test_softmax_jacobian_against_finite_differences_and_jvp(sol):
    rng = np.random.default_rng(1)
    x, v = rng.standard_normal(6), rng.standard_normal(6)
    J = sol.softmax_jacobian(x)
    eps = 1e-6
    for j in range(6):
        d = np.zeros(6)
        d[j] = eps
        column = (softmax_forward(x + d) - softmax_forward(x - d)) / (2 * eps)
        np.testing.assert_allclose(J[:, j], column, atol=1e-8)
    np.testing.assert_allclose(J, J.T, atol=1e-15)
    np.testing.assert_allclose(sol.softmax_jvp(x, v), J @ v, atol=1e-14)
    np.testing.assert_allclose(J.sum(axis=0), 0, atol=1e-15)      # outputs always sum to 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_softmax_rows_equals_reference(sol, dtype):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((4, 3, 9)) * np.array([1, 30, 1e4])[None, :, None]).astype(dtype)
    got = sol.log_softmax_rows(x)
    z = x.astype(np.float64) - x.max(-1, keepdims=True)
    want = z - np.log(np.exp(z).sum(-1, keepdims=True))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())
    assert got.dtype == dtype and np.isfinite(got).all()


def test_parallel_break_even_is_where_times_meet(sol):
    L, t, P = 120.0, 0.8, 2
    n = sol.parallel_break_even(L, t, P)
    serial = n * t / 1e3
    parallel = L + n * t / P / 1e3
    assert math.isclose(serial, parallel, rel_tol=1e-12)
    assert sol.parallel_break_even(L, t, 4) < n                    # more threads pay off sooner
    assert sol.parallel_break_even(L, t, 1) == math.inf


def test_walkthrough_runs_fast(notebook):
    r = notebook(f"{CHAPTER.name}/run.py")
    for name in ("matmul_gflops.png", "softmax_gbs.png", "parallel_crossover.png"):
        assert (r.out / name).stat().st_size > 1000
    assert "NUMBA_DISABLE_JIT=1: softmax_row is a function" in r.stdout
    assert "chapter 02 done" in r.stdout
