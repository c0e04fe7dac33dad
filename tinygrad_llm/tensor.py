"""``Tensor``: an array (NumPy or CuPy), an optional gradient, and the node that produced it.

This module is the data structure only and imports nothing of the framework but ``backend``:
the array and its properties, conversions, ``.grad`` / ``requires_grad`` / ``detach`` and the hook
lists. The rest is installed onto the class by the layers above, so the core imports one way
(backend -> tensor -> autograd -> functional):

- ``autograd.py`` (which imports this module) adds ``backward``, the engine;
- ``functional/__init__.py`` adds the operators and methods (``+``, ``@``, ``x[idx]``, ``sum``,
  ``reshape``, ``softmax``, ``astype``, ...) from one table, ``TENSOR_METHODS``, when it loads.

``import tinygrad_llm`` loads both, so every Tensor a user sees has all of them. A tensor created by the
user is a *leaf*; a tensor produced by a ``Function`` while gradients are enabled remembers its node,
and ``y.backward()`` walks those nodes in reverse.
"""
from __future__ import annotations

import numpy as np

from . import backend

# dtype kinds a tensor can hold: booleans, integers, floats (and complex, which no op differentiates)
_NUMERIC_KINDS = "biufc"


def _as_array(data, dtype=None):
    if isinstance(data, Tensor):
        data = data.data
    if backend.is_gpu_array(data):
        return data if dtype is None else data.astype(dtype, copy=False)
    if isinstance(data, (np.ndarray, np.generic)):  # arrays and NumPy scalars keep their dtype
        arr = np.asarray(data)
    else:
        try:
            arr = np.asarray(data)
        except ValueError as e:                    # ragged nested lists
            raise ValueError(f"Tensor: cannot make a tensor from {_describe(data)}: {e}") from None
        if dtype is None and arr.dtype.kind == "f":
            arr = arr.astype(backend.get_default_dtype())   # Python floats get the default dtype
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(f"Tensor: cannot make a tensor from {_describe(data)} (NumPy dtype {arr.dtype}); "
                        "expected numbers, nested lists of numbers, or a NumPy/CuPy array of numbers")
    return arr if dtype is None else arr.astype(dtype, copy=False)


def _describe(data) -> str:
    text = repr(data)
    return f"{type(data).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


class RemovableHandle:
    """Returned by ``register_hook`` and ``register_post_accumulate_grad_hook``; ``remove()`` unregisters."""

    __slots__ = ("_hooks", "_key")

    def __init__(self, hooks: dict, key: int):
        self._hooks, self._key = hooks, key

    def remove(self):
        self._hooks.pop(self._key, None)


