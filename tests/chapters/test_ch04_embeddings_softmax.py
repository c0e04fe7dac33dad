import pathlib

import numpy as np
import pytest

import tinygrad_llm.functional as F
from tinygrad_llm import Tensor
from tinygrad_llm.testing import assert_close

CHAPTER = pathlib.Path(__file__).resolve().parents[2] / "chapters" / "04_embeddings_softmax"
rng = np.random.default_rng(0)


def test_cross_entropy_by_hand_equals_library(sol):
    z, t = rng.standard_normal((7, 5)) * 10, rng.integers(0, 5, 7)
    assert sol.cross_entropy_numpy(z, t) == pytest.approx(F.cross_entropy(Tensor(z), t).item(), rel=1e-12)


def test_cross_entropy_gradient_is_softmax_minus_onehot(sol):
    z, t = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    x = Tensor(z, requires_grad=True)
    F.cross_entropy(x, t).backward()
    assert_close(sol.cross_entropy_logit_grad(z, t), x.grad, rtol=1e-12, atol=1e-15)


def test_bigram_mle_is_the_minimum_of_the_nll(sol):
    V = 4
    ids = rng.integers(0, V, 400)
    best = sol.bigram_mle_nll(ids, V)
    counts = np.zeros((V, V))
    np.add.at(counts, (ids[:-1], ids[1:]), 1)
    for eps in (0.05, 0.2):                                   # any other table scores worse
        q = (counts + eps * rng.random((V, V))) / (counts + eps * rng.random((V, V))).sum(1, keepdims=True)
        q = q / q.sum(1, keepdims=True)
        assert -np.log(q[ids[:-1], ids[1:]]).mean() > best


def test_embedding_via_onehot_equals_lookup_with_gradients(sol):
    w1 = Tensor(rng.standard_normal((6, 3)), requires_grad=True)
    w2 = Tensor(w1.numpy().copy(), requires_grad=True)
    ids = np.array([1, 4, 1, 0])
    a, b = sol.embedding_via_onehot(ids, w1), F.embedding(ids, w2)
    assert_close(a, b, rtol=1e-15)
    g = rng.standard_normal((4, 3))
    a.backward(Tensor(g))
    b.backward(Tensor(g))
    assert_close(w1.grad, w2.grad, rtol=1e-14, atol=1e-15)


def test_walkthrough_runs_fast(notebook):
    r = notebook(f"{CHAPTER.name}/run.py")
    assert (r.out / "loss_curves.png").stat().st_size > 1000 and (r.out / "bigram_probs.png").stat().st_size > 1000
    assert "E[ids] == onehot(ids) @ E: True" in r.stdout


def test_first_updates_of_sgd_and_adam(sol):
    from tinygrad_llm import optim
    from tinygrad_llm.nn import Parameter
    g = np.array([[1e-3, -3.0], [250.0, -0.02]])
    for scale in (1.0, 1e-3):
        sgd_step, adam_step = sol.first_updates(g * scale, 0.1)
        updates = []
        for make in (lambda p: optim.SGD([p], lr=0.1), lambda p: optim.Adam([p], lr=0.1)):
            p = Parameter(np.zeros((2, 2)))
            opt = make(p)
            p.grad = Tensor(g * scale)
            opt.step()
            updates.append(p.numpy())
        assert_close(sgd_step, updates[0], rtol=1e-12, atol=1e-15)
        assert_close(adam_step, updates[1], rtol=1e-6, atol=1e-9)
        assert np.allclose(np.abs(adam_step), 0.1, rtol=0.02)        # about lr * sign(g), whatever the scale
