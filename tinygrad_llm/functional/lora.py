r"""A linear layer with a low-rank adapter (LoRA, Hu et al. 2021), one node with an analytic backward.

$$y = x W^\top + b + s\,(x A^\top) B^\top,\qquad s = \frac{\alpha}{r}$$

In column-vector notation this is $y = W x + b + \frac{\alpha}{r} B A x$: the frozen matrix
$W: (C_{out}, C_{in})$ plus a correction $\Delta W = s\,BA$ of rank at most $r$, with
$A: (r, C_{in})$ and $B: (C_{out}, r)$. With $B = 0$ at the start, the adapted layer starts out as
the pretrained one. The correction is never formed during training: $h = xA^\top$ has only $r$
columns, so the extra work is $2r(C_{in} + C_{out})$ multiply-adds a row instead of $C_{in}C_{out}$.

**Backward.** Flatten the leading dims into $N$ rows: $X: (N, C_{in})$, $\bar Y: (N, C_{out})$,
$H = XA^\top: (N, r)$. The output is a sum of two linear maps, so the gradients add:
$\partial(XW^\top)/\partial X$ gives $\bar YW$, and the adapter path $Y_a = s\,HB^\top$ is two
linear maps in a row, whose chain rule passes $\bar H = s\,\bar Y B$ back through $H = XA^\top$:
$$\bar X = \bar Y W + s\,(\bar Y B) A,\qquad \bar A = s\,(\bar Y B)^\top X,\qquad \bar B = s\,\bar Y^\top H,\qquad \bar W = \bar Y^\top X,\qquad \bar b = \textstyle\sum_n \bar Y_n$$
The product $U = \bar Y B: (N, r)$ is computed once and used twice. When $W$ is frozen
(``requires_grad=False``) $\bar W$ — the one product as large as full fine-tuning's — is skipped,
and so is $\bar X$ when nothing below needs it.

``lora_linear_composed`` builds the same function from ``linear`` and a scalar product, to test this one.
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import array_module
from ._util import ShapeError
from .linear import linear


class LoRALinear(Function):
    @staticmethod
    def forward(ctx, x, weight, lora_a, lora_b, bias, scale):
        x2 = x.reshape(-1, x.shape[-1])                     # (N, C_in)
        # [start:forward]
        h = x2 @ lora_a.T                                   # (N, r)      H = X A^T
        y = x2 @ weight.T                                   # (N, C_out)  X W^T
        y += scale * (h @ lora_b.T)                         #           + s H B^T
        if bias is not None:
            y += bias
        # [end:forward]
        ctx.save_for_backward(x2, weight, lora_a, lora_b, h)
        ctx.scale, ctx.x_shape, ctx.has_bias = scale, x.shape, bias is not None
        return y.reshape(x.shape[:-1] + (weight.shape[0],))

    @staticmethod
    def backward(ctx, g):
        x2, w, a, b, h = ctx.saved_tensors
        s, need = ctx.scale, ctx.needs_input_grad
        xp = array_module(g)
        g2 = g.reshape(-1, g.shape[-1])                     # (N, C_out)
        # [start:backward]
        u = g2 @ b                                          # (N, r)      U = Ybar B
        gx = (g2 @ w + s * (u @ a)).reshape(ctx.x_shape) if need[0] else None
        gw = xp.matmul(g2.T, x2) if need[1] else None       # (C_out, C_in), skipped when W is frozen
        ga = s * xp.matmul(u.T, x2) if need[2] else None    # (r, C_in)
        gb = s * xp.matmul(g2.T, h) if need[3] else None    # (C_out, r)
        gbias = g2.sum(axis=0) if ctx.has_bias and need[4] else None
        # [end:backward]
        return gx, gw, ga, gb, gbias, None


def _check(x, weight, lora_a, lora_b, bias):
    if weight.ndim != 2 or x.shape[-1] != weight.shape[-1]:
        raise ShapeError(f"lora_linear: input of shape {x.shape} does not fit weight of shape {weight.shape} "
                         f"(expected (..., {weight.shape[-1]}))")
    r = lora_a.shape[0]
    if lora_a.ndim != 2 or tuple(lora_a.shape) != (r, weight.shape[1]) or tuple(lora_b.shape) != (weight.shape[0], r):
        raise ShapeError(f"lora_linear: adapters A {tuple(lora_a.shape)} and B {tuple(lora_b.shape)} do not fit "
                         f"weight {tuple(weight.shape)} (expected A (r, {weight.shape[1]}), B ({weight.shape[0]}, r))")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ShapeError(f"lora_linear: bias of shape {bias.shape} does not fit weight of shape {weight.shape}")


def lora_linear(x, weight, lora_a, lora_b, scale: float, bias=None):
    """$xW^\\top + b + s(xA^\\top)B^\\top$ in one node; ``lora_a`` (r, C_in), ``lora_b`` (C_out, r)."""
    _check(x, weight, lora_a, lora_b, bias)
    return LoRALinear.apply(x, weight, lora_a, lora_b, bias, float(scale))


def lora_linear_composed(x, weight, lora_a, lora_b, scale: float, bias=None):
    """The same function from primitives: a linear layer plus ``scale`` times two linear maps in a row."""
    _check(x, weight, lora_a, lora_b, bias)
    return linear(x, weight, bias) + linear(linear(x, lora_a), lora_b) * float(scale)
