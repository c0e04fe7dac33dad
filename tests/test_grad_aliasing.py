"""Visible gradients never share memory: a leaf's ``.grad``, a retained ``.grad`` of a non-leaf and the
gradient the caller passed to ``backward`` are each their own array, whatever the backward functions
return (the same ``g`` for both inputs of ``add``, views from ``sum_to``, broadcast views, a gradient
passed straight through ``reshape``). Checked on hypothesis-drawn graphs with shared subexpressions,
and end to end: AdamW + warm-up/cosine + ``clip_grad_norm_`` (which scales gradients in place)
follows PyTorch for 20 steps on the LSTM LM and on GPT."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_llm.functional as F
from tinygrad_llm import Tensor, backend, optim

S = (2, 3)                                              # every node of the drawn graphs broadcasts to S


def _visible(tensors):
    return [(name, t.grad.data) for name, t in tensors if t.grad is not None]


def assert_no_aliasing(named, extra=()):
    """No two visible gradients (and none of ``extra``) share memory, and each is writeable."""
    arrays = _visible(named) + list(extra)
    for name, a in arrays[:len(_visible(named))]:
        assert a.flags.writeable, f"{name}.grad is read-only"
    for (na, a), (nb, b) in itertools.combinations(arrays, 2):
        assert not np.shares_memory(a, b), f"{na} and {nb} share memory"
    # an in-place change to one gradient never changes another
    for name, a in _visible(named):
        before = [(n, b.copy()) for n, b in arrays if b is not a]
        a += 1.0
        for (n, b), (_, old) in zip([(n, b) for n, b in arrays if b is not a], before):
            assert np.array_equal(b, old), f"changing {name}.grad changed {n}"
        a -= 1.0


# ------------------------------------------------------------------------------------------- small cases
def test_add_gives_each_leaf_its_own_gradient_and_clipping_scales_each_once():
    a = Tensor(np.ones(3), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    ((a + b) * 4.0).sum().backward()
    assert not np.shares_memory(a.grad.data, b.grad.data)
    norm = optim.clip_grad_norm_([a, b], 1.0)
    assert norm == pytest.approx(math.sqrt(6 * 16))
    np.testing.assert_allclose(a.grad.numpy(), np.full(3, 4.0 / math.sqrt(96) * (1 - 1e-6 / (math.sqrt(96) + 1e-6))),
                               rtol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy())


def test_same_tensor_on_both_sides_and_retained_intermediates():
    x = Tensor(np.arange(6.0).reshape(S), requires_grad=True)
    y = Tensor(np.ones(S), requires_grad=True)
    h = (x + y).retain_grad()                           # add passes g to x, y and is retained
    k = h.reshape(6).retain_grad()                      # reshape passes a view of k's gradient to h
    z = (k + k).retain_grad()
    z.sum().backward()
    assert_no_aliasing([("x", x), ("y", y), ("h", h), ("k", k), ("z", z)])
    np.testing.assert_array_equal(x.grad.numpy(), np.full(S, 2.0))


def test_caller_gradient_is_not_aliased():
    x = Tensor(np.ones(S), requires_grad=True)
    g = np.arange(6.0).reshape(S)
    x.backward(g)                                       # the root is a leaf: its .grad must be a copy
    assert not np.shares_memory(x.grad.data, g)
    w = Tensor(np.ones(6), requires_grad=True)
    y = w.reshape(S)                                    # reshape hands w a view of g
    gt = Tensor(g.copy())
    y.backward(gt)
    assert_no_aliasing([("w", w)], extra=[("g", gt.data)])


def test_broadcast_and_sum_views_become_owned_writeable_arrays():
    a = Tensor(np.ones((1, 3)), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    c = Tensor(np.ones(S), requires_grad=True)
    h = (a.expand(S) + b).retain_grad()
    (h + c).sum().backward()                             # sum's backward is a read-only broadcast view
    assert_no_aliasing([("a", a), ("b", b), ("c", c), ("h", h)])


def test_stack_and_concat_pieces_are_separate():
    xs = [Tensor(np.full(3, float(i)), requires_grad=True) for i in range(3)]
    s = F.stack(xs, 0).retain_grad()                    # the pieces are views of s.grad
    (s * 2.0).sum().backward()
    assert_no_aliasing([(f"x{i}", x) for i, x in enumerate(xs)] + [("s", s)])
    ys = [Tensor(np.ones((2, 2)), requires_grad=True) for _ in range(2)]
    s = F.concat(ys, 1)
    s.backward(np.ones((2, 4)))
    assert_no_aliasing([(f"y{i}", y) for i, y in enumerate(ys)])


def test_accumulated_and_retain_graph_gradients_stay_separate():
    a = Tensor(np.ones(3), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    y = ((a + b) * 2.0).sum()
    y.backward(retain_graph=True)
    assert_no_aliasing([("a", a), ("b", b)])
    y.backward()
    assert_no_aliasing([("a", a), ("b", b)])
    np.testing.assert_array_equal(a.grad.numpy(), [4.0, 4.0, 4.0])


def test_a_backward_that_returns_an_input_array_gets_a_copy():
    from tinygrad_llm import Function

    class HalfSquare(Function):                         # y = x^2 / 2, so for g = 1 the gradient is x itself
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return 0.5 * x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return x                                    # (only right for g = 1: the point is the aliasing)

    x = Tensor(np.arange(3.0), requires_grad=True)
    HalfSquare.apply(x).backward(np.ones(3))
    assert not np.shares_memory(x.grad.data, x.data)
    x.grad.data += 1.0
    np.testing.assert_array_equal(x.numpy(), np.arange(3.0))


# ------------------------------------------------------------------------------------------- drawn graphs
UNARY = {
    "reshape": lambda x: x.reshape(-1).reshape(S) if x.shape == S else x,
    "transpose": lambda x: x.transpose(0, 1).transpose(0, 1) if x.ndim == 2 else x,
    "expand": lambda x: x.expand(S),
    "slice": lambda x: x[..., :] if x.ndim else x,
    "sum_keep": lambda x: x.sum(axis=0, keepdims=True) if x.ndim == 2 else x,
    "neg": lambda x: -x,
    "scale": lambda x: x * 0.5,
    "exp": lambda x: (x * 0.1).exp(),
    "stack_sum": lambda x: F.stack([x, x], 0).sum(0),
    "concat_half": lambda x: F.concat([x, x], -1)[..., : x.shape[-1]] if x.ndim else x,
}
BINARY = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "add_self": lambda x, y: x + x,
}
LEAF_SHAPES = [S, (3,), (1, 3), (2, 1), ()]


@st.composite
def graphs(draw):
    n_leaves = draw(st.integers(1, 4))
    shapes = [draw(st.sampled_from(LEAF_SHAPES)) for _ in range(n_leaves)]
    steps = []
    for i in range(draw(st.integers(1, 10))):
        pool = n_leaves + i
        if draw(st.booleans()):
            steps.append(("u", draw(st.sampled_from(sorted(UNARY))), draw(st.integers(0, pool - 1)), None,
                          draw(st.booleans())))
        else:
            steps.append(("b", draw(st.sampled_from(sorted(BINARY))), draw(st.integers(0, pool - 1)),
                          draw(st.integers(0, pool - 1)), draw(st.booleans())))
    outputs = draw(st.lists(st.integers(0, n_leaves + len(steps) - 1), min_size=1, max_size=3))
    return shapes, steps, outputs, draw(st.sampled_from(["scalar", "given"]))


def build(shapes, steps, outputs, how):
    rng = np.random.default_rng(0)
    leaves = [Tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    pool, named = list(leaves), [(f"leaf{i}", t) for i, t in enumerate(leaves)]
    for k, (kind, op, i, j, retain) in enumerate(steps):
        out = UNARY[op](pool[i]) if kind == "u" else BINARY[op](pool[i], pool[j])
        if retain and out is not pool[i] and not out.is_leaf:
            out.retain_grad()
            named.append((f"node{k}", out))
        pool.append(out)
    total = pool[outputs[0]] * 1.0
    for o in outputs[1:]:
        total = total + pool[o]
    given_grad = None
    if how == "scalar":
        total.expand(S).sum().backward()
    else:
        given_grad = Tensor(rng.standard_normal(np.broadcast_shapes(total.shape, S)))
        total.expand(given_grad.shape).backward(given_grad)
    return named, given_grad


@settings(max_examples=150)
@given(graphs())
def test_drawn_graphs_have_no_aliased_gradients(graph):
    shapes, steps, outputs, how = graph
    named, given_grad = build(shapes, steps, outputs, how)
    extra = [] if given_grad is None else [("given", given_grad.data)]
    assert_no_aliasing(named, extra)


@settings(max_examples=60)
@given(graphs())
def test_drawn_graph_gradients_are_right(graph):
    """Copy-avoidance must not change values: each leaf's gradient equals a fresh finite difference."""
    shapes, steps, outputs, how = graph
    named, given_grad = build(shapes, steps, outputs, how)
    grads = {n: t.grad.numpy().copy() for n, t in named if n.startswith("leaf") and t.grad is not None}

    def f(arrays):
        pool = [Tensor(a) for a in arrays]
        for kind, op, i, j, _ in steps:
            pool.append(UNARY[op](pool[i]) if kind == "u" else BINARY[op](pool[i], pool[j]))
        total = pool[outputs[0]] * 1.0
        for o in outputs[1:]:
            total = total + pool[o]
        full = total.expand(S if given_grad is None else given_grad.shape).numpy()
        return float((full * (1.0 if given_grad is None else given_grad.numpy())).sum())

    rng = np.random.default_rng(0)
    base = [rng.standard_normal(s) for s in shapes]
    for i, a in enumerate(base):
        if f"leaf{i}" not in grads:
            continue
        num = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            p = [b.copy() for b in base]
            p[i][idx] += 1e-6
            m = [b.copy() for b in base]
            m[i][idx] -= 1e-6
            num[idx] = (f(p) - f(m)) / 2e-6
        np.testing.assert_allclose(grads[f"leaf{i}"], num, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------- end to end vs torch
def _torch_lstm_lm(V, E, H, L):
    import torch.nn as nn

    class LSTMLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(V, E)
            self.lstm = nn.LSTM(E, H, num_layers=L, batch_first=True)
            self.head = nn.Linear(H, V)

        def forward(self, idx, targets):
            out, _ = self.lstm(self.embedding(idx))
            logits = self.head(out)
            return nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))

    return LSTMLM()


