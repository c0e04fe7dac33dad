r"""Elementwise arithmetic and activations. Broadcasting is undone once, in the engine (``sum_to``).

| op | forward | backward ($\bar y = \partial L/\partial y$) |
|---|---|---|
| add | $y = a + b$ | $\bar a = \bar y,\ \bar b = \bar y$ |
| sub | $y = a - b$ | $\bar a = \bar y,\ \bar b = -\bar y$ |
| mul | $y = a b$ | $\bar a = \bar y\, b,\ \bar b = \bar y\, a$ |
| div | $y = a / b$ | $\bar a = \bar y / b,\ \bar b = -\bar y\, a / b^2$ |
| neg | $y = -x$ | $\bar x = -\bar y$ |
| pow | $y = a^{b}$ | $\bar a = \bar y\, b\, a^{b-1},\ \bar b = \bar y\, a^{b} \ln a$ |
| exp | $y = e^{x}$ | $\bar x = \bar y\, y$ |
| log | $y = \ln x$ | $\bar x = \bar y / x$ |
| sqrt | $y = \sqrt{x}$ | $\bar x = \bar y / (2y)$ |
| tanh | $y = \tanh x$ | $\bar x = \bar y\,(1 - y^2)$ |
| sigmoid | $y = \sigma(x) = \frac{1}{1+e^{-x}}$ | $\bar x = \bar y\, y (1 - y)$ |
| relu | $y = \max(x, 0)$ | $\bar x = \bar y\, [x > 0]$ |
| abs | $y = \lvert x\rvert$ | $\bar x = \bar y\, \mathrm{sign}(x)$ |
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import array_module
from ._util import broadcast_shape


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, g):
        return g, g


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, g):
        return g, -g


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return (g * b if ctx.needs_input_grad[0] else None), (g * a if ctx.needs_input_grad[1] else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = g / b if ctx.needs_input_grad[0] else None
        gb = -g * a / (b * b) if ctx.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, g):
        return (-g,)


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        y = a ** b
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        ga = g * b * a ** (b - 1) if ctx.needs_input_grad[0] else None
        gb = g * y * array_module(y).log(a) if ctx.needs_input_grad[1] else None
        return ga, gb


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        y = array_module(x).exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return (g * y,)


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).log(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return (g / x,)


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        y = array_module(x).sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return (g / (2 * y),)


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        y = array_module(x).tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return (g * (1 - y * y),)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        xp = array_module(x)
        # sigma(x) = (1 + tanh(x/2)) / 2 : the same value, and no overflow of exp(-x) for very negative x
        y = 0.5 * (1 + xp.tanh(0.5 * x))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return (g * y * (1 - y),)


class Relu(Function):
    @staticmethod
    def forward(ctx, x):
        xp = array_module(x)
        ctx.save_for_backward(x > 0)
        return xp.maximum(x, 0).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (pos,) = ctx.saved_tensors
        return (g * pos,)


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        xp = array_module(x)
        ctx.save_for_backward(xp.sign(x))
        return xp.abs(x)

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        return (g * s,)


class Cast(Function):
    """$y = x$ in another floating dtype; $\\bar x = \\bar y$ cast back."""

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g.astype(ctx.dtype), None


def _binary(fn, name, a, b):
    broadcast_shape(name, a, b)
    return fn.apply(a, b)


def add(a, b): return _binary(Add, "add", a, b)
def sub(a, b): return _binary(Sub, "sub", a, b)
def mul(a, b): return _binary(Mul, "mul", a, b)
def div(a, b): return _binary(Div, "div", a, b)
def pow(a, b): return _binary(Pow, "pow", a, b)  # noqa: A001
def neg(x): return Neg.apply(x)
def exp(x): return Exp.apply(x)
def log(x): return Log.apply(x)
def sqrt(x): return Sqrt.apply(x)
def tanh(x): return Tanh.apply(x)
def sigmoid(x): return Sigmoid.apply(x)
def relu(x): return Relu.apply(x)
def abs(x): return Abs.apply(x)  # noqa: A001
def cast(x, dtype): return Cast.apply(x, dtype)
