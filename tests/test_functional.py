"""Every differentiable op, checked on hypothesis-drawn inputs against float64 central differences
(``gradcheck``), against ``torch.autograd`` (forward and all input gradients) and, where the op has a
composed twin (the same formula built from primitives), against that twin. One registry, ``OPS``,
drives all three, and ``test_every_public_op_is_exported_and_registered`` fails when an op defined in
``functional/*.py`` is missing from ``functional.__all__`` or from ``OPS``."""
from __future__ import annotations

import importlib
import inspect
import math
import pkgutil
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_llm.functional as F
from tinygrad_llm import Tensor, backend
from tinygrad_llm.functional import _dispatch
from tinygrad_llm.testing import assert_close, gradcheck
from tinygrad_llm.testing.strategies import arrays_st, broadcast_pair_st, shapes_st

from devices import DEVICES


@dataclass
class Op:
    ours: Callable            # (*tensors, **kw) -> Tensor
    theirs: Callable          # (torch module, *torch tensors, **kw) -> torch tensor
    draw: Callable            # hypothesis draw -> (list of float arrays, kwargs)
    composed: Optional[Callable] = None   # the same call through the composed twin (same arguments)
    covers: tuple = ()        # the functional names this entry exercises (default: its key)


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


def draw_rope(d):
    lead = d(shapes_st(min_dims=0, max_dims=2, max_side=3))        # batch / heads, broadcast over by cos/sin
    T, half = d(st.integers(1, 4)), d(st.integers(1, 3))
    x = d(arrays_st(lead + (T, 2 * half)))
    theta = d(arrays_st((T, half), low=-4.0, high=4.0, noncontiguous=False))
    return [x], {"cos": np.cos(theta), "sin": np.sin(theta), "interleaved": d(st.booleans())}


