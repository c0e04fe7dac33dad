"""Every Numba kernel equals its plain NumPy reference (tinygrad_llm/kernels/reference.py).

Sizes stay small so the file also passes with NUMBA_DISABLE_JIT=1 (kernels run as Python).
"""
from __future__ import annotations

import importlib
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinygrad_llm.kernels as K
from tinygrad_llm.kernels import cross_entropy as kce
from tinygrad_llm.kernels import fast_exp
from tinygrad_llm.kernels import layernorm as kln
from tinygrad_llm.kernels import linear as klin
from tinygrad_llm.kernels import reference as R
from tinygrad_llm.kernels import softmax as ksm
from tinygrad_llm.kernels.matmul import bmm, use_numba

kmm = importlib.import_module("tinygrad_llm.kernels.matmul")  # the module (K.matmul is the function)

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}
FEW = settings(max_examples=25)
# the `parallel` fixture only patches a module constant; it needs no reset between examples
FEWP = settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])

dtypes = st.sampled_from(DTYPES)
dims = st.integers(1, 13)


def close(a, b, dtype, scale=1.0):
    tol = TOL[np.dtype(dtype).type]
    np.testing.assert_allclose(a, b, rtol=tol["rtol"] * scale, atol=tol["atol"] * scale)


def make(rng, shape, dtype, layout, scale=1.0):
    """An array of the given logical shape that is C-contiguous, a transposed view, or strided."""
    if layout == "transposed" and len(shape) >= 2:
        base = rng.standard_normal(shape[:-2] + (shape[-1], shape[-2])) * scale
        return base.astype(dtype).swapaxes(-1, -2)
    if layout == "strided":
        base = (rng.standard_normal(shape[:-1] + (2 * shape[-1],)) * scale).astype(dtype)
        return base[..., ::2]
    return (rng.standard_normal(shape) * scale).astype(dtype)


layouts = st.sampled_from(["contiguous", "transposed", "strided"])


@pytest.fixture(params=["serial", "parallel"])
def parallel(request, monkeypatch):
    """Run the row kernels through the serial driver and through the prange driver."""
    limit = 0 if request.param == "parallel" else 1 << 62
    for mod in (ksm, kce, kln, fast_exp):
        monkeypatch.setattr(mod, "PARALLEL_MIN", limit)
    return request.param


# ----------------------------------------------------------------------------- threading
def test_threading_layer_is_workqueue_unless_asked():
    import numba
    if "NUMBA_THREADING_LAYER" not in os.environ:
        assert numba.config.THREADING_LAYER == "workqueue"
    info = K.threading_info()
    assert info["numba_threads"] >= 1


# ----------------------------------------------------------------------------- exp
@pytest.mark.parametrize("dtype", DTYPES)
def test_fast_exp_within_one_ulp(parallel, dtype):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-80, 80, 300), rng.uniform(-1, 1, 200),
                        np.linspace(-0.35, 0.35, 50)]).astype(dtype)
    y = fast_exp.exp(x).astype(np.float64)
    exact = np.exp(x.astype(np.float64))                      # float64 is exact enough for float32
    ulp = np.spacing(exact.astype(dtype)).astype(np.float64)
    if dtype == np.float64:                                   # no wider type here: compare to np.exp
        exact = np.exp(x)
    assert np.max(np.abs(y - exact) / ulp) <= 1.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_fast_exp_special_values(dtype):
    info = np.finfo(dtype)
    x = np.array([0, -np.inf, np.inf, np.nan, -1e4, 1e4, math.log(info.max) - 0.01,
                  math.log(info.tiny) + 0.01, math.log(info.smallest_subnormal) - 1], dtype=dtype)
    y = fast_exp.exp(x)
    assert y[0] == 1 and y[1] == 0 and y[2] == np.inf and np.isnan(y[3])
    assert y[4] == 0 and y[5] == np.inf and y[8] == 0
    np.testing.assert_allclose(y[6:8], np.exp(x[6:8]), rtol=4 * info.eps)


def test_fast_exp_keeps_shape_and_rejects_ints():
    x = np.zeros((2, 3, 0), np.float32)
    assert fast_exp.exp(x).shape == (2, 3, 0)
    assert fast_exp.exp(np.float64(1.0)).shape == ()
    with pytest.raises(TypeError, match="kernels.exp"):
        fast_exp.exp(np.arange(3))


