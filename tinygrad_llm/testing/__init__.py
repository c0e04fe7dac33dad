r"""Tools for checking your own ops: ``gradcheck`` and ``assert_close`` (and hypothesis strategies in
``tinygrad_llm.testing.strategies``).

``gradcheck`` compares the analytic gradient from ``backward`` with central finite differences in
float64,
$$\frac{\partial f}{\partial x_i} \approx \frac{f(x + \epsilon e_i) - f(x - \epsilon e_i)}{2\epsilon},$$
whose error is $O(\epsilon^2)$. For a vector output it checks the whole Jacobian (small inputs) or
randomly chosen entries of the vector-Jacobian product $v^\top J$ for a random $v$ (large inputs).
"""
from __future__ import annotations

import numpy as np

from ..backend import to_device
from ..tensor import Tensor


class GradcheckError(AssertionError):
    """The analytic and numerical gradients disagree; the message says where and by how much."""


def _np(a):
    if isinstance(a, Tensor):
        a = a.data
    return to_device(a, "cpu") if hasattr(a, "shape") else np.asarray(a)


def assert_close(actual, expected, rtol=1e-5, atol=1e-8, msg=""):
    """Like ``np.testing.assert_allclose`` but for Tensors/arrays on any device, reporting the worst entry."""
    a, e = np.asarray(_np(actual), dtype=np.float64), np.asarray(_np(expected), dtype=np.float64)
    prefix = f"{msg}: " if msg else ""
    if a.shape != e.shape:
        raise AssertionError(f"{prefix}shape mismatch: actual {a.shape} vs expected {e.shape}")
    if a.size == 0:
        return
    same_nonfinite = (np.isnan(a) & np.isnan(e)) | (np.isinf(a) & (a == e))
    diff = np.where(same_nonfinite, 0.0, np.abs(a - e))
    diff = np.where(np.isnan(diff), np.inf, diff)
    bad = diff > atol + rtol * np.abs(e)
    if bad.any():
        rel = diff / np.maximum(np.abs(e), 1e-300)
        worst = np.unravel_index(np.argmax(np.where(bad, diff, -1)), a.shape)
        raise AssertionError(
            f"{prefix}{int(bad.sum())} of {a.size} entries differ (rtol={rtol}, atol={atol}); "
            f"max abs diff {diff.max():.3e}, max rel diff {np.max(np.where(bad, rel, 0)):.3e}; "
            f"worst at index {tuple(int(i) for i in worst)}: actual {a[worst]!r} vs expected {e[worst]!r}")


def _numeric_column(fn, inputs, base, idx, eps):
    """d out / d x[idx] by central differences (x = base, perturbed in place and restored)."""
    orig = base[idx].item()
    base[idx] = orig + eps
    plus = _np(fn(*inputs)).astype(np.float64)
    base[idx] = orig - eps
    minus = _np(fn(*inputs)).astype(np.float64)
    base[idx] = orig
    return (plus - minus) / (2 * eps)


def _analytic(fn, inputs, checked, grad_out):
    for t in inputs:
        if isinstance(t, Tensor):
            t.grad = None
    out = fn(*inputs)
    if out.requires_grad:
        out.backward(Tensor(grad_out))
    return [np.zeros(inputs[i].shape) if inputs[i].grad is None else _np(inputs[i].grad).astype(np.float64)
            for i in checked]


def _fail(i, t, idx, got, numeric, out_idx, how):
    where = f" for output entry {out_idx}" if out_idx is not None else ""
    raise GradcheckError(
        f"gradcheck: input {i} (shape {t.shape}) at index {tuple(int(j) for j in idx)}{where}: "
        f"analytic {got:.10g} vs numerical {numeric:.10g} (abs diff {abs(got - numeric):.3e}; {how})")


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-4, max_full=64, n_samples=48, seed=0):
    """Check ``backward`` of ``fn(*inputs)`` against float64 central differences.

    ``inputs`` are Tensors; those with ``requires_grad=True`` are checked (they must be float64).
    When the output and every checked input have at most ``max_full`` entries the whole Jacobian is
    compared entry by entry; otherwise ``n_samples`` random entries of $v^\top J$ per input, for a
    random $v$. Returns True, or raises ``GradcheckError`` naming input, index and both values.
    """
    rng = np.random.default_rng(seed)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} has dtype {inputs[i].dtype}; use float64 for finite differences")
    out_shape = _np(fn(*inputs)).shape
    n_out = int(np.prod(out_shape))
    full = n_out <= max_full and all(inputs[i].data.size <= max_full for i in checked)
    if full:
        rows = []                                   # analytic Jacobian, one backward per output entry
        for o in range(n_out):
            onehot = np.zeros(n_out)
            onehot[o] = 1.0
            rows.append(_analytic(fn, inputs, checked, onehot.reshape(out_shape)))
        for k, i in enumerate(checked):
            t = inputs[i]
            for flat in range(t.data.size):
                idx = np.unravel_index(flat, t.shape) if t.ndim else ()
                col = _numeric_column(fn, inputs, t.data, idx, eps).reshape(-1)
                for o in range(n_out):
                    got, numeric = float(rows[o][k][idx]), float(col[o])
                    if not abs(got - numeric) <= atol + rtol * abs(numeric):
                        _fail(i, t, idx, got, numeric, np.unravel_index(o, out_shape), "full Jacobian")
        return True
    v = rng.standard_normal(out_shape)              # a random projection of the output
    grads = _analytic(fn, inputs, checked, v)
    for k, i in enumerate(checked):
        t = inputs[i]
        n = t.data.size
        flat_ids = rng.choice(n, size=min(n_samples, n), replace=False)
        for flat in flat_ids:
            idx = np.unravel_index(flat, t.shape) if t.ndim else ()
            numeric = float(np.sum(_numeric_column(fn, inputs, t.data, idx, eps) * v))
            got = float(grads[k][idx])
            if not abs(got - numeric) <= atol + rtol * abs(numeric):
                _fail(i, t, idx, got, numeric, None, f"sampled {len(flat_ids)} of {n} entries of v^T J")
    return True
