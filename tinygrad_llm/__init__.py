"""tinygrad_llm: a readable deep-learning framework with its own autograd, for building language models.

Layers import downward only: backend -> tensor -> autograd -> kernels -> functional -> testing -> nn ->
optim -> ... (docs/architecture.md). Importing the package loads the engine (``Tensor.backward``) and
the functional ops (which install Tensor's operators), and makes ``tg.functional``, ``tg.nn`` and
``tg.optim`` available.
"""
from . import backend
from .autograd import Function, enable_grad, is_grad_enabled, no_grad
from .backend import manual_seed
from .tensor import Tensor, arange, ones, randn, tensor, zeros
from . import functional
from . import nn
from . import optim

__version__ = "0.1.0"
__all__ = ["Tensor", "Function", "no_grad", "enable_grad", "is_grad_enabled", "manual_seed", "backend",
           "functional", "nn", "optim", "tensor", "zeros", "ones", "randn", "arange"]
