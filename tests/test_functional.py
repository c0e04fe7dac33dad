"""Every differentiable op, checked two ways on hypothesis-drawn inputs:
against float64 central differences (``gradcheck``) and against ``torch.autograd`` (forward and all
input gradients). One registry drives both, so adding an op adds both checks."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_llm.functional as F
from tinygrad_llm import Tensor
from tinygrad_llm.testing import assert_close, gradcheck
from tinygrad_llm.testing.strategies import arrays_st, broadcast_pair_st, shapes_st

from conftest import DEVICES


@dataclass
class Op:
    ours: Callable            # (*tensors, **kw) -> Tensor
    theirs: Callable          # (torch module, *torch tensors, **kw) -> torch tensor
    draw: Callable            # hypothesis draw -> (list of float arrays, kwargs)
    extra: Callable = field(default=lambda draw, arrays: ((), {}))  # non-differentiable args


def unary(low=-3.0, high=3.0, away=None, min_dims=0):
    def draw(d):
        return [d(arrays_st(shapes_st(min_dims=min_dims, max_dims=3), low=low, high=high, away_from=away))], {}
    return draw


def binary(low=-3.0, high=3.0, b_low=-3.0, b_high=3.0, b_away=None):
    def draw(d):
        sa, sb = d(broadcast_pair_st())
        return [d(arrays_st(sa, low=low, high=high)), d(arrays_st(sb, low=b_low, high=b_high, away_from=b_away))], {}
    return draw


def with_axis(low=-3.0, high=3.0, keepdims=True, min_dims=1, away=None, min_side=1):
    def draw(d):
        x = d(arrays_st(shapes_st(min_dims=min_dims, max_dims=3, min_side=min_side), low=low, high=high, away_from=away))
        kw = {"axis": d(st.integers(-x.ndim, x.ndim - 1))}
        if keepdims:
            kw["keepdims"] = d(st.booleans())
        return [x], kw
    return draw


def distinct(d, shape):
    """Values with no ties (max needs a unique winner for finite differences)."""
    shape = d(shape) if isinstance(shape, st.SearchStrategy) else shape
    n = int(np.prod(shape))
    perm = d(st.permutations(list(range(n))))
    return (np.array(perm, dtype=np.float64).reshape(shape) * 0.37 - n * 0.1)


def draw_matmul(d):
    m, k, n = (d(st.integers(1, 4)) for _ in range(3))
    batch_a, batch_b = d(broadcast_pair_st(min_dims=0, max_dims=2, max_side=3))
    return [d(arrays_st(batch_a + (m, k))), d(arrays_st(batch_b + (k, n)))], {}


def draw_matmul_vec(d):
    k, n = d(st.integers(1, 4)), d(st.integers(1, 4))
    left = d(st.booleans())
    return ([d(arrays_st((k,))), d(arrays_st((k, n)))] if left else [d(arrays_st((n, k))), d(arrays_st((k,)))]), {}


def draw_getitem(d):
    x = d(arrays_st(shapes_st(min_dims=2, max_dims=3, min_side=2)))
    kind = d(st.sampled_from(["slice", "int_array", "bool_mask", "mixed"]))
    if kind == "slice":
        idx = (slice(d(st.integers(0, 1)), None, d(st.integers(1, 2))), Ellipsis, slice(None, -1) if x.shape[-1] > 1 else 0)
    elif kind == "int_array":  # repeated ids: the backward must accumulate
        idx = np.array(d(st.lists(st.integers(0, x.shape[0] - 1), min_size=1, max_size=6)))
    elif kind == "bool_mask":
        idx = np.array(d(st.lists(st.booleans(), min_size=x.shape[0], max_size=x.shape[0])))
    else:
        idx = (np.array([0, x.shape[0] - 1, 0]), slice(None), np.array([1, 0, 1]) % x.shape[-1]) if x.ndim == 3 else (slice(None), np.array([1, 1, 0]))
    return [x], {"idx": idx}


def draw_concat(d):
    base = list(d(shapes_st(min_dims=1, max_dims=3)))
    axis = d(st.integers(0, len(base) - 1))
    k = d(st.integers(1, 3))
    arrays = []
    for _ in range(k):
        s = list(base)
        s[axis] = d(st.integers(1, 3))
        arrays.append(d(arrays_st(tuple(s))))
    return arrays, {"axis": axis}


def draw_stack(d):
    shape = d(shapes_st(min_dims=0, max_dims=2))
    k = d(st.integers(1, 3))
    return [d(arrays_st(shape)) for _ in range(k)], {"axis": d(st.integers(0, len(shape)))}


def draw_where(d):
    sa, sb = d(broadcast_pair_st(min_dims=1))
    shape = np.broadcast_shapes(sa, sb)
    cond = np.array(d(st.lists(st.booleans(), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))).reshape(shape)
    return [d(arrays_st(sa)), d(arrays_st(sb))], {"cond": cond}


def draw_masked_fill(d):
    x = d(arrays_st(shapes_st(min_dims=1)))
    mask = np.array(d(st.lists(st.booleans(), min_size=x.shape[-1], max_size=x.shape[-1])))
    return [x], {"mask": mask}


def draw_permute(d):
    x = d(arrays_st(shapes_st(min_dims=1, max_dims=4)))
    return [x], {"axes": tuple(d(st.permutations(list(range(x.ndim)))))}


def draw_reshape(d):
    x = d(arrays_st(shapes_st(min_dims=1, max_dims=3)))
    return [x], {"shape": (d(st.sampled_from([1, x.size])), -1)}


def draw_ce(d):
    n, c = d(st.integers(1, 5)), d(st.integers(1, 5))
    lead = (n,) if d(st.booleans()) else (2, n)
    logits = d(arrays_st(lead + (c,), low=-4, high=4))
    t = np.array(d(st.lists(st.integers(0, c - 1), min_size=int(np.prod(lead)), max_size=int(np.prod(lead))))).reshape(lead)
    if t.size > 1 and d(st.booleans()):
        t.reshape(-1)[0] = -100                       # an ignored row
    return [logits], {"targets": t, "reduction": d(st.sampled_from(["mean", "sum", "none"]))}


def draw_layer_norm(d):
    shape = d(shapes_st(min_dims=1, max_dims=3, min_side=2))
    x = d(arrays_st(shape))
    D = shape[-1]
    return [x, d(arrays_st((D,), noncontiguous=False)), d(arrays_st((D,), noncontiguous=False))], {}


def draw_embedding(d):
    V, C = d(st.integers(1, 6)), d(st.integers(1, 4))
    ids = np.array(d(st.lists(st.integers(0, V - 1), min_size=1, max_size=8)))
    return [d(arrays_st((V, C)))], {"ids": ids.reshape(-1, 1) if d(st.booleans()) else ids}


def draw_linear(d):
    lead = d(shapes_st(min_dims=1, max_dims=2, max_side=3))
    cin, cout = d(st.integers(1, 4)), d(st.integers(1, 4))
    return [d(arrays_st(lead + (cin,))), d(arrays_st((cout, cin))), d(arrays_st((cout,)))], {}


def draw_lora_linear(d):
    lead = d(shapes_st(min_dims=1, max_dims=2, max_side=3))
    cin, cout, r = d(st.integers(1, 4)), d(st.integers(1, 4)), d(st.integers(1, 3))
    return [d(arrays_st(lead + (cin,))), d(arrays_st((cout, cin))), d(arrays_st((r, cin))), d(arrays_st((cout, r))),
            d(arrays_st((cout,)))], {"scale": d(st.sampled_from([0.5, 2.0]))}


def draw_attention(d):
    B, Tq, Tk, dk, dv = (d(st.integers(1, 3)) for _ in range(5))
    causal = d(st.booleans())
    if causal:
        Tk = Tq
    return [d(arrays_st((B, Tq, dk))), d(arrays_st((B, Tk, dk))), d(arrays_st((B, Tk, dv)))], {"is_causal": causal}


def tsum(t, x, axis, keepdims):
    return t.sum(x, dim=axis, keepdim=keepdims)


OPS = {
    "add": Op(lambda a, b: a + b, lambda t, a, b: a + b, binary()),
    "sub": Op(lambda a, b: a - b, lambda t, a, b: a - b, binary()),
    "mul": Op(lambda a, b: a * b, lambda t, a, b: a * b, binary()),
    "div": Op(lambda a, b: a / b, lambda t, a, b: a / b, binary(b_low=0.5, b_high=3.0)),
    "neg": Op(lambda a: -a, lambda t, a: -a, unary()),
    "pow_scalar": Op(lambda a: a ** 3, lambda t, a: a ** 3, unary()),
    "pow_tensor": Op(lambda a, b: a ** b, lambda t, a, b: a ** b, binary(low=0.5, high=2.0)),
    "rsub_scalar": Op(lambda a: 2.0 - a, lambda t, a: 2.0 - a, unary()),
    "rdiv_scalar": Op(lambda a: 1.5 / a, lambda t, a: 1.5 / a, unary(low=0.5, high=3.0)),
    "exp": Op(F.exp, lambda t, a: a.exp(), unary()),
    "log": Op(F.log, lambda t, a: a.log(), unary(low=0.1, high=5.0)),
    "sqrt": Op(F.sqrt, lambda t, a: a.sqrt(), unary(low=0.1, high=5.0)),
    "tanh": Op(F.tanh, lambda t, a: a.tanh(), unary()),
    "sigmoid": Op(F.sigmoid, lambda t, a: a.sigmoid(), unary(low=-8, high=8)),
    "relu": Op(F.relu, lambda t, a: a.relu(), unary(away=(0.0, 1e-3))),
    "abs": Op(F.abs, lambda t, a: a.abs(), unary(away=(0.0, 1e-3))),
    "gelu_erf": Op(F.gelu, lambda t, a: t.nn.functional.gelu(a), unary(low=-5, high=5)),
    "gelu_tanh": Op(lambda a: F.gelu(a, "tanh"), lambda t, a: t.nn.functional.gelu(a, approximate="tanh"), unary(low=-5, high=5)),
    "sum": Op(lambda a, axis, keepdims: F.sum(a, axis, keepdims), tsum, with_axis()),
    "sum_all": Op(lambda a: a.sum(), lambda t, a: a.sum(), unary()),
    "mean": Op(lambda a, axis, keepdims: F.mean(a, axis, keepdims), lambda t, a, axis, keepdims: a.mean(dim=axis, keepdim=keepdims), with_axis()),
    "var": Op(lambda a, axis: F.var(a, axis, correction=1), lambda t, a, axis: a.var(dim=axis, correction=1), with_axis(keepdims=False, min_side=2)),
    "max": Op(lambda a, axis, keepdims: F.max(a, axis, keepdims), lambda t, a, axis, keepdims: t.amax(a, dim=axis, keepdim=keepdims),
              lambda d: (lambda x: ([x], {"axis": d(st.integers(-x.ndim, x.ndim - 1)), "keepdims": d(st.booleans())}))(distinct(d, shapes_st(max_dims=3)))),
    "reshape": Op(lambda a, shape: a.reshape(shape), lambda t, a, shape: a.reshape(shape), draw_reshape),
    "permute": Op(lambda a, axes: a.permute(axes), lambda t, a, axes: a.permute(axes), draw_permute),
    "transpose": Op(lambda a: a.transpose(0, -1), lambda t, a: a.transpose(0, -1), unary(min_dims=1)),
    "expand": Op(lambda a: a.expand((2,) + a.shape), lambda t, a: a.expand((2,) + tuple(a.shape)), unary()),
    "getitem": Op(lambda a, idx: a[idx], lambda t, a, idx: a[tuple(t.as_tensor(i) if isinstance(i, np.ndarray) else i for i in idx)] if isinstance(idx, tuple) else a[t.as_tensor(idx)], draw_getitem),
    "concat": Op(lambda *xs, axis: F.concat(xs, axis), lambda t, *xs, axis: t.cat(xs, dim=axis), draw_concat),
    "stack": Op(lambda *xs, axis: F.stack(xs, axis), lambda t, *xs, axis: t.stack(xs, dim=axis), draw_stack),
    "split": Op(lambda a: F.concat([p * (i + 1) for i, p in enumerate(F.split(a, 2, -1))], -1),
                lambda t, a: t.cat([p * (i + 1) for i, p in enumerate(t.split(a, 2, -1))], -1), unary(min_dims=1)),
    "where": Op(lambda a, b, cond: F.where(cond, a, b), lambda t, a, b, cond: t.where(t.as_tensor(cond), a, b), draw_where),
    "masked_fill": Op(lambda a, mask: a.masked_fill(mask, 0.5), lambda t, a, mask: a.masked_fill(t.as_tensor(mask), 0.5), draw_masked_fill),
    "matmul": Op(lambda a, b: a @ b, lambda t, a, b: a @ b, draw_matmul),
    "matmul_vec": Op(lambda a, b: a @ b, lambda t, a, b: a @ b, draw_matmul_vec),
    "softmax": Op(lambda a, axis: F.softmax(a, axis), lambda t, a, axis: t.softmax(a, dim=axis), with_axis(keepdims=False)),
    "log_softmax": Op(lambda a, axis: F.log_softmax(a, axis), lambda t, a, axis: t.log_softmax(a, dim=axis), with_axis(keepdims=False)),
    "cross_entropy": Op(lambda a, targets, reduction: F.cross_entropy(a, targets, reduction=reduction),
                        lambda t, a, targets, reduction: t.nn.functional.cross_entropy(a.reshape(-1, a.shape[-1]), t.as_tensor(targets).reshape(-1), reduction=reduction).reshape(targets.shape if reduction == "none" else ()),
                        draw_ce),
    "embedding": Op(lambda w, ids: F.embedding(ids, w), lambda t, w, ids: t.nn.functional.embedding(t.as_tensor(ids), w), draw_embedding),
    "layer_norm": Op(lambda x, w, b: F.layer_norm(x, x.shape[-1], w, b), lambda t, x, w, b: t.nn.functional.layer_norm(x, (x.shape[-1],), w, b), draw_layer_norm),
    "layer_norm_noaffine": Op(lambda x: F.layer_norm(x, x.shape[-1]), lambda t, x: t.nn.functional.layer_norm(x, (x.shape[-1],)), unary(min_dims=1)),
    "linear": Op(lambda x, w, b: F.linear(x, w, b), lambda t, x, w, b: t.nn.functional.linear(x, w, b), draw_linear),
    "linear_nobias": Op(lambda x, w: F.linear(x, w), lambda t, x, w: t.nn.functional.linear(x, w),
                        lambda d: (draw_linear(d)[0][:2], {})),
    "lora_linear": Op(lambda x, w, a, b, bias, scale: F.lora_linear(x, w, a, b, scale, bias),
                      lambda t, x, w, a, b, bias, scale: t.nn.functional.linear(x, w, bias) + scale * ((x @ a.T) @ b.T),
                      draw_lora_linear),
    "attention": Op(lambda q, k, v, is_causal: F.scaled_dot_product_attention(q, k, v, is_causal=is_causal),
                    lambda t, q, k, v, is_causal: t.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=is_causal), draw_attention),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(OPS))
@given(data=st.data())
def test_gradcheck(name, device, data):
    op = OPS[name]
    arrays, kw = op.draw(data.draw)
    inputs = [Tensor(a).to(device).requires_grad_() for a in arrays]
    assert gradcheck(lambda *xs: op.ours(*xs, **kw), *inputs)


@pytest.mark.torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(OPS))
@given(data=st.data())
def test_matches_torch(name, device, data):
    import torch
    op = OPS[name]
    arrays, kw = op.draw(data.draw)
    ours = [Tensor(a).to(device).requires_grad_() for a in arrays]
    theirs = [torch.tensor(a.copy(order="C"), requires_grad=True) for a in arrays]
    y, ty = op.ours(*ours, **kw), op.theirs(torch, *theirs, **kw)
    assert_close(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12, msg=f"{name} forward")
    g = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(Tensor(g))
    ty.backward(torch.tensor(g))
    for i, (a, b) in enumerate(zip(ours, theirs)):
        expected = np.zeros(a.shape) if b.grad is None else b.grad.numpy()
        actual = np.zeros(a.shape) if a.grad is None else a.grad
        assert_close(actual, expected, rtol=1e-9, atol=1e-11, msg=f"{name} grad of input {i}")


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "cross_entropy", "layer_norm"])
@given(data=st.data())
def test_fused_equals_composed(name, data):
    """Each fused op (analytic backward) equals the same formula built from primitives."""
    fused, composed = {
        "softmax": (F.softmax, F.softmax_composed), "log_softmax": (F.log_softmax, F.log_softmax_composed),
        "cross_entropy": (F.cross_entropy, F.cross_entropy_composed), "layer_norm": (F.layer_norm, F.layer_norm_composed),
    }[name]
    if name == "cross_entropy":
        arrays, kw = draw_ce(data.draw)
        args = lambda x: (x, kw["targets"], -100, kw["reduction"])  # noqa: E731
    elif name == "layer_norm":
        arrays, _ = draw_layer_norm(data.draw)
        arrays = arrays[:1]
        args = lambda x: (x, x.shape[-1])  # noqa: E731
    else:
        arrays, kw = with_axis(keepdims=False)(data.draw)
        args = lambda x: (x, kw["axis"])  # noqa: E731
    a, b = Tensor(arrays[0], requires_grad=True), Tensor(arrays[0].copy(), requires_grad=True)
    ya, yb = fused(*args(a)), composed(*args(b))
    assert_close(ya, yb, rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(2).standard_normal(ya.shape)
    ya.backward(Tensor(g))
    yb.backward(Tensor(g))
    assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-11)


# ---------------------------------------------------------------------------- numerical stability
@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_softmax_family_finite_at_extreme_logits(scale):
    z = np.array([[1.0, 0.0, -1.0], [2.0, 2.0, -3.0]], dtype=np.float32) * scale
    x = Tensor(z, requires_grad=True)
    p = F.softmax(x, -1).numpy()
    lp = F.log_softmax(x, -1).numpy()
    loss = F.cross_entropy(x, np.array([0, 2]))
    loss.backward()
    assert np.isfinite(p).all() and np.isfinite(lp).all() and np.isfinite(loss.item())
    assert np.isfinite(x.grad.numpy()).all()
    assert_close(p.sum(-1), np.ones(2), rtol=1e-6)
    # exact answers: softmax of a row with one logit 1e4 above the others is one-hot
    top = np.argmax(z, axis=-1)
    assert_close(p[0], np.eye(3)[top[0]], atol=1e-6)
    ties = (z == z.max(-1, keepdims=True)).sum(-1)
    assert_close(lp.max(-1), -np.log(ties), atol=1e-3)               # log(1 / number of tied maxima)


def test_cross_entropy_extreme_value_is_exact():
    x = Tensor(np.array([[1e4, 0.0, -1e4]], dtype=np.float32))
    assert F.cross_entropy(x, np.array([1])).item() == pytest.approx(1e4, rel=1e-6)


def test_layer_norm_constant_rows():
    x = Tensor(np.full((3, 5), 7.0, dtype=np.float32), requires_grad=True)
    w, b = Tensor(np.ones(5, np.float32), requires_grad=True), Tensor(np.arange(5, dtype=np.float32), requires_grad=True)
    y = F.layer_norm(x, 5, w, b)
    assert_close(y, np.tile(np.arange(5.0), (3, 1)), atol=1e-6)     # x - mu = 0 exactly, so y = beta
    (y * Tensor(np.random.randn(3, 5).astype(np.float32))).sum().backward()
    assert np.isfinite(x.grad.numpy()).all() and np.isfinite(w.grad.numpy()).all()


def test_cross_entropy_ignore_index_matches_subset():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6, 4))
    t = np.array([0, -100, 3, 1, -100, 2])
    keep = t != -100
    full = F.cross_entropy(Tensor(z), t).item()
    sub = F.cross_entropy(Tensor(z[keep]), t[keep]).item()
    assert full == pytest.approx(sub, rel=1e-12)


def test_dropout_seeded_and_eval_identity():
    import tinygrad_llm
    x = Tensor(np.ones((200, 50), np.float32), requires_grad=True)
    tinygrad_llm.manual_seed(3)
    a = F.dropout(x, 0.3).numpy()
    tinygrad_llm.manual_seed(3)
    b = F.dropout(x, 0.3).numpy()
    assert np.array_equal(a, b)
    assert set(np.unique(a)) <= {0.0, np.float32(1 / 0.7)}
    assert abs((a == 0).mean() - 0.3) < 0.02                         # 10,000 draws: 4.6 std devs
    assert F.dropout(x, 0.3, training=False) is x
    y = F.dropout(x, 0.5)
    y.sum().backward()
    assert np.array_equal(x.grad.numpy(), y.numpy())                  # gradient = mask / (1 - p)
    with pytest.raises(ValueError, match="dropout"):
        F.dropout(x, 1.5)
