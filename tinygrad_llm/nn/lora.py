r"""LoRA: train a few low-rank adapters beside the frozen linear layers of a pretrained model.

A layer $y = Wx + b$ with a frozen pretrained $W: (C_{out}, C_{in})$ becomes
$$y = W x + b + \frac{\alpha}{r} B A x,\qquad A: (r, C_{in}),\ B: (C_{out}, r),\ B_0 = 0$$
so only $r(C_{in} + C_{out})$ numbers a layer are trained instead of $C_{in}C_{out}$ ($r = 8$ on a
$576 \times 576$ projection: 9,216 instead of 331,776). $A$ starts like a ``Linear`` weight,
$\mathcal U(-1/\sqrt{C_{in}}, 1/\sqrt{C_{in}})$, and $B$ at zero, so the adapted model starts out *equal* to
the pretrained one and the first gradient step moves $B$ only (with $B = 0$ we have $\bar A = 0$).
The factor $\alpha/r$ keeps the size of the update about the same when $r$ changes, so a learning rate
tuned for one rank carries over to another.

**Backward** (rows of $X$ are inputs, $\bar Y = \partial L/\partial Y$, $H = XA^\top$, $s = \alpha/r$):
$$\bar A = s\,(\bar Y B)^\top X,\qquad \bar B = s\,\bar Y^\top H,\qquad \bar X = \bar Y W + s\,(\bar Y B)A$$
and no $\bar W$: the frozen matrices get no gradient and no optimizer state, which is where LoRA saves
memory (AdamW keeps two moments per trained number). The derivation and the fused op are in
``functional/lora.py``.

**Merging.** After training, $W' = W + \frac{\alpha}{r}BA$ is an ordinary matrix of the same shape:
``merge`` folds the adapter in (inference then costs what the base model costs), ``unmerge`` puts the
original $W$ back bit for bit (the layer keeps it while merged; subtracting $\frac{\alpha}{r}BA$ again would
only be exact up to rounding).

``apply_lora(model, targets, r, alpha)`` wraps every ``Linear`` whose name matches a target pattern
(``"q_proj"`` matches the last part of a name, ``"layers.2*.self_attn.q_proj"`` is a glob on the whole
name), freezes every other parameter (``requires_grad=False``) and returns the wrapped names. It works on
any model of this library: Llama's ``q_proj``/``v_proj``, GPT's ``c_attn``, BERT's ``query``/``value``.
Saving and loading adapters alone is ``io/adapters.py``.
"""
from __future__ import annotations

import fnmatch

import numpy as np

from .. import backend
from .. import functional as F
from ..functional import ShapeError
from ..functional.lora import lora_linear
from .layers import Dropout, Linear
from .module import Module


class LoRATargetError(ValueError):
    """A target pattern matches no linear layer of the model (or matches something that is not one)."""


class LoRALinear(Module):
    """A ``Linear`` with a frozen weight and a trainable low-rank adapter; parameter names follow PEFT
    (``weight``, ``bias``, ``lora_A.weight``, ``lora_B.weight``), so a state dict reads like one of theirs."""

    def __init__(self, base: Linear, r: int = 8, alpha: float = 16.0, dropout: float = 0.0):
        super().__init__()
        if int(r) < 1:
            raise ValueError(f"LoRALinear: rank r must be >= 1, got {r}")
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight, self.bias = base.weight, base.bias          # the same Parameter objects, now frozen
        self.weight.requires_grad = False
        if self.bias is not None:
            self.bias.requires_grad = False
        self.r, self.alpha = int(r), float(alpha)
        self.scaling = self.alpha / self.r
        with backend.default_dtype(self.weight.dtype):
            self.lora_A = Linear(self.in_features, self.r, bias=False)    # (r, C_in), U(-1/sqrt(C_in), ...)
            self.lora_B = Linear(self.r, self.out_features, bias=False)   # (C_out, r)
        self.lora_B.weight.data[...] = 0                                   # the adapter starts as a no-op
        self.lora_dropout = Dropout(dropout) if dropout > 0 else None
        self.merged = False
        self._unmerged = None

    # [start:forward]
    def forward(self, x):
        if self.merged:                                  # W' = W + s B A already holds the adapter
            return self._plain(x)
        A, B, s = self.lora_A.weight, self.lora_B.weight, self.scaling
        if self.lora_dropout is not None and self.training:   # dropout on the adapter's input only
            return self._plain(x) + self.lora_B(self.lora_A(self.lora_dropout(x))) * s
        return lora_linear(x, self.weight, A, B, s, self.bias)   # x W^T + b + s (x A^T) B^T, one node
    # [end:forward]

    def _plain(self, x):
        return F.linear(x, self.weight, self.bias)

    def delta_weight(self):
        """The update the adapter adds, $\\Delta W = \\frac{\\alpha}{r} B A$, as an array (C_out, C_in)."""
        return (self.scaling * (self.lora_B.weight.data @ self.lora_A.weight.data)).astype(self.weight.dtype)

    # [start:merge]
    def merge(self):
        """Fold the adapter into the weight: $W \\leftarrow W + \\frac{\\alpha}{r}BA$ (the original is kept)."""
        if not self.merged:
            self._unmerged = self.weight.data
            self.weight.data = self.weight.data + self.delta_weight()
            self.merged = True
        return self

    def unmerge(self):
        """Undo ``merge``: the original weight comes back bit for bit."""
        if self.merged:
            self.weight.data, self._unmerged = self._unmerged, None
            self.merged = False
        return self
    # [end:merge]

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, r={self.r}, "
                f"alpha={self.alpha:g}, merged={self.merged}")


