"""Optimizers, learning-rate schedules and gradient clipping (PyTorch's names and update rules)."""
from .adam import Adam, AdamW
from .clip import clip_grad_norm_
from .optimizer import Optimizer, param_groups_for_weight_decay
from .schedule import LambdaLR, constant, warmup_cosine, warmup_linear
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "LambdaLR", "warmup_cosine", "warmup_linear", "constant",
           "clip_grad_norm_", "param_groups_for_weight_decay"]
