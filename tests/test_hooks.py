"""Tensor hooks with PyTorch's names and semantics: ``register_hook`` sees (and may replace) the gradient
flowing into a tensor; ``register_post_accumulate_grad_hook`` runs on a leaf once its ``.grad`` is final
for the pass. Both return a handle whose ``remove()`` unregisters them."""
from __future__ import annotations

import numpy as np
import pytest

from tinygrad_llm import Tensor


def test_post_accumulate_hook_fires_once_after_all_contributions():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    x = Tensor(np.array([3.0, 4.0]), requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(("w", t.grad.numpy().copy())))
    x.register_post_accumulate_grad_hook(lambda t: seen.append(("x", t.grad.numpy().copy())))
    y = (w * x + w * w + w).sum()                       # w used three times
    y.backward()
    assert [s[0] for s in seen].count("w") == 1
    np.testing.assert_array_equal(dict(seen)["w"], x.numpy() + 2 * w.numpy() + 1)   # every path summed
    np.testing.assert_array_equal(dict(seen)["x"], w.numpy())


def test_post_accumulate_hook_runs_before_backward_returns_and_sees_accumulation():
    w = Tensor(np.ones(3), requires_grad=True)
    log = []
    w.register_post_accumulate_grad_hook(lambda t: log.append(t.grad.numpy().copy()))
    (w * 2.0).sum().backward()
    assert len(log) == 1                                # already fired when backward returned
    (w * 2.0).sum().backward()                          # grads accumulate: the hook sees the total
    np.testing.assert_array_equal(log[1], np.full(3, 4.0))


def test_hooks_fire_on_each_backward_with_retain_graph():
    w = Tensor(np.ones(2), requires_grad=True)
    h = w * 3.0
    pre, post = [], []
    h.register_hook(lambda g: pre.append(g.numpy().copy()))
    w.register_post_accumulate_grad_hook(lambda t: post.append(1))
    y = (h * h).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert len(pre) == 2 and len(post) == 2
    np.testing.assert_array_equal(pre[0], 2 * h.numpy())


def test_removed_hooks_do_not_fire():
    w = Tensor(np.ones(2), requires_grad=True)
    calls = []
    handle = w.register_post_accumulate_grad_hook(lambda t: calls.append("post"))
    handle2 = w.register_hook(lambda g: calls.append("pre"))
    handle.remove()
    handle2.remove()
    handle.remove()                                     # removing twice is harmless
    (w * 2.0).sum().backward()
    assert calls == []


def test_tensor_hook_replaces_the_gradient_downstream():
    x = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    h = x * 2.0
    h.register_hook(lambda g: g * 10.0)                 # scale what flows into h
    (h * 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [20.0, 20.0])
    leaf = Tensor(np.ones(2), requires_grad=True)
    leaf.register_hook(lambda g: np.zeros(2))           # on a leaf: before accumulation into .grad
    (leaf * 5.0).sum().backward()
    np.testing.assert_array_equal(leaf.grad.numpy(), [0.0, 0.0])


def test_hook_order_pre_hooks_then_grad_then_post_hook():
    w = Tensor(np.ones(2), requires_grad=True)
    log = []
    w.register_hook(lambda g: log.append(("pre1", w.grad)) or g * 2.0)
    w.register_hook(lambda g: log.append(("pre2", g.numpy().tolist())))
    w.register_post_accumulate_grad_hook(lambda t: log.append(("post", t.grad.numpy().tolist())))
    (w * 1.5).sum().backward()
    assert log == [("pre1", None), ("pre2", [3.0, 3.0]), ("post", [3.0, 3.0])]


def test_hook_gradients_do_not_alias_grad():
    w = Tensor(np.ones(2), requires_grad=True)
    kept = []
    w.register_hook(lambda g: kept.append(g))           # a hook that keeps the array it saw
    (w * 2.0).sum().backward()
    assert not np.shares_memory(kept[0].data, w.grad.data)


def test_hook_errors():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor(np.ones(2)).register_hook(lambda g: g)
    w = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(RuntimeError, match="only leaf tensors"):
        (w * 2.0).register_post_accumulate_grad_hook(lambda t: None)
    w.register_hook(lambda g: np.ones(3))
    with pytest.raises(ValueError, match="hook returned a gradient of shape"):
        (w * 2.0).sum().backward()


def test_a_weights_gradient_is_final_before_backward_reaches_the_layers_below():
    """Backward finishes each leaf right after its last use: the second layer's weight is done before the
    gradient flows into the first layer (data parallelism starts that weight's all-reduce there)."""
    rng = np.random.default_rng(0)
    w1 = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    w2 = Tensor(rng.standard_normal((4, 2)), requires_grad=True)
    x = Tensor(rng.standard_normal((5, 3)))
    log = []
    h = (x @ w1).tanh()
    h.register_hook(lambda g: log.append("grad reaches h"))
    w1.register_post_accumulate_grad_hook(lambda t: log.append("w1 final"))
    w2.register_post_accumulate_grad_hook(lambda t: log.append("w2 final"))
    (h @ w2).sum().backward()
    assert log == ["w2 final", "grad reaches h", "w1 final"]


def test_a_leaf_used_twice_is_final_only_after_its_earliest_use():
    """A tied weight (GPT's token embedding is also its output layer) is final after its first use in the
    forward pass, the last one backward meets, and its gradient sums both uses."""
    rng = np.random.default_rng(1)
    w = Tensor(rng.standard_normal((3, 3)), requires_grad=True)
    v = Tensor(rng.standard_normal((3, 3)), requires_grad=True)
    x = Tensor(rng.standard_normal((2, 3)))
    log = []
    w.register_post_accumulate_grad_hook(lambda t: log.append(("w", t.grad.numpy().copy())))
    v.register_post_accumulate_grad_hook(lambda t: log.append(("v", None)))
    ((x @ w) @ v @ w).sum().backward()
    assert [k for k, _ in log] == ["v", "w"]
    w2 = Tensor(w.data.copy(), requires_grad=True)
    ((x @ w2) @ v.detach() @ w2).sum().backward()
    np.testing.assert_allclose(log[-1][1], w2.grad.numpy(), rtol=1e-12)
