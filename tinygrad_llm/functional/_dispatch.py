r"""The one place that chooses, per call, between a formula's plain-array reference and its Numba kernel.

``KERNELS`` below maps an op name to its kernel in ``kernels/`` and an optional extra condition on the
call's arguments. The reference is the readable array code next to its formula in this package
(``softmax.py``, ``cross_entropy.py``, ``layernorm.py``, ``gelu.py``, ``matmul.py``, ``linear.py``,
``lstm_cell.py``;
the optimizer's update, which is no differentiable op, in ``optim/adam.py``),
marked ``@reference(name)``; it takes the same arguments and returns the same values (to rounding)
as the kernel, so either may run. ``ROUTES`` (name -> ``Route(reference, kernel, when)``) is the
result, and ``tests/test_kernels.py`` compares every pair in it. The ops call ``dispatch(name, *args)``
and never test for kernels themselves.

The kernel runs when ``kernel_applicable(*args)`` (kernels switched on, every array argument a NumPy
array, the floating ones all float32 or all float64) and the route's own ``when(*args)`` hold;
otherwise the reference runs: on CuPy arrays (where its ``xp`` expressions are GPU kernels), with
``TINYGRAD_LLM_KERNELS=0`` or ``backend.use_kernels(False)``, and under ``NUMBA_DISABLE_JIT=1``,
where a kernel would be a Python loop thousands of times slower than NumPy (set
``TINYGRAD_LLM_KERNELS=1`` explicitly to step through one inside a model).
"""
from __future__ import annotations

import os
from typing import Callable, NamedTuple, Optional

import numba
import numpy as np

from .. import backend, kernels

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class Route(NamedTuple):
    reference: Callable
    kernel: Callable
    when: Optional[Callable] = None   # extra condition on the call's arguments


def _last_axis(x, axis=-1):
    return axis in (-1, x.ndim - 1)


def _tanh_form(*args, approximate="none"):
    return (args[-1] if args and isinstance(args[-1], str) else approximate) == "tanh"


def _same_contiguous(p, g, m, v, *rest):
    return all(a.shape == p.shape and a.dtype == p.dtype and a.flags.c_contiguous for a in (g, m, v)) \
        and p.flags.c_contiguous and p.flags.writeable


def _cell_rows(z, c_prev, *rest):
    return z.ndim == 2 and c_prev.ndim == 2


# op name -> (kernel, when)
KERNELS = {
    "matmul": (kernels.matmul, None),
    "softmax_forward": (kernels.softmax_forward, _last_axis),
    "softmax_backward": (kernels.softmax_backward, lambda y, g, axis=-1: y.shape == g.shape and _last_axis(y, axis)),
    "cross_entropy_forward": (kernels.cross_entropy_forward, None),
    "cross_entropy_backward": (kernels.cross_entropy_backward, None),
    "layer_norm_forward": (kernels.layer_norm_forward, None),
    "layer_norm_backward": (kernels.layer_norm_backward, None),
    # the erf form stays on NumPy: without a vectorised erf the fused kernel only matched it
    "gelu_forward": (kernels.gelu_forward, _tanh_form),
    "gelu_backward": (kernels.gelu_backward, _tanh_form),
    # no op calls these two yet (Linear and GELU are separate nodes); chapter 02 and bench/ measure them
    "linear_bias_gelu": (kernels.linear_bias_gelu, _tanh_form),
    "linear_bias_gelu_backward": (kernels.linear_bias_gelu_backward, _tanh_form),
    # the LSTM cell's gates and state update, one pass per row instead of a dozen NumPy statements
    "lstm_cell_forward": (kernels.lstm_cell_forward, _cell_rows),
    "lstm_cell_backward": (kernels.lstm_cell_backward, _cell_rows),
    # one pass over memory instead of eight NumPy statements; the arrays are updated in place
    "adam_update": (kernels.adam_update, _same_contiguous),
}

ROUTES: dict = {}    # op name -> Route, filled by @reference as the formula files load


def reference(name: str):
    """Mark a plain-array function as the reference of kernel ``name`` (it must take the same arguments)."""
    kernel, when = KERNELS[name]

    def register(fn):
        ROUTES[name] = Route(fn, kernel, when)
        return fn
    return register


def kernel_applicable(*args) -> bool:
    """Kernels switched on, no CuPy array among ``args``, and the floating arrays all float32 or all
    float64 (non-array arguments and integer arrays, e.g. targets, are ignored)."""
    if not backend.kernels_enabled():
        return False
    if numba.config.DISABLE_JIT and os.environ.get("TINYGRAD_LLM_KERNELS") != "1":
        return False
    dtype = None
    for a in args:
        if isinstance(a, np.ndarray):
            if a.dtype.kind == "f":
                if dtype is None:
                    dtype = a.dtype
                elif a.dtype != dtype:
                    return False
        elif backend.is_gpu_array(a):
            return False
    return dtype in _FLOATS


def uses_kernel(name: str, *args, **kwargs) -> bool:
    """Whether ``dispatch(name, *args, **kwargs)`` runs the kernel."""
    route = ROUTES[name]
    return kernel_applicable(*args) and (route.when is None or bool(route.when(*args, **kwargs)))


def dispatch(name: str, *args, **kwargs):
    """Run op ``name`` on plain arrays: its Numba kernel where it applies, else its reference."""
    route = ROUTES[name]
    if kernel_applicable(*args) and (route.when is None or route.when(*args, **kwargs)):
        return route.kernel(*args, **kwargs)
    return route.reference(*args, **kwargs)
