"""Optimizers, schedules and clipping equal PyTorch: 20-step trajectories of SGD (momentum, Nesterov, weight
decay), Adam (weight decay) and AdamW (parameter groups); warm-up + cosine / linear schedules against torch's
schedulers and the closed forms; clip_grad_norm_ against torch.nn.utils.clip_grad_norm_."""
import math

import numpy as np
import pytest

import tinygrad_llm.nn as nn
import tinygrad_llm.optim as optim
from tinygrad_llm import Tensor
from tinygrad_llm.testing import assert_close

pytestmark = pytest.mark.filterwarnings("ignore:Detected call of")
rng = np.random.default_rng(0)
W0, B0, X, Y = rng.standard_normal((3, 4)), rng.standard_normal(3), rng.standard_normal((6, 4)), rng.standard_normal((6, 3))


def _loss(lib, w, b):
    """The same non-convex loss in both frameworks: mean((tanh(X W^T + b) - Y)^2) + 0.05 sum(w^4)."""
    if lib == "ours":
        x, y = Tensor(X), Tensor(Y)
        return ((x @ w.T + b).tanh() - y).__pow__(2).mean() + (w ** 4).sum() * 0.05
    import torch
    x, y = torch.tensor(X), torch.tensor(Y)
    return ((x @ w.T + b).tanh() - y).pow(2).mean() + (w ** 4).sum() * 0.05


def trajectory(make_ours, make_theirs, steps=20, groups=False, sched=None):
    import torch
    w, b = Tensor(W0.copy(), requires_grad=True), Tensor(B0.copy(), requires_grad=True)
    tw, tb = torch.tensor(W0.copy(), requires_grad=True), torch.tensor(B0.copy(), requires_grad=True)
    opt = make_ours([{"params": [w]}, {"params": [b]}] if groups else [w, b])
    topt = make_theirs([{"params": [tw]}, {"params": [tb]}] if groups else [tw, tb])
    s, ts = (sched(opt, topt) if sched else (None, None))
    worst = 0.0
    for _ in range(steps):
        opt.zero_grad()
        topt.zero_grad()
        _loss("ours", w, b).backward()
        _loss("torch", tw, tb).backward()
        opt.step()
        topt.step()
        if s is not None:
            s.step()
            ts.step()
        for a, t in ((w, tw), (b, tb)):
            assert np.isfinite(a.numpy()).all()
            assert_close(a, t.detach().numpy(), rtol=1e-11, atol=1e-12)
            worst = max(worst, float(np.abs(a.numpy() - t.detach().numpy()).max()))
    assert np.abs(w.numpy() - W0).max() > 1e-3                     # it actually moved
    return worst


@pytest.mark.torch
@pytest.mark.parametrize("kw", [dict(), dict(momentum=0.9), dict(momentum=0.9, nesterov=True),
                                dict(momentum=0.8, weight_decay=0.1), dict(weight_decay=0.05),
                                dict(momentum=0.9, nesterov=True, weight_decay=0.01)])
def test_sgd_trajectory_matches_torch(kw):
    import torch
    trajectory(lambda p: optim.SGD(p, lr=0.1, **kw), lambda p: torch.optim.SGD(p, lr=0.1, **kw))


@pytest.mark.torch
@pytest.mark.parametrize("kw", [dict(), dict(weight_decay=0.1), dict(betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01)])
def test_adam_trajectory_matches_torch(kw):
    import torch
    trajectory(lambda p: optim.Adam(p, lr=0.05, **kw), lambda p: torch.optim.Adam(p, lr=0.05, **kw))


@pytest.mark.torch
def test_adamw_with_param_groups_matches_torch():
    import torch
    groups = lambda p: [{"params": p[0]["params"], "weight_decay": 0.1},               # noqa: E731
                        {"params": p[1]["params"], "weight_decay": 0.0, "lr": 0.02}]
    trajectory(lambda p: optim.AdamW(groups(p), lr=0.05), lambda p: torch.optim.AdamW(groups(p), lr=0.05), groups=True)


@pytest.mark.torch
def test_adamw_with_warmup_cosine_schedule_matches_torch():
    import torch
    f = optim.warmup_cosine(5, 20, min_ratio=0.1)
    trajectory(lambda p: optim.AdamW(p, lr=0.05), lambda p: torch.optim.AdamW(p, lr=0.05),
               sched=lambda o, t: (optim.LambdaLR(o, f), torch.optim.lr_scheduler.LambdaLR(t, f)))


def test_param_groups_for_weight_decay_splits_matrices_from_vectors():
    m = nn.Sequential([nn.Embedding(5, 4), nn.Linear(4, 3), nn.LayerNorm(3)])
    decay, no_decay = optim.param_groups_for_weight_decay(m, 0.1)
    assert [p.shape for p in decay["params"]] == [(5, 4), (3, 4)]
    assert [p.shape for p in no_decay["params"]] == [(3,), (3,), (3,)]
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    opt = optim.AdamW([decay, no_decay], lr=0.5)
    for p in m.parameters():                                       # zero gradient: only decay moves weights
        p.grad = Tensor(np.zeros(p.shape, p.dtype))
    before = [p.numpy().copy() for p in m.parameters()]
    opt.step()
    for p, b in zip(m.parameters(), before):
        assert_close(p, b * ((1 - 0.5 * 0.1) if p.ndim >= 2 else 1.0), rtol=1e-6)


