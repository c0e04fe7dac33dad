"""``Optimizer``: parameter groups, per-parameter state, zero_grad, and a pickle-free state_dict.

A parameter group is a dict ``{"params": [...], "lr": ..., ...}``; options missing from a group take
the optimizer's defaults (so biases and LayerNorm weights can get ``weight_decay=0``). State is kept
per parameter as plain arrays, and ``state_dict()`` returns only arrays, numbers and lists so
checkpoints can be written as ``.npz`` + JSON without pickle.
"""
from __future__ import annotations

from .. import backend
from ..autograd import no_grad


class Optimizer:
    def __init__(self, params, defaults: dict):
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.defaults = dict(defaults)
        self.param_groups = []
        for g in groups:
            group = {**self.defaults, **g, "params": list(g["params"])}
            for p in group["params"]:
                if not getattr(p, "requires_grad", False):
                    raise ValueError(f"{type(self).__name__}: a parameter of shape {p.shape} does not require grad")
            self.param_groups.append(group)
        self.state = {}  # id(param) -> dict of arrays/numbers

    def _params(self):
        for group in self.param_groups:
            for p in group["params"]:
                yield group, p

    def zero_grad(self):
        for _, p in self._params():
            p.grad = None

    def step(self):
        with no_grad():
            for group, p in self._params():
                if p.grad is not None:
                    self.update(p, p.grad.data, group, self.state.setdefault(id(p), {}))

    def update(self, p, g, group, state):  # pragma: no cover - abstract
        raise NotImplementedError

    # ---------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        """``{"state": {index: {name: array|number}}, "groups": [options without params]}``, indices in
        parameter order (the same order when the optimizer is rebuilt on the same model)."""
        state = {}
        for i, (_, p) in enumerate(self._params()):
            if id(p) in self.state:
                state[i] = {k: (backend.to_device(v, "cpu") if hasattr(v, "shape") else v)
                            for k, v in self.state[id(p)].items()}
        groups = [{k: v for k, v in g.items() if k != "params"} for g in self.param_groups]
        return {"state": state, "groups": groups}

    def load_state_dict(self, sd: dict):
        params = [p for _, p in self._params()]
        if len(sd["groups"]) != len(self.param_groups):
            raise ValueError(f"{type(self).__name__}.load_state_dict: {len(sd['groups'])} parameter groups "
                             f"in the checkpoint, {len(self.param_groups)} here")
        for i, st in sd["state"].items():
            i = int(i)
            if i >= len(params):
                raise ValueError(f"{type(self).__name__}.load_state_dict: state for parameter {i}, "
                                 f"but there are only {len(params)}")
            for k, v in st.items():
                if hasattr(v, "shape") and v.shape and tuple(v.shape) != tuple(params[i].shape):
                    raise ValueError(f"{type(self).__name__}.load_state_dict: state {k!r} of parameter {i} has "
                                     f"shape {tuple(v.shape)}, parameter has {tuple(params[i].shape)}")
        self.state = {}
        for i, st in sd["state"].items():
            p = params[int(i)]
            self.state[id(p)] = {k: (backend.like(v, p.data).copy() if hasattr(v, "shape") and v.shape else v)
                                 for k, v in st.items()}
        for g, saved in zip(self.param_groups, sd["groups"]):
            g.update(saved)


def param_groups_for_weight_decay(model, weight_decay: float):
    """Two groups: matrices (ndim >= 2: Linear and Embedding weights) decay; biases and LayerNorm weights don't.
    Frozen parameters (``requires_grad=False``) are in neither."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
