"""Every Numba kernel equals the plain-array reference of its formula in ``functional/``: the pairs come
from the dispatch table (``functional/_dispatch.py``), so registering a kernel adds its test here (and
a kernel without drawn inputs below fails ``test_every_route_has_inputs``).

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
from tinygrad_llm.functional import _dispatch as D
from tinygrad_llm.functional.cross_entropy import cross_entropy_backward as ref_ce_backward
from tinygrad_llm.functional.cross_entropy import cross_entropy_forward as ref_ce_forward
from tinygrad_llm.functional.gelu import gelu_backward as ref_gelu_backward
from tinygrad_llm.functional.gelu import gelu_forward as ref_gelu_forward
from tinygrad_llm.functional.layernorm import layer_norm_forward as ref_ln_forward
from tinygrad_llm.functional.matmul import matmul_reference
from tinygrad_llm.functional.softmax import softmax_forward as ref_softmax
from tinygrad_llm.kernels import cross_entropy as kce
from tinygrad_llm.kernels import fast_exp
from tinygrad_llm.kernels import layernorm as kln
from tinygrad_llm.kernels import linear as klin
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
    for mod in (ksm, kce, kln, klin, fast_exp):
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
    ref = matmul_reference(a, b)
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
        assert not D.kernel_applicable(x)
        monkeypatch.setenv("TINYGRAD_LLM_KERNELS", "1")
        assert D.kernel_applicable(x)


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


# ----------------------------------------------------------------------------- every kernel vs its reference
def _targets(rng, N, C):
    t = rng.integers(0, C, N)
    t[rng.random(N) < 0.3] = -100                           # ignored rows
    t[0] = rng.integers(0, C)                               # at least one kept row
    return t


def _draw_matmul(rng, d, dtype, layout):
    M, Kd, N = (int(d(dims)) for _ in range(3))
    if d(st.booleans()):                                    # 2-D: always BLAS
        return (make(rng, (M, Kd), dtype, layout), make(rng, (Kd, N), dtype, "contiguous")), {}, Kd
    P = d(st.integers(4, 6))                                # batched small matrices: the measured rule
    return (make(rng, (2, P, M, Kd), dtype, "contiguous"), make(rng, (2, P, Kd, N), dtype, layout)), {}, Kd


def _draw_softmax(rng, d, dtype, layout):
    x = make(rng, (d(dims), d(dims)), dtype, layout, d(st.sampled_from([1.0, 30.0, 1e4])))
    return (x, -1), {}, 1


def _draw_softmax_backward(rng, d, dtype, layout):
    (x, _), _, _ = _draw_softmax(rng, d, dtype, layout)
    return (ref_softmax(x), make(rng, x.shape, dtype, layout), -1), {}, 1


def _draw_ce(rng, d, dtype, layout):
    N, C, scale = d(dims), d(dims), d(st.sampled_from([1.0, 1e4]))
    z = make(rng, (N, C), dtype, layout, scale)
    return (z, _targets(rng, N, C), -100, d(st.sampled_from(["mean", "sum", "none"]))), {}, 10 * scale


def _draw_ce_backward(rng, d, dtype, layout):
    (z, t, ii, reduction), _, _ = _draw_ce(rng, d, dtype, layout)
    _, lse = ref_ce_forward(z, t, ii, reduction)
    g = make(rng, (z.shape[0],), dtype, "contiguous") if reduction == "none" else np.asarray(0.7, dtype)
    return (z, t, lse, g, ii, reduction), {}, 1


def _draw_ln(rng, d, dtype, layout):
    N, D_ = d(dims), d(dims)
    x = make(rng, (N, D_), dtype, layout, 3.0) + dtype(2)
    affine = d(st.booleans())
    w = rng.standard_normal(D_).astype(dtype) if affine else None
    b = rng.standard_normal(D_).astype(dtype) if affine and d(st.booleans()) else None
    return (x, w, b, 1e-5), {}, 10


def _draw_ln_backward(rng, d, dtype, layout):
    (x, w, b, eps), _, _ = _draw_ln(rng, d, dtype, layout)
    _, mean, rstd = ref_ln_forward(x, w, b, eps)
    return (x, w, mean, rstd, make(rng, x.shape, dtype, layout)), {}, 100


def _draw_gelu(rng, d, dtype, layout):
    return (make(rng, (d(dims), d(dims)), dtype, layout, 3.0), d(st.sampled_from(["none", "tanh"]))), {}, 10


def _draw_gelu_backward(rng, d, dtype, layout):
    (h, ap), _, _ = _draw_gelu(rng, d, dtype, layout)
    return (h, make(rng, h.shape, dtype, layout), ap), {}, 10


def _draw_linear_gelu(rng, d, dtype, layout):
    N, din, dout = d(dims), d(dims), d(dims)
    x = make(rng, (N, din), dtype, "contiguous", 2.0)
    w = make(rng, (dout, din), dtype, "contiguous")
    b = make(rng, (dout,), dtype, "contiguous") if d(st.booleans()) else None
    return (x, w, b, d(st.sampled_from(["none", "tanh"]))), {}, 10 * din


def _draw_linear_gelu_backward(rng, d, dtype, layout):
    (x, w, b, ap), _, _ = _draw_linear_gelu(rng, d, dtype, layout)
    _, h = D.ROUTES["linear_bias_gelu"].reference(x, w, b, ap)
    return (x, w, h, make(rng, h.shape, dtype, "contiguous"), ap), {}, 100 * max(x.shape)


def _draw_adam(rng, d, dtype, layout):
    shape = (d(dims), d(dims))
    p, g, m = (make(rng, shape, dtype, "contiguous") for _ in range(3))
    v = np.abs(make(rng, shape, dtype, "contiguous")) * dtype(0.01)
    decoupled = d(st.booleans())
    t, wd = d(st.integers(1, 50)), d(st.sampled_from([0.0, 0.1]))
    return (p, g, m, v, t, 1e-2, 0.9, 0.999, 1e-8, wd, decoupled), {}, 10


def _draw_lstm_cell(rng, d, dtype, layout):
    B, H = d(dims), d(dims)
    return (make(rng, (B, 4 * H), dtype, layout, 3.0), make(rng, (B, H), dtype, layout)), {}, 10


def _draw_lstm_cell_backward(rng, d, dtype, layout):
    (z, c_prev), _, _ = _draw_lstm_cell(rng, d, dtype, layout)
    a, _, tc = D.ROUTES["lstm_cell_forward"].reference(z, c_prev)
    gc = make(rng, c_prev.shape, dtype, layout) if d(st.booleans()) else None   # None: no gradient reaches c_t
    return (a, c_prev, tc, make(rng, c_prev.shape, dtype, layout), gc), {}, 10


DRAW = {
    "lstm_cell_forward": _draw_lstm_cell, "lstm_cell_backward": _draw_lstm_cell_backward,
    "matmul": _draw_matmul, "adam_update": _draw_adam,
    "softmax_forward": _draw_softmax, "softmax_backward": _draw_softmax_backward,
    "cross_entropy_forward": _draw_ce, "cross_entropy_backward": _draw_ce_backward,
    "layer_norm_forward": _draw_ln, "layer_norm_backward": _draw_ln_backward,
    "gelu_forward": _draw_gelu, "gelu_backward": _draw_gelu_backward,
    "linear_bias_gelu": _draw_linear_gelu, "linear_bias_gelu_backward": _draw_linear_gelu_backward,
}
BUILDING_BLOCKS = {"exp", "matmul_ijk", "matmul_ikj", "matmul_blocked", "threading_info"}   # not op kernels


def test_every_route_has_inputs_and_every_kernel_a_route():
    assert set(D.ROUTES) == set(D.KERNELS), "a kernel in _dispatch.KERNELS has no @reference"
    assert set(DRAW) == set(D.ROUTES), "draw inputs for every kernel of the dispatch table"
    routed = {r.kernel.__name__ for r in D.ROUTES.values()}
    assert set(K.__all__) - BUILDING_BLOCKS == routed, "a public kernel is missing from the dispatch table"


def _compare(got, want, dtype, scale, what):
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want), what
        for i, (a, b) in enumerate(zip(got, want)):
            _compare(a, b, dtype, scale, f"{what}[{i}]")
        return
    if want is None:
        assert got is None, what
        return
    assert np.asarray(got).dtype == np.asarray(want).dtype == dtype, f"{what}: dtypes differ"
    assert np.shape(got) == np.shape(want), f"{what}: shapes differ"
    close(got, want, dtype, scale)


@pytest.mark.parametrize("name", sorted(DRAW))
@FEWP
@given(data=st.data(), dtype=dtypes, layout=layouts, seed=st.integers(0, 2 ** 16))
def test_kernel_equals_its_reference(parallel, name, data, dtype, layout, seed):
    args, kw, scale = DRAW[name](np.random.default_rng(seed), data.draw, dtype, layout)
    route = D.ROUTES[name]
    copies = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)   # adam_update works in place
    _compare(route.kernel(*args, **kw), route.reference(*copies, **kw), dtype, scale, name)


def test_softmax_masked_rows_and_higher_rank(parallel):
    x = np.random.default_rng(3).standard_normal((2, 3, 5))
    x[0, 1, :3] = -np.inf                                   # a causal-mask style row
    close(ksm.softmax_forward(x), ref_softmax(x), np.float64)
    assert ksm.softmax_forward(np.zeros((4, 0))).shape == (4, 0)
    with pytest.raises(TypeError, match="softmax_forward"):
        ksm.softmax_forward(np.ones((2, 2), np.int32))
    with pytest.raises(ValueError, match="softmax_backward"):
        ksm.softmax_backward(np.ones((2, 2)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="last axis only"):
        ksm.softmax_forward(np.ones((2, 2)), axis=0)


def test_cross_entropy_custom_ignore_index_and_errors():
    z = np.random.default_rng(4).standard_normal((4, 3))
    t = np.array([0, 2, 2, 1])
    loss, lse = kce.cross_entropy_forward(z, t, ignore_index=2)
    rloss, _ = ref_ce_forward(z, t, ignore_index=2)
    close(loss, rloss, np.float64)
    grad = kce.cross_entropy_backward(z, t, lse, 1.0, ignore_index=2)
    assert np.all(grad[1:3] == 0)
    close(grad, ref_ce_backward(z, t, lse, np.asarray(1.0), ignore_index=2), np.float64)
    with pytest.raises(IndexError, match="out of range"):
        kce.cross_entropy_forward(z, np.array([0, 3, 1, 1]))
    with pytest.raises(TypeError, match="integers"):
        kce.cross_entropy_forward(z, np.zeros(4))
    with pytest.raises(ValueError, match="reduction"):
        kce.cross_entropy_forward(z, t, reduction="avg")


def test_cross_entropy_all_rows_ignored_both_paths():
    z = np.random.default_rng(5).standard_normal((3, 4))
    t = np.full(3, -100)
    for f, b in ((kce.cross_entropy_forward, kce.cross_entropy_backward), (ref_ce_forward, ref_ce_backward)):
        loss, lse = f(z, t)
        assert np.isnan(loss)                               # mean over no rows, as PyTorch
        assert np.all(b(z, t, lse, np.asarray(1.0)) == 0)


@pytest.mark.torch
def test_cross_entropy_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    z = rng.standard_normal((6, 5)) * 3
    t = np.array([1, -100, 4, 0, -100, 2])
    zt = torch.tensor(z, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(zt, torch.tensor(t), ignore_index=-100)
    ref.backward()
    for f, b in ((kce.cross_entropy_forward, kce.cross_entropy_backward), (ref_ce_forward, ref_ce_backward)):
        loss, lse = f(z, t)
        close(loss, ref.item(), np.float64)
        close(b(z, t, lse, np.asarray(1.0)), zt.grad.numpy(), np.float64)


def test_layer_norm_higher_rank_and_errors(parallel):
    x = np.random.default_rng(6).standard_normal((2, 3, 4)).astype(np.float32)
    y, mean, rstd = kln.layer_norm_forward(x, None, None, eps=1e-3)
    ry, rmean, _ = ref_ln_forward(x, None, None, eps=1e-3)
    close(y, ry, np.float32)
    assert mean.shape == rmean.shape == (6,)
    with pytest.raises(ValueError, match="weight/bias"):
        kln.layer_norm_forward(x, np.ones(3, np.float32), None)


def test_gelu_elementwise_kernels_and_extremes():
    h = np.array([-1e4, -30.0, -3.0, -0.5, 0.0, 0.5, 3.0, 30.0, 1e4])
    for ap in ("none", "tanh"):
        close(klin.gelu_forward(h, ap), ref_gelu_forward(h, ap), np.float64, scale=10)
        close(klin.gelu_backward(h, np.ones_like(h), ap), ref_gelu_backward(h, np.ones_like(h), ap),
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
        "lstm_cell": (lambda z, c: F.lstm_cell(z, c)[0] * F.lstm_cell(z, c)[1],
                      [rng.standard_normal((3, 8)).astype(dtype) * 2, x[0, :3, :2]]),
        "lstm_sequence": (lambda z, h, c, w: F.lstm_sequence(z, h, c, w),
                          [rng.standard_normal((4, 3, 8)).astype(dtype), x[0, :3, :2], x[1, :3, 3:],
                           rng.standard_normal((8, 2)).astype(dtype)]),
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
    wired = ("softmax_forward", "softmax_backward", "cross_entropy_forward", "cross_entropy_backward",
             "layer_norm_forward", "layer_norm_backward", "gelu_forward", "gelu_backward", "matmul",
             "lstm_cell_forward", "lstm_cell_backward")
    for name in wired:
        route = D.ROUTES[name]
        spy = lambda *a, _f=route.kernel, _n=name, **k: calls.append(_n) or _f(*a, **k)  # noqa: E731
        monkeypatch.setitem(D.ROUTES, name, route._replace(kernel=spy))
    rng = np.random.default_rng(10)
    for with_kernels in (False, True):
        calls.clear()
        with backend.use_kernels(with_kernels):
            for fn, arrays in _ops(rng, np.float32).values():
                _run(fn, arrays, 11)
            on = D.kernel_applicable(np.zeros(1))   # inside the switch: the environment may say off
        assert set(calls) == (set(wired) if with_kernels and on else set())


def test_kernel_switch_reads_the_environment():
    import subprocess
    import sys
    code = "from tinygrad_llm import backend; print(backend.kernels_enabled())"
    for value, want in (("0", "False"), ("1", "True")):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env={**os.environ, "TINYGRAD_LLM_KERNELS": value})
        assert out.stdout.strip() == want, out.stderr
