"""Hypothesis strategies for testing ops: shapes, broadcast-compatible shape pairs, arrays with safe
value ranges, and non-contiguous views (transposed or strided) of those arrays.

Needs the ``dev`` extra (hypothesis). Example::

    @given(x=arrays_st(shapes_st()))
    def test_my_op(x): gradcheck(my_op, Tensor(x, requires_grad=True))
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def shapes_st(min_dims=1, max_dims=3, min_side=1, max_side=5):
    """Array shapes, e.g. (3,), (2, 1, 4); sides of 1 are common so broadcasting edges get hit."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcast_pair_st(min_dims=0, max_dims=3, max_side=4):
    """Two shapes that broadcast together (one may have fewer dimensions or sides of 1)."""
    return hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=min_dims, max_dims=max_dims,
                                             max_side=max_side).map(lambda r: r.input_shapes)


def values_st(low=-3.0, high=3.0):
    return st.floats(low, high, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def arrays_st(draw, shape, dtype=np.float64, low=-3.0, high=3.0, noncontiguous=True, away_from=None):
    """A float array of ``shape`` with values in [low, high]; sometimes a non-contiguous view.

    ``away_from=(c, d)`` keeps values at least ``d`` away from ``c`` (e.g. kinks of relu/abs, poles of
    1/x), so finite differences are well defined.
    """
    shape = draw(shape) if isinstance(shape, st.SearchStrategy) else tuple(shape)
    n = int(np.prod(shape))
    vals = np.array(draw(st.lists(values_st(low, high), min_size=n, max_size=n)), dtype=np.float64)
    if away_from is not None:
        c, d = away_from
        close = np.abs(vals - c) < d
        vals[close] = c + np.where(vals[close] >= c, d, -d)
    a = vals.reshape(shape).astype(dtype)
    if not noncontiguous or a.ndim == 0:
        return a
    kind = draw(st.sampled_from(["contiguous", "transposed", "strided"]))
    if kind == "transposed" and a.ndim >= 2:
        # same values, same logical shape, but stored column-major
        return np.asfortranarray(a)
    if kind == "strided":
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=dtype)
        big[..., ::2] = a
        return big[..., ::2]                        # a view with stride 2 in the last axis
    return a
