"""``Tensor``: an array (NumPy or CuPy), an optional gradient, and the node that produced it.

Operators delegate to ``tinygrad_llm.functional`` (one formula a file); the backward pass lives in
``autograd.py``. A tensor created by the user is a *leaf*; a tensor produced by a ``Function`` while
gradients are enabled remembers its node, and ``y.backward()`` walks those nodes in reverse.
"""
from __future__ import annotations

import numpy as np

from . import autograd, backend


def _as_array(data, dtype=None):
    if isinstance(data, Tensor):
        data = data.data
    if backend.is_gpu_array(data):
        return data if dtype is None else data.astype(dtype, copy=False)
    if isinstance(data, (np.ndarray, np.generic)):  # arrays and NumPy scalars keep their dtype
        data = np.asarray(data)
        return data if dtype is None else data.astype(dtype, copy=False)
    arr = np.asarray(data)
    if dtype is not None:
        return arr.astype(dtype, copy=False)
    if arr.dtype.kind == "f" or arr.dtype == object:
        return arr.astype(backend.get_default_dtype())
    return arr


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    >>> x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad.tolist()
    [2.0, 4.0, 6.0]
    """

    __slots__ = ("data", "grad", "requires_grad", "_node", "_retains_grad", "__weakref__")
    __array_priority__ = 1000  # so `ndarray + Tensor` calls Tensor.__radd__

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.data = _as_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"Tensor: only floating tensors can require grad, got dtype {self.data.dtype}")
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._node = None
        self._retains_grad = False

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

    def astype(self, dtype):
        from .functional.elementwise import cast
        return cast(self, dtype)

    def float(self):
        return self.astype(np.float32)

    def double(self):
        return self.astype(np.float64)

    # ------------------------------------------------------------------ autograd
    def backward(self, grad=None, retain_graph: bool = False):
        autograd.backward(self, grad, retain_graph)

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

    # ------------------------------------------------------------------ operators
    def __add__(self, o): return F.add(self, o)
    def __radd__(self, o): return F.add(o, self)
    def __sub__(self, o): return F.sub(self, o)
    def __rsub__(self, o): return F.sub(o, self)
    def __mul__(self, o): return F.mul(self, o)
    def __rmul__(self, o): return F.mul(o, self)
    def __truediv__(self, o): return F.div(self, o)
    def __rtruediv__(self, o): return F.div(o, self)
    def __neg__(self): return F.neg(self)
    def __pow__(self, o): return F.pow(self, o)
    def __rpow__(self, o): return F.pow(o, self)
    def __matmul__(self, o): return F.matmul(self, o)
    def __rmatmul__(self, o): return F.matmul(o, self)
    def __getitem__(self, idx): return F.getitem(self, idx)

    # comparisons give plain (non-differentiable) boolean tensors
    def _cmp(self, o, op):
        od = o.data if isinstance(o, Tensor) else o
        return Tensor(op(self.data, od))
    def __lt__(self, o): return self._cmp(o, lambda a, b: a < b)
    def __le__(self, o): return self._cmp(o, lambda a, b: a <= b)
    def __gt__(self, o): return self._cmp(o, lambda a, b: a > b)
    def __ge__(self, o): return self._cmp(o, lambda a, b: a >= b)

    # ------------------------------------------------------------------ methods
    def exp(self): return F.exp(self)
    def log(self): return F.log(self)
    def sqrt(self): return F.sqrt(self)
    def tanh(self): return F.tanh(self)
    def sigmoid(self): return F.sigmoid(self)
    def relu(self): return F.relu(self)
    def abs(self): return F.abs(self)
    def sum(self, axis=None, keepdims=False): return F.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return F.mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return F.max(self, axis, keepdims)
    def var(self, axis=None, keepdims=False, correction=0): return F.var(self, axis, keepdims, correction)
    def reshape(self, *shape): return F.reshape(self, *shape)
    view = reshape
    def flatten(self, start_dim=0): return F.reshape(self, self.shape[:start_dim] + (-1,))
    def transpose(self, a=-2, b=-1): return F.transpose(self, a, b)
    def permute(self, *axes): return F.permute(self, *axes)
    def unsqueeze(self, axis): return F.unsqueeze(self, axis)
    def squeeze(self, axis=None): return F.squeeze(self, axis)
    def expand(self, *shape): return F.expand(self, *shape)
    def masked_fill(self, mask, value): return F.masked_fill(self, mask, value)
    def softmax(self, axis=-1): return F.softmax(self, axis)
    def log_softmax(self, axis=-1): return F.log_softmax(self, axis)
    def split(self, size, axis=0): return F.split(self, size, axis)
    T = property(lambda self: F.transpose(self, -2, -1) if self.ndim >= 2 else self)

    def argmax(self, axis=None):
        xp = backend.array_module(self.data)
        return Tensor(xp.argmax(self.data, axis=axis))


from . import functional as F  # noqa: E402  (functional imports Tensor from this module)


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
