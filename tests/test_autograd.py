"""The engine: graph bookkeeping, accumulation, no_grad/detach, freeing, and clear errors."""
import re

import numpy as np
import pytest

import tinygrad_llm.functional as F
from tinygrad_llm import Tensor, no_grad
from tinygrad_llm.functional import ShapeError
from tinygrad_llm.testing import GradcheckError, assert_close, gradcheck


def test_chain_of_100k_ops_has_no_recursion_limit():
    x = Tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0
    del y  # freeing a 100k-long chain must not overflow the stack either


def test_diamond_graph_gradient_reaches_shared_node_completely():
    # y = e * e.sum() with e = exp(x): the shared node e must receive both contributions
    x0 = np.array([0.3, -1.2, 2.0])
    x = Tensor(x0, requires_grad=True)
    e = x.exp()
    (e * e.sum()).sum().backward()
    ex = np.exp(x0)
    assert_close(x.grad, 2 * ex * ex.sum(), rtol=1e-12)


def test_gradients_accumulate_until_zero_grad():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    assert_close(x.grad, [6.0, 6.0])
    x.zero_grad()
    (x * x).sum().backward()
    assert_close(x.grad, [2.0, 4.0])


def test_broadcast_gradient_is_summed_back_to_input_shape():
    a = Tensor(np.ones((4, 3)), requires_grad=True)
    b = Tensor(np.ones((3,)), requires_grad=True)
    c = Tensor(np.ones((4, 1)), requires_grad=True)
    (a * b + c).sum().backward()
    assert b.grad.shape == (3,) and c.grad.shape == (4, 1)
    assert_close(b.grad, [4.0] * 3)
    assert_close(c.grad, [[3.0]] * 4)


def test_no_grad_records_nothing_and_detach_cuts_the_graph():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    with no_grad():
        y = x * 2
    assert not y.requires_grad and y.is_leaf
    z = (x * 2).detach() * x
    z.sum().backward()
    assert_close(x.grad, [2.0, 4.0])  # d/dx (c * x) with c = 2x held constant


def test_graph_freed_after_backward_unless_retained():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert_close(x.grad, [4.0, 8.0])
    with pytest.raises(RuntimeError, match=r"already freed.*retain_graph=True"):
        y.backward()


def test_backward_errors_are_clear():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match=re.escape("output of shape (2, 3) is not a scalar")):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor(np.ones(2)).sum().backward()
    with pytest.raises(ValueError, match=r"gradient of shape \(3,\) does not match output shape \(2, 3\)"):
        (x * 2).backward(np.ones(3))
    with pytest.raises(TypeError, match="only floating tensors"):
        Tensor(np.arange(3), requires_grad=True)


def test_shape_errors_name_op_and_shapes():
    a, b = Tensor(np.ones((2, 3))), Tensor(np.ones((4, 5)))
    with pytest.raises(ShapeError, match=re.escape("matmul: shapes (2, 3) and (4, 5) are not aligned")):
        a @ b
    with pytest.raises(ShapeError, match=re.escape("add: shapes (2, 3) and (4, 5) cannot be broadcast")):
        a + b
    with pytest.raises(ShapeError, match="batch dimensions"):
        Tensor(np.ones((2, 2, 3))) @ Tensor(np.ones((3, 3, 4)))
    with pytest.raises(ShapeError, match=r"reshape: cannot reshape tensor of shape \(2, 3\) into \(4,\)"):
        a.reshape(4)
    with pytest.raises(ShapeError, match="concat"):
        F.concat([a, b], 0)
    with pytest.raises(IndexError, match=r"getitem: .*\(tensor of shape \(2, 3\)\)"):
        a[5]
    with pytest.raises(IndexError, match="token id 7 is out of range for a vocabulary of size 4"):
        F.embedding(np.array([1, 7]), Tensor(np.ones((4, 2))))
    with pytest.raises(IndexError, match="target 9 is out of range for 3 classes"):
        F.cross_entropy(Tensor(np.ones((2, 3))), np.array([0, 9]))
    with pytest.raises(TypeError, match="targets must be integer"):
        F.cross_entropy(Tensor(np.ones((2, 3))), np.array([0.0, 1.0]))
    with pytest.raises(ShapeError, match="layer_norm"):
        F.layer_norm(Tensor(np.ones((2, 3))), 4)


def test_gradcheck_catches_a_wrong_backward():
    from tinygrad_llm import Function

    class BadSquare(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return (g * x,)  # wrong: should be 2 x g

    with pytest.raises(GradcheckError, match=r"input 0 \(shape \(3,\)\) at index \(\d,\)"):
        gradcheck(BadSquare.apply, Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True))
    with pytest.raises(GradcheckError, match="sampled"):  # large input: sampled entries of v^T J
        gradcheck(BadSquare.apply, Tensor(np.random.randn(20, 20), requires_grad=True))


def test_assert_close_reports_worst_entry():
    with pytest.raises(AssertionError, match=r"max abs diff 5\.000e-01.*index \(1, 0\)"):
        assert_close(np.array([[1.0, 2.0], [3.5, 4.0]]), np.array([[1.0, 2.0], [3.0, 4.0]]))


def test_retain_grad_on_intermediate():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = (x * 3).retain_grad()
    (h * h).sum().backward()
    assert_close(h.grad, [6.0, 12.0])


@pytest.mark.parametrize("data, what", [("abc", "str 'abc'"), ([None, 1.0], "list [None, 1.0]"),
                                        (np.array(["a", "b"]), "ndarray"), ({"a": 1}, "dict"),
                                        (np.array([1, "x"], dtype=object), "ndarray")])
def test_tensor_refuses_non_numeric_data(data, what):
    with pytest.raises(TypeError, match=re.escape(f"Tensor: cannot make a tensor from {what}")):
        Tensor(data)


def test_tensor_accepts_numbers_and_keeps_dtypes():
    assert Tensor([1.0, 2.0]).dtype == np.float32                 # Python floats: the default dtype
    assert Tensor([1, 2]).dtype.kind == "i" and Tensor([True]).dtype == bool
    assert Tensor(np.ones(2, np.float16)).dtype == np.float16      # arrays keep theirs
    assert Tensor(3.5).shape == () and Tensor(np.float64(2.0)).dtype == np.float64
    with pytest.raises(ValueError, match="cannot make a tensor from list"):
        Tensor([[1.0, 2.0], [3.0]])                                # ragged
