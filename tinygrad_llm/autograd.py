"""Reverse-mode automatic differentiation: ``Function``, the graph, and the backward pass.

A ``Function`` computes $y = f(x_1, \\dots, x_n)$ in ``forward`` and, in ``backward``, the
vector-Jacobian products $\\bar x_i = \\bar y \\, \\partial y / \\partial x_i$ where
$\\bar v = \\partial L / \\partial v$. The chain rule over the whole graph is
$$\\frac{\\partial L}{\\partial x} = \\sum_{y \\in \\mathrm{children}(x)} \\frac{\\partial L}{\\partial y}\\frac{\\partial y}{\\partial x}$$
so a node may only pass its gradient on once every child has added its share: the nodes are
visited in reverse topological order. That order is computed with an explicit stack (no recursion,
so a chain of 100,000 ops is fine). Broadcasting is undone in one place: a gradient is summed back
to its input's shape (``sum_to``) before it is accumulated.

Import order. The core imports one way: ``backend -> tensor -> autograd -> kernels -> functional``.
This module imports ``tensor`` (``Function.apply`` makes output Tensors, ``backward`` walks them) and
installs the engine on the class: ``Tensor.backward`` is ``backward`` below. ``tensor.py`` imports
nothing of this module, and the operators (``+``, ``sum``, ...) are installed later by
``functional/__init__.py``. Device moves of constants happen here once: ``Function.apply`` puts every
array argument that is not a Tensor (masks, index arrays, cos/sin tables) on the device of the op's
tensors, so no op moves arrays itself.

Hooks (PyTorch's semantics): a tensor's ``register_hook`` functions see, and may replace, the total
gradient flowing into it before it is stored or passed on; a leaf's
``register_post_accumulate_grad_hook`` functions run right after its ``.grad`` is final for the pass.
"""
from __future__ import annotations

import contextlib
import threading

from . import backend
from .tensor import Tensor

_state = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_state, "enabled", True)


@contextlib.contextmanager
def no_grad():
    """Inside this block no graph is recorded (inference, optimizer updates)."""
    old = is_grad_enabled()
    _state.enabled = False
    try:
        yield
    finally:
        _state.enabled = old


@contextlib.contextmanager
def enable_grad():
    old = is_grad_enabled()
    _state.enabled = True
    try:
        yield
    finally:
        _state.enabled = old


class Context:
    """What ``forward`` keeps for ``backward``: ``save_for_backward(*arrays)`` and any attributes."""

    def __init__(self):
        self.saved_tensors = ()
        self.needs_input_grad = ()

    def save_for_backward(self, *arrays):
        self.saved_tensors = arrays


class Node:
    """A recorded call: which Function ran, its context, and the input tensors (parents)."""

    __slots__ = ("fn", "ctx", "parents", "positions", "freed")

    def __init__(self, fn, ctx, parents, positions):
        self.fn, self.ctx, self.parents, self.positions, self.freed = fn, ctx, parents, positions, False


