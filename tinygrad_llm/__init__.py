"""tinygrad_llm: a readable deep-learning framework with its own autograd, for building language models.

Data flows one way: backend -> autograd (Tensor, Function) -> functional -> nn -> models -> generation/cli.
"""
from . import backend
from .autograd import Function, enable_grad, is_grad_enabled, no_grad
from .backend import manual_seed
from .tensor import Tensor, arange, ones, randn, tensor, zeros
from . import functional  # noqa: E402

__version__ = "0.1.0"
__all__ = ["Tensor", "Function", "no_grad", "enable_grad", "is_grad_enabled", "manual_seed", "backend",
           "functional", "tensor", "zeros", "ones", "randn", "arange"]
