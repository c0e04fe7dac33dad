import math
import pathlib

import numpy as np
import pytest

import tinygrad_llm.functional as F
from tinygrad_llm import Tensor
from tinygrad_llm.testing import assert_close

from chapter_helpers import assert_quoted, recorded

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


RUNS = ("SGD lr=1", "SGD lr=1, momentum 0.9", "Adam lr=0.01")


def _leaders(r):
    """Per block of steps: which run has the lowest and which the highest mean loss (indices into RUNS)."""
    blocks = np.array([r["training"]["runs"][name]["block_means"] for name in RUNS])
    return blocks.argmin(0), blocks.argmax(0)


def _first_run(flags):
    """(start, end) of the first run of True in ``flags``."""
    start = int(np.argmax(flags))
    end = start + int(np.argmin(flags[start:])) if not flags[start:].all() else len(flags)
    return start, end


def _from(flags):
    """The first index from which ``flags`` holds to the end."""
    return len(flags) - int(np.argmin(flags[::-1])) if not flags.all() else 0


def ch04_fields(r):
    t, mle = r["training"], r["counting_mle"]
    runs, block = t["runs"], t["block"]
    low, high = _leaders(r)
    sgd, mom, adam = range(3)
    f = {"wall": f"{r['seconds']['wall']:.0f}", "cpu": f"{r['seconds']['cpu']:.0f}", "cpus": r["machine"]["cpus"],
         "load": f"{r['machine']['load_average_at_start'][0]:.1f}", "floor": f"{mle['train_nll']:.3f}",
         "V": mle["vocab_size"], "chars": f"{mle['characters']:,}", "steps": f"{t['steps']:,}", "batch": t["batch"],
         "block": block, "gap": f"{runs['Adam lr=0.01']['train_nll'] - mle['train_nll']:.3f}",
         "within": f"{math.ceil(100 * max(v['train_nll'] - mle['train_nll'] for v in runs.values())) / 100:.2f}",
         "mom_low": _first_run(low == mom)[1] * block, "mom_high": _from(high == mom) * block,
         "sgd_slow": [x * block for x in _first_run(high == sgd)], "adam_low": _from(low == adam) * block}
    for key, name in (("adam", "Adam lr=0.01"), ("sgd", "SGD lr=1"), ("mom", "SGD lr=1, momentum 0.9")):
        f[key] = f"{runs[name]['train_nll']:.3f}"
        f[key + "_val"] = f"{runs[name]['val_nll']:.3f}"
    return f


def test_the_optimizer_claims_hold_on_the_recorded_run():
    r = recorded(CHAPTER)
    runs, floor = r["training"]["runs"], r["counting_mle"]["train_nll"]
    for v in runs.values():
        assert v["train_nll"] > floor                                  # the counts are the floor of any bigram model
    # the Adam model's excess NLL over the floor is its average KL divergence from the counted distributions
    assert runs["Adam lr=0.01"]["train_nll"] - floor == pytest.approx(r["kl_counts_to_adam"], abs=1e-4)
    low, high = _leaders(r)
    f = ch04_fields(r)
    assert low[0] == 1 and f["mom_low"] >= 2 * r["training"]["block"]  # momentum falls fastest at first ...
    assert f["mom_high"] <= 0.5 * r["training"]["steps"]               # ... and stalls highest
    assert f["sgd_slow"][1] - f["sgd_slow"][0] >= 5 * r["training"]["block"]
    assert f["adam_low"] <= 0.1 * r["training"]["steps"]               # Adam: fast early, ends lowest
    final = {k: v["train_nll"] for k, v in runs.items()}
    assert min(final, key=final.get) == "Adam lr=0.01" and max(final, key=final.get) == "SGD lr=1, momentum 0.9"


def test_readme_quotes_the_recorded_run():
    assert_quoted(CHAPTER, ch04_fields(recorded(CHAPTER)), [
        "the recorded run took {wall} s wall and {cpu} s of CPU time on {cpus} cores (load average {load} at its start",
        "that floor, {floor} nats/char for the $V = {V}$ characters of the first {chars} characters",
        "model trained by Adam ends {gap} nats above it on the whole training text",
        "(full run: {steps} steps of {batch} examples, {chars} characters) Adam at $\\eta = 0.01$ ends at {adam} "
        "nats/char on the whole training text and {adam_val} on held-out text; plain SGD at $\\eta = 1$ at "
        "{sgd} / {sgd_val}, momentum 0.9 at {mom} / {mom_val} — all within {within} nats of the counting floor of "
        "{floor}.", "Averaged over blocks of {block} steps, momentum has the lowest loss for the first {mom_low} steps",
        "but the highest from step {mom_high} on", "Plain SGD is the slowest from step {sgd_slow[0]} to step "
        "{sgd_slow[1]}; Adam has the lowest loss from step {adam_low} to the end."])