def torch_rope(t, x, cos, sin, interleaved):
    c, s = t.as_tensor(cos), t.as_tensor(sin)
    d = x.shape[-1]
    x1, x2 = (x[..., 0::2], x[..., 1::2]) if interleaved else (x[..., : d // 2], x[..., d // 2:])
    y1, y2 = x1 * c - x2 * s, x1 * s + x2 * c
    return t.stack([y1, y2], -1).reshape(x.shape) if interleaved else t.cat([y1, y2], -1)


def draw_rms_norm(d):
    shape = d(shapes_st(min_dims=1, max_dims=3))
    x = d(arrays_st(shape))
    if d(st.booleans()):
        return [x, d(arrays_st((shape[-1],)))], {}
    return [x], {}


def draw_same_pair(d):
    shape = d(shapes_st(min_dims=0, max_dims=3))
    return [d(arrays_st(shape, low=-4, high=4)), d(arrays_st(shape))], {}


def draw_lstm_cell(d):
    B, H = d(st.integers(1, 3)), d(st.integers(1, 3))
    return [d(arrays_st((B, 4 * H))), d(arrays_st((B, H)))], {}


def torch_lstm_cell(t, z, c):
    i, f, g, o = z.chunk(4, -1)
    c2 = i.sigmoid() * g.tanh() + f.sigmoid() * c
    return t.cat([o.sigmoid() * c2.tanh(), c2], -1)


def draw_lstm_sequence(d):
    T, B, H = d(st.integers(1, 3)), d(st.integers(1, 3)), d(st.integers(1, 3))
    return [d(arrays_st((T, B, 4 * H))), d(arrays_st((B, H))), d(arrays_st((B, H))),
            d(arrays_st((4 * H, H), low=-1, high=1))], {}


def torch_lstm_sequence(t, zx, h, c, w_hh):
    out = []
    for step in range(zx.shape[0]):
        hc = torch_lstm_cell(t, zx[step] + h @ w_hh.T, c)
        h, c = hc.chunk(2, -1)
        out.append(hc)
    return t.stack(out, 0)


def dropout_mask(shape, p):
    backend.manual_seed(11)
    return F.dropout(Tensor(np.ones(shape)), p).numpy()


def draw_squeeze(d):
    shape = list(d(shapes_st(min_dims=1, max_dims=3)))
    axis = d(st.integers(0, len(shape)))
    shape.insert(axis, 1)
    return [d(arrays_st(tuple(shape)))], {"axis": axis}


def draw_flatten(d):
    x = d(arrays_st(shapes_st(min_dims=1, max_dims=4)))
    return [x], {"start_dim": d(st.integers(0, x.ndim - 1))}


def draw_attention_weights(d):
    arrays, kw = draw_attention(d)
    return arrays[:2], kw


def draw_patchify(d):
    B, C, P = d(st.integers(1, 2)), d(st.integers(1, 3)), d(st.integers(1, 3))
    Hp, Wp = d(st.integers(1, 3)), d(st.integers(1, 3))
    return [d(arrays_st((B, C, Hp * P, Wp * P)))], {"patch_size": P}


def draw_pixel_shuffle(d):
    B, r, k, D = d(st.integers(1, 2)), d(st.integers(1, 3)), d(st.integers(1, 2)), d(st.integers(1, 3))
    return [d(arrays_st((B, (r * k) ** 2, D)))], {"factor": r}


def torch_pixel_shuffle(t, x, factor):
    """Ours through torch's space-to-depth (``pixel_unshuffle``, channel first) and a reordering."""
    B, N, D = x.shape
    S, r = math.isqrt(N), factor
    y = t.nn.functional.pixel_unshuffle(x.reshape(B, S, S, D).permute(0, 3, 1, 2), r)   # (B, D r^2, S/r, S/r)
    return y.reshape(B, D, r, r, S // r, S // r).permute(0, 4, 5, 2, 3, 1).reshape(B, (S // r) ** 2, r * r * D)


def draw_info_nce(d):
    B, E = d(st.integers(1, 4), ), d(st.integers(1, 4))
    x, y = (d(arrays_st((B, E), away_from=(0.0, 0.1))) for _ in range(2))      # no row near the origin
    return [x, y, d(arrays_st((), low=-1.0, high=2.0))], {}


def torch_info_nce(t, x, y, logit_scale):
    u, v = t.nn.functional.normalize(x, dim=-1), t.nn.functional.normalize(y, dim=-1)
    S = logit_scale.exp() * u @ v.T
    labels = t.arange(S.shape[0])
    return (t.nn.functional.cross_entropy(S, labels) + t.nn.functional.cross_entropy(S.T, labels)) / 2


def tsum(t, x, axis, keepdims):
    return t.sum(x, dim=axis, keepdim=keepdims)


OPS = {
    "add": Op(lambda a, b: a + b, lambda t, a, b: a + b, binary()),
    "sub": Op(lambda a, b: a - b, lambda t, a, b: a - b, binary()),
    "mul": Op(lambda a, b: a * b, lambda t, a, b: a * b, binary()),
    "div": Op(lambda a, b: a / b, lambda t, a, b: a / b, binary(b_low=0.5, b_high=3.0)),
    "neg": Op(lambda a: -a, lambda t, a: -a, unary()),
    "pow_scalar": Op(lambda a: a ** 3, lambda t, a: a ** 3, unary(), covers=("pow",)),
    "pow_tensor": Op(lambda a, b: a ** b, lambda t, a, b: a ** b, binary(low=0.5, high=2.0), covers=("pow",)),
    "rsub_scalar": Op(lambda a: 2.0 - a, lambda t, a: 2.0 - a, unary()),
    "rdiv_scalar": Op(lambda a: 1.5 / a, lambda t, a: 1.5 / a, unary(low=0.5, high=3.0)),
    "exp": Op(F.exp, lambda t, a: a.exp(), unary()),
    "log": Op(F.log, lambda t, a: a.log(), unary(low=0.1, high=5.0)),
    "sqrt": Op(F.sqrt, lambda t, a: a.sqrt(), unary(low=0.1, high=5.0)),
    "tanh": Op(F.tanh, lambda t, a: a.tanh(), unary()),
    "sigmoid": Op(F.sigmoid, lambda t, a: a.sigmoid(), unary(low=-8, high=8)),
    "relu": Op(F.relu, lambda t, a: a.relu(), unary(away=(0.0, 1e-3))),
    "abs": Op(F.abs, lambda t, a: a.abs(), unary(away=(0.0, 1e-3))),
    "gelu_erf": Op(F.gelu, lambda t, a: t.nn.functional.gelu(a), unary(low=-5, high=5), covers=("gelu",)),
    "gelu_tanh": Op(lambda a: F.gelu(a, "tanh"), lambda t, a: t.nn.functional.gelu(a, approximate="tanh"), unary(low=-5, high=5), covers=("gelu",)),
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
    "softmax": Op(lambda a, axis: F.softmax(a, axis), lambda t, a, axis: t.softmax(a, dim=axis), with_axis(keepdims=False),
                  composed=lambda a, axis: F.softmax_composed(a, axis)),
    "log_softmax": Op(lambda a, axis: F.log_softmax(a, axis), lambda t, a, axis: t.log_softmax(a, dim=axis), with_axis(keepdims=False),
                      composed=lambda a, axis: F.log_softmax_composed(a, axis)),
    "cross_entropy": Op(lambda a, targets, reduction: F.cross_entropy(a, targets, reduction=reduction),
                        lambda t, a, targets, reduction: t.nn.functional.cross_entropy(a.reshape(-1, a.shape[-1]), t.as_tensor(targets).reshape(-1), reduction=reduction).reshape(targets.shape if reduction == "none" else ()),
                        draw_ce, composed=lambda a, targets, reduction: F.cross_entropy_composed(a, targets, reduction=reduction)),
    "embedding": Op(lambda w, ids: F.embedding(ids, w), lambda t, w, ids: t.nn.functional.embedding(t.as_tensor(ids), w), draw_embedding),
    "layer_norm": Op(lambda x, w, b: F.layer_norm(x, x.shape[-1], w, b), lambda t, x, w, b: t.nn.functional.layer_norm(x, (x.shape[-1],), w, b), draw_layer_norm,
                     composed=lambda x, w, b: F.layer_norm_composed(x, x.shape[-1], w, b)),
    "layer_norm_noaffine": Op(lambda x: F.layer_norm(x, x.shape[-1]), lambda t, x: t.nn.functional.layer_norm(x, (x.shape[-1],)), unary(min_dims=1),
                              composed=lambda x: F.layer_norm_composed(x, x.shape[-1]), covers=("layer_norm",)),
    "linear": Op(lambda x, w, b: F.linear(x, w, b), lambda t, x, w, b: t.nn.functional.linear(x, w, b), draw_linear),
    "linear_nobias": Op(lambda x, w: F.linear(x, w), lambda t, x, w: t.nn.functional.linear(x, w),
                        lambda d: (draw_linear(d)[0][:2], {}), covers=("linear",)),
    "lora_linear": Op(lambda x, w, a, b, bias, scale: F.lora_linear(x, w, a, b, scale, bias),
                      lambda t, x, w, a, b, bias, scale: t.nn.functional.linear(x, w, bias) + scale * ((x @ a.T) @ b.T),
                      draw_lora_linear,
                      composed=lambda x, w, a, b, bias, scale: F.lora_linear_composed(x, w, a, b, scale, bias)),
    "attention": Op(lambda q, k, v, is_causal: F.scaled_dot_product_attention(q, k, v, is_causal=is_causal),
                    lambda t, q, k, v, is_causal: t.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=is_causal), draw_attention,
                    composed=lambda q, k, v, is_causal: F.scaled_dot_product_attention_composed(q, k, v, is_causal=is_causal),
                    covers=("scaled_dot_product_attention",)),
    "attention_weights": Op(lambda q, k, is_causal: F.attention_weights(q, k, is_causal=is_causal),
                            lambda t, q, k, is_causal: t.softmax((q @ k.transpose(-2, -1) / np.sqrt(q.shape[-1])).masked_fill(
                                ~t.ones(q.shape[-2], k.shape[-2], dtype=t.bool).tril(), float("-inf")) if is_causal
                                else q @ k.transpose(-2, -1) / np.sqrt(q.shape[-1]), -1), draw_attention_weights),
    "rope": Op(lambda x, cos, sin, interleaved: F.rope(x, cos, sin, interleaved), torch_rope, draw_rope,
               composed=lambda x, cos, sin, interleaved: F.rope_composed(x, cos, sin, interleaved)),
    "rms_norm": Op(lambda x, *w: F.rms_norm(x, *w, eps=1e-6),
                   lambda t, x, *w: t.nn.functional.rms_norm(x, (x.shape[-1],), *w, eps=1e-6), draw_rms_norm,
                   composed=lambda x, *w: F.rms_norm_composed(x, *w, eps=1e-6)),
    "swiglu": Op(F.swiglu, lambda t, a, b: t.nn.functional.silu(a) * b, draw_same_pair, composed=F.swiglu_composed),
    "silu": Op(F.silu, lambda t, a: t.nn.functional.silu(a), unary(low=-6, high=6)),
    "lstm_cell": Op(lambda z, c: F.concat(list(F.lstm_cell(z, c)), -1), torch_lstm_cell, draw_lstm_cell,
                    composed=lambda z, c: F.concat(list(F.lstm_cell_composed(z, c)), -1), covers=("lstm_cell", "concat")),
    "lstm_sequence": Op(F.lstm_sequence, torch_lstm_sequence, draw_lstm_sequence),
    "dropout": Op(lambda a: (backend.manual_seed(11), F.dropout(a, 0.3))[1],
                  lambda t, a: a * t.as_tensor(dropout_mask(tuple(a.shape), 0.3)), unary(min_dims=1)),
    "cast": Op(lambda a: F.cast(a, np.float64), lambda t, a: a.to(t.float64), unary()),
    "flatten": Op(lambda a, start_dim: F.flatten(a, start_dim), lambda t, a, start_dim: t.flatten(a, start_dim), draw_flatten),
    "squeeze": Op(lambda a, axis: F.squeeze(a, axis), lambda t, a, axis: a.squeeze(axis), draw_squeeze),
    "unsqueeze": Op(lambda a: F.unsqueeze(a, 0), lambda t, a: a.unsqueeze(0), unary()),
    "patchify": Op(lambda x, patch_size: F.patchify(x, patch_size),
                   lambda t, x, patch_size: t.nn.functional.unfold(x, patch_size, stride=patch_size).transpose(1, 2),
                   draw_patchify, composed=lambda x, patch_size: F.patchify_composed(x, patch_size)),
    "pixel_shuffle": Op(lambda x, factor: F.pixel_shuffle(x, factor), torch_pixel_shuffle, draw_pixel_shuffle,
                        composed=lambda x, factor: F.pixel_shuffle_composed(x, factor)),
    "info_nce": Op(F.info_nce, torch_info_nce, draw_info_nce, composed=F.info_nce_composed),
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


@pytest.mark.parametrize("name", sorted(n for n, op in OPS.items() if op.composed is not None))
@given(data=st.data())
def test_fused_equals_composed(name, data):
    """Each fused op (analytic backward) equals the same formula built from primitives."""
    op = OPS[name]
    arrays, kw = op.draw(data.draw)
    a = [Tensor(x.copy(), requires_grad=True) for x in arrays]
    b = [Tensor(x.copy(), requires_grad=True) for x in arrays]
    ya, yb = op.ours(*a, **kw), op.composed(*b, **kw)
    assert_close(ya, yb, rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(2).standard_normal(ya.shape)
    ya.backward(Tensor(g))
    yb.backward(Tensor(g))
    for x, y in zip(a, b):
        assert_close(x.grad, y.grad, rtol=1e-9, atol=1e-11)


# ---------------------------------------------------------------------------- the registry is complete
ARRAY_HELPERS = {"causal_mask", "additive_mask", "rope_angles"}   # build constant arrays, not ops


def public_functions():
    """name -> function for every public function defined in a functional/*.py file."""
    out = {}
    for info in pkgutil.iter_modules(F.__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"tinygrad_llm.functional.{info.name}")
        for name, fn in vars(mod).items():
            if inspect.isfunction(fn) and fn.__module__ == mod.__name__ and not name.startswith("_"):
                out[name] = fn
    return out


def is_plain_array_code(name, fn):
    """References (of a kernel, or named ``*_reference``) and raw-array steps (``cell_forward``)."""
    references = {r.reference for r in _dispatch.ROUTES.values()}
    return fn in references or name.endswith(("_reference", "_forward", "_backward"))


def test_every_public_op_is_exported_and_registered():
    ops = {n: fn for n, fn in public_functions().items() if not is_plain_array_code(n, fn) and n not in ARRAY_HELPERS}
    covered = set()
    for key, op in OPS.items():
        for name in op.covers or ((key,) if key in F.__all__ else ()):
            covered.add(getattr(F, name))
            twin = getattr(F, f"{name}_composed", None)
            if twin is not None:
                assert op.composed is not None, f"OPS[{key!r}] covers {name} but not its composed twin {name}_composed"
                covered.add(twin)
    missing_export = sorted(n for n, fn in ops.items() if getattr(F, n, None) is not fn or n not in F.__all__)
    missing_ops = sorted(n for n, fn in ops.items() if fn not in covered)
    assert missing_export == [], f"defined in functional/ but not exported from functional/__init__.py: {missing_export}"
    assert missing_ops == [], f"exported ops with no OPS entry in tests/test_functional.py: {missing_ops}"
    assert all(n in F.__all__ for n in ARRAY_HELPERS)


def test_registry_check_sees_a_new_op(monkeypatch):
    import tinygrad_llm.functional.elementwise as E
    monkeypatch.setattr(E, "softplus", lambda x: (x.exp() + 1.0).log(), raising=False)
    E.softplus.__module__ = E.__name__
    E.softplus.__name__ = "softplus"
    with pytest.raises(AssertionError, match="softplus"):
        test_every_public_op_is_exported_and_registered()


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


@pytest.mark.parametrize("op,args,match", [
    (F.patchify, (np.zeros((1, 3, 8, 8), np.float32), 0), "patchify: patch_size must be a whole number >= 1, got 0"),
    (F.patchify, (np.zeros((1, 3, 8, 8), np.float32), True), "patchify: patch_size must be a whole number >= 1, got True"),
    (F.patchify, (np.zeros((1, 3, 8, 8), np.float32), 2.0), "patchify: patch_size must be a whole number >= 1, got 2.0"),
    (F.patchify, (np.zeros((3, 8, 8), np.float32), 2), r"patchify: expected images of shape \(B, C, H, W\), got \(3, 8, 8\)"),
    (F.patchify, (np.zeros((1, 3, 8, 6), np.float32), 4), r"patchify: image height and width \(8, 6\) are not multiples"),
    (F.pixel_shuffle, (np.zeros((1, 16, 4), np.float32), -1), "pixel_shuffle: factor must be a whole number >= 1, got -1"),
    (F.pixel_shuffle, (np.zeros((16, 4), np.float32), 2), r"pixel_shuffle: expected tokens of shape \(B, N, D\)"),
    (F.pixel_shuffle, (np.zeros((1, 15, 4), np.float32), 2), "pixel_shuffle: 15 tokens do not form a square grid"),
])
def test_patchify_and_pixel_shuffle_name_a_bad_argument(op, args, match):
    with pytest.raises(ValueError, match=match):
        op(Tensor(args[0]), args[1])
