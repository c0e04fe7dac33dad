r"""Matrix product, batched over leading dimensions that broadcast.

$$C = A B,\qquad C_{ij} = \sum_k A_{ik} B_{kj}$$

Backward: $L$ depends on $A_{ik}$ through every $C_{ij}$, so
$\bar A_{ik} = \sum_j \bar C_{ij} B_{kj}$ and $\bar B_{kj} = \sum_i A_{ik} \bar C_{ij}$:
$$\bar A = \bar C B^\top, \qquad \bar B = A^\top \bar C$$
For batched inputs the same holds per batch; a batch dimension that was broadcast is summed back
by the engine. One-dimensional operands are promoted to a row (left) or column (right) as in NumPy.

The reference on plain arrays is ``matmul_reference`` (``xp.matmul``: BLAS, or cuBLAS on the GPU).
On the CPU the three products go through ``_dispatch`` to ``kernels.matmul``, which keeps
``np.matmul`` except for batches of small matrices where the Numba kernel measured faster.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor
from ._dispatch import dispatch, reference
from ._util import ShapeError


@reference("matmul")
def matmul_reference(a, b):
    """$C = AB$ on plain arrays, batched and broadcasting like ``np.matmul``."""
    return array_module(a, b).matmul(a, b)


def _swap(a):
    return a.swapaxes(-1, -2)


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return dispatch("matmul", a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = dispatch("matmul", g, _swap(b)) if ctx.needs_input_grad[0] else None  # (..., M, K)
        gb = dispatch("matmul", _swap(a), g) if ctx.needs_input_grad[1] else None  # (..., K, N)
        return ga, gb


def matmul(a, b):
    a = a if isinstance(a, Tensor) else Tensor(a)
    b = b if isinstance(b, Tensor) else Tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: operands must have at least one dimension, got shapes {a.shape} and {b.shape}")
    if a.ndim == 1:  # (K,) @ (..., K, N) -> (..., N)
        return matmul(a.reshape(1, -1), b).squeeze(-2)
    if b.ndim == 1:  # (..., M, K) @ (K,) -> (..., M)
        return matmul(a, b.reshape(-1, 1)).squeeze(-1)
    if a.shape[-1] != b.shape[-2]:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} are not aligned "
                         f"({a.shape[-1]} columns vs {b.shape[-2]} rows)")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ShapeError(f"matmul: batch dimensions of shapes {a.shape} and {b.shape} cannot be broadcast") from None
    return MatMul.apply(a, b)