_hook_ids = iter(range(1 << 62))


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    >>> x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad.tolist()
    [2.0, 4.0, 6.0]
    """

    __slots__ = ("data", "grad", "requires_grad", "_node", "_retains_grad", "_hooks", "_post_hooks",
                 "__weakref__")
    __array_priority__ = 1000  # so `ndarray + Tensor` calls Tensor.__radd__

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.data = _as_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"Tensor: only floating tensors can require grad, got dtype {self.data.dtype}")
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._node = None
        self._retains_grad = False
        self._hooks = None           # id -> fn(grad) called by backward with the gradient flowing in
        self._post_hooks = None      # id -> fn(tensor) called once a leaf's .grad is final for the pass

    @classmethod
    def wrap(cls, data):
        """A tensor around an array that an op just made (no copy, no requires_grad): the checks of
        ``Tensor(data)`` run only when ``data`` is not already a NumPy array (a scalar, a CuPy array)."""
        t = object.__new__(cls)
        t.data = data if type(data) is np.ndarray and data.dtype.kind in _NUMERIC_KINDS else _as_array(data)
        t.grad, t.requires_grad, t._node = None, False, None
        t._retains_grad, t._hooks, t._post_hooks = False, None, None
        return t

    # ------------------------------------------------------------------ properties
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    dtype = property(lambda self: self.data.dtype)
    size = property(lambda self: self.data.size)
    device = property(lambda self: backend.device_of(self.data))
    is_leaf = property(lambda self: self._node is None)

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        body = np.array2string(backend.to_device(self.data, "cpu"), precision=4, threshold=20, prefix="Tensor(")
        extra = ", requires_grad=True" if self.requires_grad else ""
        dev = ", device='cuda'" if self.device == "cuda" else ""
        return f"Tensor({body}, dtype={self.dtype}{dev}{extra})"

    # ------------------------------------------------------------------ conversion
    def numpy(self):
        return backend.to_device(self.data, "cpu")

    def tolist(self):
        return self.numpy().tolist()

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item: only a tensor with one element can be converted, got shape {self.shape}")
        return self.numpy().reshape(()).item()

    def to(self, device):
        """A copy on ``device`` ('cpu' or 'cuda'); keeps requires_grad, but is a new leaf."""
        out = Tensor(backend.to_device(self.data, device), requires_grad=self.requires_grad)
        return out

    # ------------------------------------------------------------------ gradient bookkeeping
    def detach(self):
        """The same data, cut from the graph (truncated BPTT, targets, logging)."""
        return Tensor(self.data)

    def requires_grad_(self, flag: bool = True):
        if flag and self.data.dtype.kind != "f":
            raise TypeError(f"requires_grad_: only floating tensors can require grad, got dtype {self.dtype}")
        self.requires_grad = bool(flag)
        return self

    def retain_grad(self):
        """Also store ``.grad`` on this non-leaf tensor during backward."""
        self._retains_grad = True
        return self

    def zero_grad(self):
        self.grad = None

    def register_hook(self, fn):
        """Call ``fn(grad)`` with the gradient flowing into this tensor during backward (a Tensor, the
        sum of every contribution of this pass), before it is stored in ``.grad`` or passed on; if
        ``fn`` returns a Tensor or array, that replaces the gradient. PyTorch's ``Tensor.register_hook``."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does not require grad")
        if self._hooks is None:
            self._hooks = {}
        key = next(_hook_ids)
        self._hooks[key] = fn
        return RemovableHandle(self._hooks, key)

    def register_post_accumulate_grad_hook(self, fn):
        """Call ``fn(self)`` on this leaf once backward has accumulated every contribution of the pass
        into ``.grad`` (when the reverse topological walk reaches it, before backward returns); a leaf
        used several times fires once. The place to start reducing a gradient in data-parallel training.
        PyTorch's ``Tensor.register_post_accumulate_grad_hook``."""
        if not self.is_leaf or not self.requires_grad:
            raise RuntimeError("register_post_accumulate_grad_hook: only leaf tensors that require grad "
                               "have an accumulated .grad")
        if self._post_hooks is None:
            self._post_hooks = {}
        key = next(_hook_ids)
        self._post_hooks[key] = fn
        return RemovableHandle(self._post_hooks, key)

    # ------------------------------------------------------------------ plain array methods (no gradient)
    # comparisons give plain (non-differentiable) boolean tensors
    def _cmp(self, o, op):
        od = o.data if isinstance(o, Tensor) else o
        return Tensor(op(self.data, od))
    def __lt__(self, o): return self._cmp(o, lambda a, b: a < b)
    def __le__(self, o): return self._cmp(o, lambda a, b: a <= b)
    def __gt__(self, o): return self._cmp(o, lambda a, b: a > b)
    def __ge__(self, o): return self._cmp(o, lambda a, b: a >= b)

    def argmax(self, axis=None):
        xp = backend.array_module(self.data)
        return Tensor(xp.argmax(self.data, axis=axis))


def tensor(data, requires_grad=False, dtype=None) -> Tensor:
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def zeros(*shape, dtype=None, requires_grad=False) -> Tensor:
    shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Tensor(np.zeros(shape, dtype=dtype or backend.get_default_dtype()), requires_grad=requires_grad)


def ones(*shape, dtype=None, requires_grad=False) -> Tensor:
    shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Tensor(np.ones(shape, dtype=dtype or backend.get_default_dtype()), requires_grad=requires_grad)


def randn(*shape, dtype=None, requires_grad=False) -> Tensor:
    shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    data = backend.rng().standard_normal(shape).astype(dtype or backend.get_default_dtype())
    return Tensor(data, requires_grad=requires_grad)


def arange(*args, dtype=None) -> Tensor:
    return Tensor(np.arange(*args, dtype=dtype))