class Function:
    """Subclass and write two static methods.

    ``forward(ctx, *args, **kwargs)`` receives raw arrays where tensors were passed (and every other
    array argument already on the device of those tensors) and returns an array.
    ``backward(ctx, grad)`` returns one gradient array (or None) per positional argument of forward;
    it may return ``grad`` itself or views of it (the engine copies only where a stored ``.grad`` would
    otherwise share memory). Call it with ``MyFunction.apply(*args, **kwargs)``.
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        if not getattr(_state, "enabled", True):       # no_grad(): record nothing (inference)
            return cls._apply_no_grad(args, kwargs)
        raw, parents, positions = [], [], []
        for i, a in enumerate(args):
            if isinstance(a, Tensor):
                raw.append(a.data)
                if a.requires_grad:
                    parents.append(a)
                    positions.append(i)
            else:
                raw.append(a)
        if backend.gpu_importable():                    # constants go to the device of the op's tensors
            gpu = any(backend.is_gpu_array(a.data) for a in args if isinstance(a, Tensor))
            raw = [r if isinstance(a, Tensor) else backend.on_device(r, gpu) for a, r in zip(args, raw)]
        ctx = Context()
        track = bool(parents) and is_grad_enabled()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad and track for a in args)
        out = cls.forward(ctx, *raw, **kwargs)
        t = Tensor(out, requires_grad=track)
        if track:
            t._node = Node(cls, ctx, tuple(parents), tuple(positions))
        return t

    @classmethod
    def _apply_no_grad(cls, args, kwargs):
        """``apply`` under ``no_grad``: the same forward, without parents, positions or a node, and the
        output wrapped without re-checking an array the op made (decoding calls this ~100 times a token)."""
        raw = [a.data if isinstance(a, Tensor) else a for a in args]
        if backend.gpu_importable():
            gpu = any(backend.is_gpu_array(a.data) for a in args if isinstance(a, Tensor))
            raw = [r if isinstance(a, Tensor) else backend.on_device(r, gpu) for a, r in zip(args, raw)]
        ctx = Context()
        ctx.needs_input_grad = (False,) * len(args)
        return Tensor.wrap(cls.forward(ctx, *raw, **kwargs))


def sum_to(grad, shape):
    """Sum a broadcast gradient back to ``shape`` (the adjoint of broadcasting)."""
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1)
    g = grad.sum(axis=axes, keepdims=True) if axes else grad
    return g.reshape(shape)


def topological_order(root):
    """Tensors reachable from ``root`` through recorded nodes, each after all of its parents.

    Depth-first post-order with an explicit stack: a tensor is emitted only once every parent has
    been emitted (``(t, True)`` is popped after everything pushed above it). A node's leaf parents are
    pushed below its other parents, so they are popped last: each leaf is emitted right before the first
    node that uses it, and backward (which walks this order reversed) finishes a leaf's gradient as soon
    as its last use is through — a weight's ``.grad`` is final while backward still runs through the
    layers below it, which is what lets data parallelism start its all-reduce early.
    """
    # [start:topological-order]
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if id(t) in visited:
            continue
        visited.add(id(t))
        stack.append((t, True))
        node = t._node
        if node is not None:
            for leaves in (True, False):                # leaves first on the stack: popped last
                for p in node.parents:
                    if (p._node is None) == leaves and id(p) not in visited:
                        stack.append((p, False))
    # [end:topological-order]
    return order


def _buffer(a):
    """The array that owns ``a``'s memory: ``a`` itself, or the base of the view ``a``."""
    base = getattr(a, "base", None)
    while base is not None:
        a, base = base, getattr(base, "base", None)
    return a


def _run_hooks(t, g, buffers):
    """Each ``register_hook`` function of ``t`` sees the gradient and may return a replacement."""
    for hook in list(t._hooks.values()):
        buffers.pin(g)                                  # the hook may keep it
        out = hook(Tensor(g))
        if out is not None:
            new = out.data if isinstance(out, Tensor) else backend.array_module(g).asarray(out)
            if new.shape != g.shape:
                raise ValueError(f"backward: a hook returned a gradient of shape {new.shape} for a tensor "
                                 f"whose gradient has shape {g.shape}")
            g = new
            buffers.pin(g)
    return g