# ------------------------------------------------------------------------------------------ schedules
def _lrs(opt, sched, steps):
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        sched.step()
    return np.array(out)


@pytest.mark.torch
@pytest.mark.parametrize("W,T,r", [(5, 30, 0.0), (10, 50, 0.1), (1, 12, 0.0)])
def test_warmup_cosine_matches_torch_linear_then_cosine(W, T, r):
    import torch
    lr = 0.3
    opt = optim.SGD([Tensor(np.zeros(1), requires_grad=True)], lr=lr)
    ours = _lrs(opt, optim.LambdaLR(opt, optim.warmup_cosine(W, T, r)), T + 1)
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    warm = torch.optim.lr_scheduler.LinearLR(topt, start_factor=1e-12, end_factor=1.0, total_iters=W)
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=T - W, eta_min=r * lr)
    seq = torch.optim.lr_scheduler.SequentialLR(topt, [warm, cos], milestones=[W])
    theirs = []
    for _ in range(T + 1):
        theirs.append(topt.param_groups[0]["lr"])
        seq.step()
    assert_close(ours, np.array(theirs), rtol=1e-9, atol=1e-11)
    # closed form: linear ramp from 0, then a half cosine from lr down to r * lr at step T
    t = np.arange(T + 1)
    closed = np.where(t < W, lr * t / W, r * lr + (1 - r) * lr * 0.5 * (1 + np.cos(np.pi * (t - W) / (T - W))))
    assert_close(ours, closed, rtol=1e-12, atol=1e-15)


@pytest.mark.torch
@pytest.mark.parametrize("W,T", [(4, 20), (10, 100), (0, 10)])
def test_warmup_linear_matches_bert_recipe(W, T):
    import torch
    lr = 2e-5
    opt = optim.AdamW([Tensor(np.zeros(1), requires_grad=True)], lr=lr)
    ours = _lrs(opt, optim.LambdaLR(opt, optim.warmup_linear(W, T)), T + 5)
    # BERT fine-tuning recipe: linear from 0 to lr over W steps, linear back to 0 at step T, then 0
    closed = lr * np.interp(np.arange(T + 5), [0, W, T], [0.0 if W else 1.0, 1.0, 0.0])
    assert_close(ours, closed, rtol=1e-12, atol=1e-18)
    if W:
        topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
        up = torch.optim.lr_scheduler.LinearLR(topt, start_factor=1e-12, end_factor=1.0, total_iters=W)
        down = torch.optim.lr_scheduler.LinearLR(topt, start_factor=1.0, end_factor=0.0, total_iters=T - W)
        seq = torch.optim.lr_scheduler.SequentialLR(topt, [up, down], milestones=[W])
        theirs = []
        for _ in range(T + 1):
            theirs.append(topt.param_groups[0]["lr"])
            seq.step()
        assert_close(ours[:T + 1], np.array(theirs), rtol=1e-9, atol=1e-15)


def test_lambda_lr_state_dict_roundtrip():
    opt = optim.SGD([Tensor(np.zeros(1), requires_grad=True)], lr=1.0)
    s = optim.LambdaLR(opt, optim.warmup_cosine(3, 10))
    for _ in range(4):
        s.step()
    sd = s.state_dict()
    opt2 = optim.SGD([Tensor(np.zeros(1), requires_grad=True)], lr=1.0)
    s2 = optim.LambdaLR(opt2, optim.warmup_cosine(3, 10))
    s2.load_state_dict(sd)
    assert s2.get_last_lr() == s.get_last_lr() == [pytest.approx(0.5 * (1 + math.cos(math.pi / 7)))]


# ------------------------------------------------------------------------------------------ clipping
@pytest.mark.torch
@pytest.mark.parametrize("max_norm", [0.5, 3.0, 100.0])
def test_clip_grad_norm_matches_torch(max_norm):
    import torch
    grads = [rng.standard_normal((3, 4)), rng.standard_normal(5), rng.standard_normal((2, 2, 2))]
    ps = [Tensor(np.zeros(g.shape), requires_grad=True) for g in grads]
    tps = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, tp, g in zip(ps, tps, grads):
        p.grad, tp.grad = Tensor(g.copy()), torch.tensor(g.copy())
    norm = optim.clip_grad_norm_(ps, max_norm)
    tnorm = torch.nn.utils.clip_grad_norm_(tps, max_norm)
    assert norm == pytest.approx(float(tnorm), rel=1e-12)
    for p, tp in zip(ps, tps):
        assert_close(p.grad, tp.grad.numpy(), rtol=1e-12, atol=1e-15)
    total = math.sqrt(sum((g ** 2).sum() for g in grads))
    after = math.sqrt(sum((p.grad.numpy() ** 2).sum() for p in ps))
    assert after == pytest.approx(min(total, max_norm), rel=1e-5)


def test_optimizer_rejects_bad_arguments():
    p = Tensor(np.zeros(2), requires_grad=True)
    with pytest.raises(ValueError, match="SGD"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="Adam"):
        optim.Adam([p], betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="empty"):
        optim.AdamW([])
    with pytest.raises(ValueError, match="does not require grad"):
        optim.SGD([Tensor(np.zeros(2))])