# ----------------------------------------------------------------------------- matmul
@FEW
@given(M=dims, Kd=dims, N=dims, dtype=dtypes, layout=layouts, seed=st.integers(0, 2 ** 16))
def test_matmul_ladder_equals_numpy(M, Kd, N, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    a = make(rng, (M, Kd), dtype, layout)
    b = make(rng, (Kd, N), dtype, "contiguous")
    ref = R.matmul(a, b)
    for f in (K.matmul_ijk, K.matmul_ikj, K.matmul_blocked):
        out = f(np.ascontiguousarray(a), b) if f is not K.matmul_blocked else f(a, b)
        assert out.dtype == dtype and out.shape == (M, N)
        close(out, ref, dtype, scale=Kd)


def test_matmul_blocked_crosses_tiles():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((9, 2 * 128 + 5))
    b = rng.standard_normal((2 * 128 + 5, 7))
    close(K.matmul_blocked(a, b), a @ b, np.float64, scale=300)


@FEW
@given(P=st.integers(4, 7), M=dims, Kd=dims, N=dims, dtype=dtypes, layout=layouts,
       seed=st.integers(0, 2 ** 16))
def test_batched_matmul_equals_numpy(P, M, Kd, N, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    a = make(rng, (2, P, M, Kd), dtype, "contiguous")
    b = make(rng, (2, P, Kd, N), dtype, layout)                # e.g. K^T as a transposed view
    assert use_numba(a.shape, b.shape, a.dtype, b.dtype)
    close(bmm(a, b), a @ b, dtype, scale=Kd)
    key = (2 * P, M, Kd, N, a.dtype.str)
    for winner in ("numba", "blas"):                            # both outcomes of the race
        kmm.WINNER[key] = winner
        close(K.matmul(a, b), a @ b, dtype, scale=Kd)
    del kmm.WINNER[key]


def test_kernels_stay_out_of_functional_ops_when_jit_is_off(monkeypatch):
    import numba
    x = np.zeros(3, np.float32)
    monkeypatch.setattr(numba.config, "DISABLE_JIT", True)
    monkeypatch.delenv("TINYGRAD_LLM_KERNELS", raising=False)
    with backend.use_kernels(True):
        assert not K.applicable(x)
        monkeypatch.setenv("TINYGRAD_LLM_KERNELS", "1")
        assert K.applicable(x)


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="no race without the JIT")
def test_matmul_rule_is_measured_once_per_shape():
    a = np.ones((5, 3, 4), np.float32)
    b = np.ones((5, 4, 2), np.float32)
    kmm.WINNER.pop((5, 3, 4, 2, a.dtype.str), None)
    np.testing.assert_array_equal(K.matmul(a, b), np.full((5, 3, 2), 4, np.float32))
    assert kmm.WINNER[(5, 3, 4, 2, a.dtype.str)] in ("numba", "blas")


def test_matmul_dispatch_candidates():
    f32, f64 = np.dtype(np.float32), np.dtype(np.float64)
    assert use_numba((48, 64, 32), (48, 32, 64), f32, f32)          # attention scores
    assert not use_numba((64, 32), (32, 64), f32, f32)              # 2-D: BLAS
    assert not use_numba((2, 64, 32), (2, 32, 64), f32, f32)        # too few matrices
    assert not use_numba((8, 512, 512), (8, 512, 512), f32, f32)    # big matrices: BLAS
    assert not use_numba((8, 4, 3), (1, 3, 5), f32, f32)            # broadcasting: NumPy
    assert not use_numba((8, 4, 3), (8, 3, 5), f32, f64)            # mixed dtypes
    assert not use_numba((8, 4, 3), (8, 3, 5), np.dtype(np.int64), np.dtype(np.int64))


@pytest.mark.parametrize("shapes", [((3, 1, 4, 5), (6, 5, 2)), ((5,), (7, 5, 3)), ((2, 4, 5), (5,)),
                                    ((6, 4, 5), (6, 5, 3))])
def test_matmul_dispatch_matches_numpy_semantics(shapes):
    rng = np.random.default_rng(2)
    a, b = (rng.standard_normal(s).astype(np.float32) for s in shapes)
    close(K.matmul(a, b), np.matmul(a, b), np.float32, scale=5)


def test_matmul_kernels_reject_bad_input():
    with pytest.raises(ValueError, match="matmul_blocked"):
        K.matmul_blocked(np.ones((2, 3)), np.ones((4, 2)))
    with pytest.raises(TypeError, match="matmul_blocked"):
        K.matmul_blocked(np.ones((2, 3), np.float32), np.ones((3, 2)))
    with pytest.raises(ValueError, match="bmm"):
        bmm(np.ones((4, 2, 3)), np.ones((3, 3, 2)))


# ----------------------------------------------------------------------------- softmax
@FEWP
@given(N=dims, C=dims, dtype=dtypes, layout=layouts, scale=st.sampled_from([1.0, 30.0, 1e4]),
       seed=st.integers(0, 2 ** 16))
def test_softmax_forward_backward_equal_reference(parallel, N, C, dtype, layout, scale, seed):
    rng = np.random.default_rng(seed)
    x = make(rng, (N, C), dtype, layout, scale)
    y = ksm.softmax_forward(x)
    assert y.dtype == dtype and y.shape == x.shape
    close(y, R.softmax_forward(x), dtype)
    g = make(rng, (N, C), dtype, layout)
    close(ksm.softmax_backward(y, g), R.softmax_backward(y, g), dtype)


def test_softmax_masked_rows_and_higher_rank(parallel):
    x = np.random.default_rng(3).standard_normal((2, 3, 5))
    x[0, 1, :3] = -np.inf                                   # a causal-mask style row
    close(ksm.softmax_forward(x), R.softmax_forward(x), np.float64)
    assert ksm.softmax_forward(np.zeros((4, 0))).shape == (4, 0)
    with pytest.raises(TypeError, match="softmax_forward"):
        ksm.softmax_forward(np.ones((2, 2), np.int32))
    with pytest.raises(ValueError, match="softmax_backward"):
        ksm.softmax_backward(np.ones((2, 2)), np.ones((2, 3)))


# ----------------------------------------------------------------------------- cross-entropy
@FEWP
@given(N=dims, C=dims, dtype=dtypes, layout=layouts, scale=st.sampled_from([1.0, 1e4]),
       reduction=st.sampled_from(["mean", "sum", "none"]), seed=st.integers(0, 2 ** 16))
def test_cross_entropy_equals_reference(parallel, N, C, dtype, layout, scale, reduction, seed):
    rng = np.random.default_rng(seed)
    z = make(rng, (N, C), dtype, layout, scale)
    t = rng.integers(0, C, N)
    t[rng.random(N) < 0.3] = -100                           # ignored rows
    t[0] = rng.integers(0, C)                               # at least one kept row
    loss, lse = kce.cross_entropy_forward(z, t, reduction=reduction)
    rloss, rlse = R.cross_entropy_forward(z, t, reduction=reduction)
    assert loss.dtype == dtype and np.shape(loss) == np.shape(rloss)
    close(lse, rlse, dtype, scale=10)
    close(loss, rloss, dtype, scale=10 * scale)
    g = make(rng, (N,), dtype, "contiguous") if reduction == "none" else dtype(0.7)
    close(kce.cross_entropy_backward(z, t, lse, g, reduction=reduction),
          R.cross_entropy_backward(z, t, rlse, g, reduction=reduction), dtype)


def test_cross_entropy_custom_ignore_index_and_errors():
    z = np.random.default_rng(4).standard_normal((4, 3))
    t = np.array([0, 2, 2, 1])
    loss, lse = kce.cross_entropy_forward(z, t, ignore_index=2)
    rloss, _ = R.cross_entropy_forward(z, t, ignore_index=2)
    close(loss, rloss, np.float64)
    grad = kce.cross_entropy_backward(z, t, lse, 1.0, ignore_index=2)
    assert np.all(grad[1:3] == 0)
    with pytest.raises(IndexError, match="out of range"):
        kce.cross_entropy_forward(z, np.array([0, 3, 1, 1]))
    with pytest.raises(TypeError, match="integers"):
        kce.cross_entropy_forward(z, np.zeros(4))
    with pytest.raises(ValueError, match="reduction"):
        kce.cross_entropy_forward(z, t, reduction="avg")


@pytest.mark.torch
def test_cross_entropy_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    z = rng.standard_normal((6, 5)) * 3
    t = np.array([1, -100, 4, 0, -100, 2])
    zt = torch.tensor(z, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(zt, torch.tensor(t), ignore_index=-100)
    ref.backward()
    loss, lse = kce.cross_entropy_forward(z, t)
    close(loss, ref.item(), np.float64)
    close(kce.cross_entropy_backward(z, t, lse, 1.0), zt.grad.numpy(), np.float64)


# ----------------------------------------------------------------------------- layer norm
@FEWP
@given(N=dims, D=dims, dtype=dtypes, layout=layouts, affine=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_layer_norm_equals_reference(parallel, N, D, dtype, layout, affine, seed):
    rng = np.random.default_rng(seed)
    x = make(rng, (N, D), dtype, layout, 3.0) + dtype(2)
    w = rng.standard_normal(D).astype(dtype) if affine else None
    b = rng.standard_normal(D).astype(dtype) if affine else None
    y, mean, rstd = kln.layer_norm_forward(x, w, b)
    ry, rmean, rrstd = R.layer_norm_forward(x, w, b)
    close(y, ry, dtype, scale=10)
    close(mean, rmean, dtype, scale=10)
    close(rstd, rrstd, dtype, scale=10)
    g = make(rng, (N, D), dtype, layout)
    for got, want in zip(kln.layer_norm_backward(x, w, mean, rstd, g),
                         R.layer_norm_backward(x, w, rmean, rrstd, g)):
        if want is None:
            assert got is None
        else:
            close(got, want, dtype, scale=100)


def test_layer_norm_higher_rank_and_errors(parallel):
    x = np.random.default_rng(6).standard_normal((2, 3, 4)).astype(np.float32)
    y, mean, rstd = kln.layer_norm_forward(x, None, None, eps=1e-3)
    ry, _, _ = R.layer_norm_forward(x.reshape(6, 4), None, None, eps=1e-3)
    close(y, ry.reshape(x.shape), np.float32)
    assert mean.shape == (6,)
    with pytest.raises(ValueError, match="weight/bias"):
        kln.layer_norm_forward(x, np.ones(3, np.float32), None)


# ----------------------------------------------------------------------------- linear + gelu
@FEW
@given(N=dims, din=dims, dout=dims, dtype=dtypes, approximate=st.sampled_from(["none", "tanh"]),
       bias=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_linear_bias_gelu_equals_reference(N, din, dout, dtype, approximate, bias, seed):
    rng = np.random.default_rng(seed)
    x = make(rng, (N, din), dtype, "contiguous", 2.0)
    w = make(rng, (dout, din), dtype, "contiguous")
    b = make(rng, (dout,), dtype, "contiguous") if bias else None
    y, h = K.linear_bias_gelu(x, w, b, approximate)
    ry, rh = R.linear_bias_gelu(x, w, b, approximate)
    close(h, rh, dtype, scale=10 * din)
    close(y, ry, dtype, scale=10 * din)
    gy = make(rng, y.shape, dtype, "contiguous")
    dx, dw, db = K.linear_bias_gelu_backward(x, w, h, gy, approximate)
    gh = R.gelu_backward(rh, gy, approximate)
    close(dx, gh @ w, dtype, scale=100 * din)
    close(dw, gh.T @ x, dtype, scale=100 * N)
    close(db, gh.sum(0), dtype, scale=100 * N)


def test_gelu_elementwise_kernels_and_extremes():
    h = np.array([-1e4, -30.0, -3.0, -0.5, 0.0, 0.5, 3.0, 30.0, 1e4])
    for ap in ("none", "tanh"):
        close(klin.gelu_forward(h, ap), R.gelu(h, ap), np.float64, scale=10)
        close(klin.gelu_backward(h, np.ones_like(h), ap), R.gelu_backward(h, np.ones_like(h), ap),
              np.float64, scale=10)
    x3 = np.ones((2, 3, 4), np.float32)
    y, h3 = K.linear_bias_gelu(x3, np.ones((5, 4), np.float32), None)
    assert y.shape == h3.shape == (2, 3, 5)
    with pytest.raises(ValueError, match="linear_bias_gelu"):
        K.linear_bias_gelu(x3, np.ones((5, 3), np.float32))


# ----------------------------------------------------------------------------- functional ops, both paths
# The functional ops call these kernels when `backend.kernels_enabled()`; the same op must give the
# same values and gradients with kernels on and off (TINYGRAD_LLM_KERNELS=0 runs a whole suite off).
from tinygrad_llm import backend  # noqa: E402
from tinygrad_llm import functional as F  # noqa: E402
from tinygrad_llm.tensor import Tensor  # noqa: E402
from tinygrad_llm.testing import gradcheck  # noqa: E402


@pytest.fixture(params=[True, False], ids=["kernels", "reference"])
def kernels_on(request):
    """Run a test once with the Numba kernels and once on the NumPy reference path."""
    with backend.use_kernels(request.param):
        yield request.param


def _ops(rng, dtype):
    """name -> (function of Tensors, list of input arrays)."""
    x = rng.standard_normal((3, 4, 5)).astype(dtype)
    t = rng.integers(0, 5, (3, 4))
    t[0, 1] = -100
    w, b = rng.standard_normal(5).astype(dtype), rng.standard_normal(5).astype(dtype)
    return {
        "softmax": (lambda a: F.softmax(a, axis=-1), [x]),
        "softmax_axis0": (lambda a: F.softmax(a, axis=0), [x]),
        "cross_entropy_mean": (lambda a: F.cross_entropy(a, t), [x * 3]),
        "cross_entropy_sum": (lambda a: F.cross_entropy(a, t, reduction="sum"), [x]),
        "cross_entropy_none": (lambda a: F.cross_entropy(a, t, reduction="none"), [x]),
        "layer_norm": (lambda a, g, c: F.layer_norm(a, 5, g, c), [x, w, b]),
        "layer_norm_plain": (lambda a: F.layer_norm(a, 5), [x]),
        "layer_norm_bias_only": (lambda a, c: F.layer_norm(a, 5, None, c), [x, b]),
        "gelu": (lambda a: F.gelu(a), [x * 2]),
        "gelu_tanh": (lambda a: F.gelu(a, approximate="tanh"), [x * 2]),
        "matmul": (lambda a, c: F.matmul(a, c), [x[0], rng.standard_normal((5, 3)).astype(dtype)]),
        "matmul_batched": (lambda a, c: F.matmul(a, c),
                           [rng.standard_normal((6, 4, 5)).astype(dtype),
                            rng.standard_normal((6, 5, 3)).astype(dtype)]),
        "matmul_broadcast": (lambda a, c: F.matmul(a, c),
                             [x, rng.standard_normal((1, 5, 2)).astype(dtype)]),
    }


def _run(fn, arrays, seed):
    ts = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    y = fn(*ts)
    v = np.random.default_rng(seed).standard_normal(y.shape).astype(y.data.dtype)
    (y * Tensor(v)).sum().backward()
    return y.data, [t.grad.data for t in ts]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(_ops(np.random.default_rng(0), np.float64)))
def test_functional_op_same_with_kernels_on_and_off(name, dtype):
    fn, arrays = _ops(np.random.default_rng(7), dtype)[name]
    with backend.use_kernels(True):
        y1, g1 = _run(fn, arrays, 8)
    with backend.use_kernels(False):
        y0, g0 = _run(fn, arrays, 8)
    assert y1.dtype == y0.dtype == dtype
    close(y1, y0, dtype, scale=10)
    for a, b in zip(g1, g0):
        close(a, b, dtype, scale=10)


@pytest.mark.parametrize("name", sorted(_ops(np.random.default_rng(0), np.float64)))
def test_functional_op_gradcheck_both_paths(kernels_on, name):
    fn, arrays = _ops(np.random.default_rng(9), np.float64)[name]
    assert gradcheck(fn, *[Tensor(a, requires_grad=True) for a in arrays])


def test_functional_ops_really_call_the_kernels(monkeypatch):
    calls = []
    for fname in ("softmax_forward", "softmax_backward", "cross_entropy_forward", "cross_entropy_backward",
                  "layer_norm_forward", "layer_norm_backward", "gelu_forward", "gelu_backward", "matmul"):
        original = getattr(K, fname)
        monkeypatch.setattr(K, fname, lambda *a, _f=original, _n=fname, **k: calls.append(_n) or _f(*a, **k))
    rng = np.random.default_rng(10)
    for with_kernels in (False, True):
        calls.clear()
        with backend.use_kernels(with_kernels):
            for fn, arrays in _ops(rng, np.float32).values():
                _run(fn, arrays, 11)
            on = K.applicable(np.zeros(1))          # inside the switch: the environment may say off
        expected = set() if not (with_kernels and on) else {
            "softmax_forward", "softmax_backward", "cross_entropy_forward", "cross_entropy_backward",
            "layer_norm_forward", "layer_norm_backward", "gelu_forward", "gelu_backward", "matmul"}
        assert set(calls) == expected


def test_kernel_switch_reads_the_environment():
    import subprocess
    import sys
    code = "from tinygrad_llm import backend; print(backend.kernels_enabled())"
    for value, want in (("0", "False"), ("1", "True")):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env={**os.environ, "TINYGRAD_LLM_KERNELS": value})
        assert out.stdout.strip() == want, out.stderr
