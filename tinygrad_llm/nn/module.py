"""``Module`` and ``Parameter``: the bookkeeping every layer shares.

A module's parameters are found by walking its attributes: a ``Parameter`` is a leaf tensor to train,
a ``Module`` holds more of them, a ``ModuleList`` holds modules by index. Names follow PyTorch
(``blocks.0.attn.weight``) so ``state_dict`` keys line up with PyTorch/Hugging Face checkpoints.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .. import backend
from ..functional import ShapeError
from ..tensor import Tensor


class Parameter(Tensor):
    """A tensor that a Module trains: ``requires_grad=True`` and registered by attribute assignment."""

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True):
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad)


class Module:
    training = True

    def __init__(self):
        self.training = True
        self._buffers = OrderedDict()

    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---------------------------------------------------------------- traversal
    def _children(self):
        for name, v in vars(self).items():
            if isinstance(v, Module):
                yield name, v

    def named_modules(self, prefix=""):
        yield prefix, self
        for name, m in self._children():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return [m for _, m in self.named_modules()]

    def named_parameters(self, prefix=""):
        seen = set()
        for mname, m in self.named_modules(prefix):
            for name, v in vars(m).items():
                if isinstance(v, Parameter) and id(v) not in seen:  # tied weights are listed once
                    seen.add(id(v))
                    yield (f"{mname}.{name}" if mname else name), v

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    def register_buffer(self, name, array):
        """Non-trained state that belongs in the state_dict (running statistics, fixed tables)."""
        if not hasattr(self, "_buffers"):
            self._buffers = OrderedDict()
        self._buffers[name] = True
        setattr(self, name, array if isinstance(array, Tensor) else Tensor(array))

    def named_buffers(self, prefix=""):
        for mname, m in self.named_modules(prefix):
            for name in getattr(m, "_buffers", {}):
                yield (f"{mname}.{name}" if mname else name), getattr(m, name)

    # ---------------------------------------------------------------- state
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Name -> array (on the CPU) for every parameter and buffer; tied weights appear under their first name."""
        out = OrderedDict()
        for name, t in list(self.named_parameters()) + list(self.named_buffers()):
            out[name] = backend.to_device(t.data, "cpu")
        return out

    def load_state_dict(self, state, strict: bool = True):
        """Copy arrays into the parameters. Everything is checked before anything is written."""
        own = OrderedDict(list(self.named_parameters()) + list(self.named_buffers()))
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict for {type(self).__name__}: missing keys {missing}, "
                           f"unexpected keys {unexpected}")
        updates = []
        for k, t in own.items():
            if k not in state:
                continue
            arr = np.asarray(state[k]) if not backend.is_gpu_array(state[k]) else state[k]
            if tuple(arr.shape) != tuple(t.shape):
                raise ShapeError(f"load_state_dict for {type(self).__name__}: {k!r} has shape {tuple(arr.shape)} "
                                 f"in the checkpoint but {tuple(t.shape)} in the model")
            updates.append((t, arr))
        for t, arr in updates:
            t.data = backend.like(arr, t.data).astype(t.dtype, copy=True)
        return {"missing_keys": missing, "unexpected_keys": unexpected}

    # ---------------------------------------------------------------- modes and devices
    def train(self, mode: bool = True):
        for m in self.modules():
            m.training = mode
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def to(self, device):
        """Move every parameter and buffer to 'cpu' or 'cuda' in place (tied weights stay tied)."""
        for _, t in list(self.named_parameters()) + list(self.named_buffers()):
            t.data = backend.to_device(t.data, device)
            if t.grad is not None:
                t.grad = Tensor(backend.to_device(t.grad.data, device))
        return self

    def __repr__(self):
        kids = "".join(f"\n  ({n}): " + repr(m).replace("\n", "\n  ") for n, m in self._children())
        return f"{type(self).__name__}({self.extra_repr()}{kids}{chr(10) if kids else ''})"

    def extra_repr(self) -> str:
        return ""


class ModuleList(Module):
    """A list of modules, registered as ``0``, ``1``, ... (like ``torch.nn.ModuleList``)."""

    def __init__(self, modules=()):
        super().__init__()
        self._n = 0
        for m in modules:
            self.append(m)

    def append(self, m: Module):
        setattr(self, str(self._n), m)
        self._n += 1
        return self

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(self._n)[i]]
        if not -self._n <= i < self._n:
            raise IndexError(f"ModuleList index {i} out of range for {self._n} modules")
        return getattr(self, str(i % self._n))

    def __len__(self):
        return self._n

    def __iter__(self):
        return (getattr(self, str(i)) for i in range(self._n))


class Sequential(ModuleList):
    def forward(self, x):
        for m in self:
            x = m(x)
        return x
