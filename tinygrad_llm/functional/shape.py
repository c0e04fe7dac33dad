r"""Ops that move elements without arithmetic; each backward puts the gradient back where it came from.

- reshape: $y = \mathrm{reshape}(x)$; $\bar x = \mathrm{reshape}^{-1}(\bar y)$.
- permute / transpose: $y_{i_{\pi(1)} \dots i_{\pi(n)}} = x_{i_1 \dots i_n}$; $\bar x = \mathrm{permute}_{\pi^{-1}}(\bar y)$.
- expand (broadcast_to): $\bar x = \mathrm{sum\_to}(\bar y)$, done by the engine.
- getitem: $y_k = x_{\mathrm{idx}_k}$; $\bar x_j = \sum_{k:\mathrm{idx}_k = j} \bar y_k$ (scatter-add, so repeated
  integer indices accumulate; boolean masks select).
- concat / stack: $\bar x^{(m)}$ is the slice of $\bar y$ that $x^{(m)}$ filled.
- where: $y = c\,?\,a : b$; $\bar a = \bar y\,[c]$, $\bar b = \bar y\,[\lnot c]$.  masked_fill is $y = m\,?\,v : x$.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor
from ._util import ShapeError, broadcast_shape, data_of, normalize_axis


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


class Permute(Function):
    @staticmethod
    def forward(ctx, x, axes):
        ctx.inverse = tuple(np.argsort(axes))
        return x.transpose(axes)

    @staticmethod
    def backward(ctx, g):
        return g.transpose(ctx.inverse), None


class Expand(Function):
    @staticmethod
    def forward(ctx, x, shape):
        return array_module(x).broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, g):
        return g, None  # the engine sums g back to x's shape


def _is_basic(idx) -> bool:
    items = idx if isinstance(idx, tuple) else (idx,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice)) for i in items)


class GetItem(Function):
    @staticmethod
    def forward(ctx, x, idx):
        ctx.shape, ctx.dtype, ctx.idx = x.shape, x.dtype, idx
        return x[idx]

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        gx = xp.zeros(ctx.shape, dtype=g.dtype)
        if _is_basic(ctx.idx):
            gx[ctx.idx] = g  # basic indexing never repeats an element
        else:
            backend.scatter_add(gx, ctx.idx, g)
        return gx, None


def _prepare_index(idx):
    """Unwrap tensors, make lists arrays and turn boolean masks into integer indices (where they are;
    ``Function.apply`` moves index arrays to x's device)."""
    items = idx if isinstance(idx, tuple) else (idx,)
    out = []
    for i in items:
        i = data_of(i)
        if isinstance(i, list):
            i = np.asarray(i)
        if hasattr(i, "dtype") and i.dtype == bool:
            out.extend(array_module(i).nonzero(i))
            continue
        out.append(i)
    return tuple(out) if isinstance(idx, tuple) or len(out) > 1 else out[0]


def getitem(x, idx):
    idx = _prepare_index(idx)
    try:
        return GetItem.apply(x, idx)
    except IndexError as e:
        raise IndexError(f"getitem: {e} (tensor of shape {x.shape})") from None


class Concat(Function):
    @staticmethod
    def forward(ctx, *xs, axis):
        ctx.axis = axis
        ctx.sizes = [x.shape[axis] for x in xs]
        return array_module(*xs).concatenate(xs, axis=axis)

    @staticmethod
    def backward(ctx, g):
        bounds = np.cumsum(ctx.sizes)[:-1]
        return tuple(array_module(g).split(g, bounds, axis=ctx.axis))


class Stack(Function):
    @staticmethod
    def forward(ctx, *xs, axis):
        ctx.axis = axis
        return array_module(*xs).stack(xs, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return tuple(array_module(g).moveaxis(g, ctx.axis, 0))


def _check_same(op, xs, skip_axis):
    if not xs:
        raise ShapeError(f"{op}: expected at least one tensor")
    ref = xs[0].shape
    for x in xs[1:]:
        if len(x.shape) != len(ref) or any(a != b for i, (a, b) in enumerate(zip(x.shape, ref)) if i != skip_axis):
            raise ShapeError(f"{op}: shapes {[tuple(t.shape) for t in xs]} do not match (axis {skip_axis})")


def concat(xs, axis=0):
    xs = [x if isinstance(x, Tensor) else Tensor(x) for x in xs]
    axis = normalize_axis("concat", axis, xs[0].ndim if xs else 1)
    _check_same("concat", xs, axis)
    return Concat.apply(*xs, axis=axis)


cat = concat


def stack(xs, axis=0):
    xs = [x if isinstance(x, Tensor) else Tensor(x) for x in xs]
    axis = normalize_axis("stack", axis, (xs[0].ndim + 1) if xs else 1)
    _check_same("stack", xs, None)
    return Stack.apply(*xs, axis=axis)


def split(x, split_size_or_sections, axis=0):
    """Pieces of ``x`` along ``axis``: equal pieces of ``split_size`` (the last may be shorter) or given sizes."""
    axis = normalize_axis("split", axis, x.ndim)
    n = x.shape[axis]
    if isinstance(split_size_or_sections, int):
        if split_size_or_sections <= 0:
            raise ValueError(f"split: split size must be positive, got {split_size_or_sections}")
        sizes = [min(split_size_or_sections, n - s) for s in range(0, n, split_size_or_sections)]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise ShapeError(f"split: sections {sizes} do not add up to {n} (axis {axis} of shape {x.shape})")
    out, start = [], 0
    for s in sizes:
        idx = (slice(None),) * axis + (slice(start, start + s),)
        out.append(getitem(x, idx))
        start += s
    return out


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        return array_module(a, b).where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved_tensors
        return None, g * cond, g * ~cond


def where(cond, a, b):
    """$y = c ? a : b$ elementwise with broadcasting; ``cond`` is not differentiated."""
    c = data_of(cond)
    c = c.astype(bool) if hasattr(c, "dtype") else np.asarray(c, dtype=bool)
    broadcast_shape("where", c, data_of(a), data_of(b))
    return Where.apply(c, a, b)


class MaskedFill(Function):
    @staticmethod
    def forward(ctx, x, mask, value):
        ctx.save_for_backward(mask)
        return array_module(x).where(mask, x.dtype.type(value), x)

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * ~mask, None, None


def masked_fill(x, mask, value):
    """$y = m ? v : x$ (e.g. $-\\infty$ above the diagonal for causal attention)."""
    m = data_of(mask)
    m = m.astype(bool) if hasattr(m, "dtype") else np.asarray(m, dtype=bool)
    if broadcast_shape("masked_fill", x.data, m) != x.shape:
        raise ShapeError(f"masked_fill: mask of shape {m.shape} does not broadcast to tensor shape {x.shape}")
    return MaskedFill.apply(x, m, value)


def reshape(x, *shape):
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    try:
        return Reshape.apply(x, shape)
    except ValueError:
        raise ShapeError(f"reshape: cannot reshape tensor of shape {x.shape} into {shape}") from None


def permute(x, *axes):
    axes = tuple(axes[0]) if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
    if sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
        raise ShapeError(f"permute: {axes} is not a permutation of the {x.ndim} axes of shape {x.shape}")
    return Permute.apply(x, tuple(a % x.ndim for a in axes))


def transpose(x, a=-2, b=-1):
    axes = list(range(x.ndim))
    a, b = normalize_axis("transpose", a, x.ndim), normalize_axis("transpose", b, x.ndim)
    axes[a], axes[b] = axes[b], axes[a]
    return Permute.apply(x, tuple(axes))


def expand(x, *shape):
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    try:
        ok = np.broadcast_shapes(x.shape, shape) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise ShapeError(f"expand: cannot expand shape {x.shape} to {shape}")
    return Expand.apply(x, tuple(shape))


def flatten(x, start_dim=0):
    """Merge the axes from ``start_dim`` on into one: shape (a, b, c) with start_dim=1 -> (a, b * c)."""
    start_dim = normalize_axis("flatten", start_dim, x.ndim) if x.ndim else 0
    return reshape(x, x.shape[:start_dim] + (-1,))


def unsqueeze(x, axis):
    axis = normalize_axis("unsqueeze", axis, x.ndim + 1)
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def squeeze(x, axis=None):
    if axis is None:
        return reshape(x, tuple(n for n in x.shape if n != 1))
    axis = normalize_axis("squeeze", axis, x.ndim)
    if x.shape[axis] != 1:
        raise ShapeError(f"squeeze: axis {axis} of shape {x.shape} has size {x.shape[axis]}, not 1")
    return reshape(x, x.shape[:axis] + x.shape[axis + 1:])