class GradBuffers:
    """Which gradient buffers are shared during one backward pass, so that visible gradients never are.

    A backward function may return its incoming gradient itself (``add`` gives it to both inputs), a
    view of it (``reshape``, ``permute``, ``expand``, the broadcast view of ``sum``, the pieces of
    ``stack``) or of another array. While such arrays only wait in the table of pending gradients that
    is harmless: nothing writes to them (accumulating makes a new array), so they are passed on
    without copies. A gradient becomes *visible* when it is stored in ``.grad`` (a leaf's, or a
    non-leaf's after ``retain_grad()``): from then on the user and the optimizers change it in place
    (``clip_grad_norm_``, ``p.grad.data *= ...``). ``publish`` therefore copies a gradient exactly when
    its buffer is still held by a pending gradient, or is *pinned*: already visible, given by the
    caller (the gradient passed to ``backward``), or the data of a leaf (a parameter); otherwise it
    hands the array over as it is. So ``a + b`` of two leaves costs one copy, a residual stream none.
    """

    __slots__ = ("pending", "pinned")

    def __init__(self):
        self.pending = {}   # id(buffer) -> number of pending gradients using it (they keep it alive)
        self.pinned = {}    # id(buffer) -> buffer that others can see or change

    def hold(self, g):
        """``g`` now waits in the pending table."""
        key = id(g) if g.base is None else id(_buffer(g))
        pending = self.pending
        pending[key] = pending.get(key, 0) + 1
        return g

    def release(self, g):
        """``g`` left the pending table."""
        key = id(g) if g.base is None else id(_buffer(g))
        n = self.pending.pop(key) - 1
        if n:
            self.pending[key] = n

    def pin(self, a):
        b = _buffer(a)
        self.pinned[id(b)] = b

    def publish(self, g):
        """``g`` as an array that owns its memory (copied only if it shares it), then pinned."""
        b = _buffer(g)
        if (id(b) in self.pending or id(b) in self.pinned or not g.flags.c_contiguous
                or not getattr(g.flags, "writeable", True)):   # broadcast views are read-only
            g = g.copy()
            b = g
        self.pinned[id(b)] = b
        return g


def backward(root, grad=None, retain_graph=False):
    """Accumulate $\\partial\\,\\mathrm{root} / \\partial\\,\\mathrm{leaf}$ into every leaf's ``.grad``.

    Every gradient stored in a ``.grad`` owns its memory (see ``GradBuffers``). Installed as
    ``Tensor.backward(grad=None, retain_graph=False)``."""
    if not root.requires_grad:
        raise RuntimeError(
            f"backward: tensor of shape {root.shape} does not require grad and has no graph "
            "(create the leaves with requires_grad=True, and do not call it inside no_grad())")
    xp = backend.array_module(root.data)
    buffers = GradBuffers()
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward: output of shape {root.shape} is not a scalar; pass a gradient of that shape, "
                "e.g. y.backward(grad) or reduce it first with y.sum()")
        g0 = xp.ones_like(root.data)
    else:
        g0 = grad.data if isinstance(grad, Tensor) else xp.asarray(grad, dtype=root.dtype)
        if g0.shape != root.shape:
            raise ValueError(f"backward: gradient of shape {g0.shape} does not match output shape {root.shape}")
        buffers.pin(g0)                                     # the caller's array: never handed out
    order = topological_order(root)
    for t in order:
        if t._node is None:
            buffers.pin(t.data)                             # a gradient must never alias a parameter
    # [start:backward-loop]
    grads = {id(root): buffers.hold(g0)}        # pending gradients, tensor id -> array
    for t in reversed(order):
        g = grads.pop(id(t), None)
        if g is not None:
            buffers.release(g)
            if t._hooks:
                g = _run_hooks(t, g, buffers)
        node = t._node
        if node is None:  # a leaf: accumulate until zero_grad()
            if g is not None:
                g = sum_to(g, t.shape).astype(t.dtype, copy=False)
                t.grad = Tensor(buffers.publish(g)) if t.grad is None else Tensor(t.grad.data + g)
                for hook in list((t._post_hooks or {}).values()):
                    hook(t)                         # .grad is final for this pass
            continue
        if t._retains_grad and g is not None:
            t.grad = Tensor(buffers.publish(g)) if t.grad is None else Tensor(t.grad.data + g)
        if node.freed:
            raise RuntimeError(
                f"backward: the graph through {node.fn.__name__} was already freed by an earlier backward; "
                "call the first backward with retain_graph=True to go through it twice")
        if g is None:
            continue
        in_grads = node.fn.backward(node.ctx, g)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        for parent, pos in zip(node.parents, node.positions):
            pg = in_grads[pos] if pos < len(in_grads) else None
            if pg is None:
                continue
            pg = sum_to(pg, parent.shape)
            key = id(parent)
            if key in grads:                        # a second path into parent: add (a new array)
                old = grads[key]
                buffers.release(old)
                pg = old + pg
            grads[key] = buffers.hold(pg)
        if not retain_graph:
            node.freed = True
            node.ctx = None
    # [end:backward-loop]


Tensor.backward = backward