def _torch_gpt(V, T, L, nh, C):
    """GPT-2 layout: pre-LN blocks, one fused c_attn, tanh GELU, head tied to wte."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as TF

    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_attn, self.c_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)

        def forward(self, x):
            B, T_, _ = x.shape
            q, k, v = (t.reshape(B, T_, nh, C // nh).transpose(1, 2) for t in self.c_attn(x).split(C, -1))
            y = TF.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.c_proj(y.transpose(1, 2).reshape(B, T_, C))

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_fc, self.c_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

        def forward(self, x):
            return self.c_proj(TF.gelu(self.c_fc(x), approximate="tanh"))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.attn, self.ln_2, self.mlp = nn.LayerNorm(C), Attn(), nn.LayerNorm(C), MLP()

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
            self.h = nn.ModuleList([Block() for _ in range(L)])
            self.ln_f = nn.LayerNorm(C)

        def forward(self, idx, targets):
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
            for b in self.h:
                x = b(x)
            logits = self.ln_f(x) @ self.wte.weight.T
            return TF.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))

    return GPT()


LR, CLIP = 1e-2, 0.1       # clipping is active at every step of both models (gradient norms 0.14 .. 3.3)


def _trajectories(ours, loss_ours, theirs, V, B, T, dtype, steps=20):
    """Run both models 20 steps with AdamW (decay/no-decay groups), warm-up + cosine, clipping at CLIP;
    return the largest parameter difference after the last step and the per-step loss differences."""
    import torch
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    theirs = theirs.to(tdt)
    theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()}, strict=True)
    tparams = dict(theirs.named_parameters())
    names = [n for n, _ in ours.named_parameters()]
    groups = optim.param_groups_for_weight_decay(ours, 0.1)
    opt = optim.AdamW(groups, lr=LR)
    sched = optim.LambdaLR(opt, optim.warmup_cosine(4, steps, min_ratio=0.1))
    by_id = {id(p): n for n, p in ours.named_parameters()}
    tgroups = [{"params": [tparams[by_id[id(p)]] for p in g["params"]], "weight_decay": g["weight_decay"]}
               for g in groups]
    topt = torch.optim.AdamW(tgroups, lr=LR)
    tsched = torch.optim.lr_scheduler.LambdaLR(topt, optim.warmup_cosine(4, steps, min_ratio=0.1))
    rng = np.random.default_rng(1)
    loss_diff = []
    for _ in range(steps):
        x, y = rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))
        opt.zero_grad()
        loss = loss_ours(x, y)
        loss.backward()
        optim.clip_grad_norm_(ours.parameters(), CLIP)
        opt.step()
        sched.step()
        topt.zero_grad()
        tloss = theirs(torch.from_numpy(x), torch.from_numpy(y))
        tloss.backward()
        torch.nn.utils.clip_grad_norm_(theirs.parameters(), CLIP)
        topt.step()
        tsched.step()
        loss_diff.append(abs(loss.item() - tloss.item()))
    worst = max(float(np.abs(p.numpy() - tparams[n].detach().numpy()).max())
                for n, p in zip(names, ours.parameters()))
    return worst, max(loss_diff)


TOL = {np.float64: 1e-12, np.float32: 1e-5}


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lstm_lm_adamw_clipping_trajectory_matches_torch(dtype):
    from tinygrad_llm.models.lstm_lm import LSTMConfig, LSTMLM
    V, E, H, L = 11, 6, 8, 2
    with backend.default_dtype(dtype):
        model = LSTMLM(LSTMConfig(vocab_size=V, n_embd=E, hidden_size=H, num_layers=L))
    worst, loss_diff = _trajectories(model, lambda x, y: model(x, y)[2], _torch_lstm_lm(V, E, H, L),
                                     V, 3, 7, dtype)
    assert worst <= TOL[dtype], worst
    assert loss_diff <= 10 * TOL[dtype], loss_diff


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gpt_adamw_clipping_trajectory_matches_torch(dtype):
    from tinygrad_llm.models.gpt import GPT, GPTConfig
    V, T, L, nh, C = 13, 8, 2, 2, 16
    with backend.default_dtype(dtype):
        model = GPT(GPTConfig(vocab_size=V, block_size=T, n_layer=L, n_head=nh, n_embd=C))
    worst, loss_diff = _trajectories(model, lambda x, y: model(x, y)[1], _torch_gpt(V, T, L, nh, C),
                                     V, 3, T, dtype)
    assert worst <= TOL[dtype], worst
    assert loss_diff <= 10 * TOL[dtype], loss_diff