def _matches(name: str, pattern: str) -> bool:
    if any(c in pattern for c in ".*?["):
        return fnmatch.fnmatchcase(name, pattern)
    return name.rsplit(".", 1)[-1] == pattern


def _parent(model: Module, name: str):
    parent = model
    *path, leaf = name.split(".")
    for part in path:
        parent = getattr(parent, part)
    return parent, leaf


def lora_modules(model: Module) -> list[tuple[str, LoRALinear]]:
    """(name, layer) of every LoRA layer of ``model``, in module order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, LoRALinear)]


# [start:apply]
def apply_lora(model: Module, targets=("q_proj", "v_proj"), r: int = 8, alpha: float = 16.0,
               dropout: float = 0.0, also_train=(), freeze: bool = True) -> list[str]:
    """Wrap every ``Linear`` of ``model`` whose name matches a pattern of ``targets`` in a ``LoRALinear``
    (in place); with ``freeze`` every other parameter stops requiring gradients, except those of the
    modules matched by ``also_train`` (a new classification head, say). Returns the wrapped names."""
    targets = (targets,) if isinstance(targets, str) else tuple(targets)
    also_train = (also_train,) if isinstance(also_train, str) else tuple(also_train)
    if not targets:
        raise LoRATargetError("apply_lora: no target patterns given")
    inside = tuple(f"{n}." for n, _ in lora_modules(model))          # the adapters' own A and B
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, Linear) and not n.startswith(inside)]
    chosen = [n for n, _ in linears if any(_matches(n, p) for p in targets)]
    for p in targets:
        if not any(_matches(n, p) for n, _ in linears):
            examples = ", ".join(sorted({n.rsplit(".", 1)[-1] for n, _ in linears})[:12])
            raise LoRATargetError(f"apply_lora: target {p!r} matches no linear layer of {type(model).__name__} "
                                  f"(its linear layers end in: {examples})")
    if freeze:
        for q in model.parameters():
            q.requires_grad = False
    for n in chosen:
        parent, leaf = _parent(model, n)
        setattr(parent, leaf, LoRALinear(getattr(parent, leaf), r, alpha, dropout))
    extra = [n for n, _ in model.named_modules() if n and any(_matches(n, p) for p in also_train)]
    for p in also_train:
        if not any(_matches(n, p) for n in extra):
            raise LoRATargetError(f"apply_lora: also_train pattern {p!r} matches no module of {type(model).__name__}")
    for n in extra:
        for q in getattr(*_parent(model, n)).parameters():
            q.requires_grad = True
    model.lora_config = {"r": int(r), "alpha": float(alpha), "dropout": float(dropout), "targets": list(targets),
                         "also_train": list(also_train), "modules": chosen, "also_train_modules": extra}
    return chosen
# [end:apply]


def merge_lora(model: Module) -> Module:
    """``merge`` every LoRA layer: the model then runs at the base model's cost."""
    for _, m in lora_modules(model):
        m.merge()
    return model


def unmerge_lora(model: Module) -> Module:
    for _, m in lora_modules(model):
        m.unmerge()
    return model


def lora_state_dict(model: Module) -> dict:
    """Name -> array of what an adapter file holds: every LoRA ``A`` and ``B`` and every parameter of the
    ``also_train`` modules (a new head). The frozen base weights are not in it."""
    conf = getattr(model, "lora_config", {})
    keep = tuple(f"{n}." for n in conf.get("also_train_modules", []))
    out = {}
    for name, p in model.named_parameters():
        if ".lora_A." in f".{name}" or ".lora_B." in f".{name}" or name.startswith(keep):
            out[name] = backend.to_device(p.data, "cpu")
    return out


def load_lora_state_dict(model: Module, state: dict) -> None:
    """Copy adapter arrays into a model that ``apply_lora`` prepared; every name and shape is checked first."""
    own = dict(model.named_parameters())
    want = lora_state_dict(model)
    missing = [k for k in want if k not in state]
    unexpected = [k for k in state if k not in want]
    if missing or unexpected:
        raise KeyError(f"load_lora_state_dict: missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
                       f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''}")
    for k, v in state.items():
        if tuple(np.shape(v)) != tuple(own[k].shape):
            raise ShapeError(f"load_lora_state_dict: {k} has shape {tuple(np.shape(v))}, the model's is "
                             f"{tuple(own[k].shape)}")
    for k, v in state.items():
        own[k].data = backend.like(np.asarray(v), own[k].data).astype(own[k].dtype, copy=True)


def count_parameters(model: Module) -> tuple[int, int]:
    """(trainable, total) numbers of parameters (tied weights counted once)."""
    ps = model.parameters()
    return sum(p.size for p in ps if p.requires_grad), sum(p.size for p in ps)


def parameter_summary(model: Module) -> str:
    trainable, total = count_parameters(model)
    return f"trainable parameters: {trainable:,} of {total:,} ({100 * trainable / max(total, 1):.3f} %)"
