r"""An exponential that LLVM can vectorise, for float32 and float64.

Numba compiles ``math.exp`` to a call into the C math library, one element at a time; without
Intel's SVML (not installed here) a loop containing it never becomes SIMD code. We write exp
from operations that all have vector instructions (multiply, add, FMA, integer shift, bit casts):

Range reduction. With $k = \mathrm{round}(x \log_2 e)$ and $r = x - k\ln 2$ (so $|r| \le \tfrac{\ln 2}{2}$):
$$e^x = 2^k\, e^r$$
$k\ln 2$ is subtracted in two parts, $\ln 2 = c_{hi} + c_{lo}$ with $c_{hi}$ short enough that
$k c_{hi}$ is exact (Cody and Waite), so $r$ keeps its low bits.

Rounding without a float-to-int instruction (AVX2 has none for float64): adding the "magic"
$M = 1.5 \cdot 2^{p}$ ($p$ = 23 for float32, 52 for float64) to $x\log_2 e$ leaves the rounded
integer $k$ in the low mantissa bits of the sum, so $k = \mathrm{bits}(t) - \mathrm{bits}(M)$
and $t - M$ is $k$ as a float.

Polynomial. $e^r = \sum_{n=0}^{N} r^n/n!$ with Horner's rule; the truncation error is
$|r|^{N+1}/(N+1)! $: $N = 7$ gives $5\cdot 10^{-9}$ (below float32's half-ulp $6\cdot 10^{-8}$),
$N = 13$ gives $4\cdot 10^{-18}$ (below float64's $1.1\cdot 10^{-16}$).

Scaling by $2^k$: the bits of $2^j$ are $(j + \mathrm{bias}) \ll p$ (bias 127 or 1023), read back
as a float. We multiply by $2^{h}$ and $2^{k-h}$ with $h = \lfloor k/2 \rfloor$, so that each
factor is a normal float even where $2^k$ itself is not (results near the overflow threshold, and
subnormal results). Below the smallest subnormal the result is 0, above the largest finite
number $+\infty$; NaN stays NaN.

The bit casts are LLVM ``bitcast`` instructions (a Numba ``@intrinsic``); with
``NUMBA_DISABLE_JIT=1`` they fall back to ``ndarray.view`` so the same code runs as Python.
"""
from __future__ import annotations

import math
from decimal import Decimal, getcontext

import numpy as np
from numba import config, njit, prange, types
from numba.extending import intrinsic, overload

# ----------------------------------------------------------------------------- bit casts
if config.DISABLE_JIT:
    def float_bits(x):
        """The IEEE bits of a float32 (as int32) or float64 (as int64)."""
        a = np.asarray(x)
        return a.view(np.int32 if a.dtype == np.float32 else np.int64)[()]

    def bits_float32(i):
        return np.array(i, dtype=np.int32).view(np.float32)[()]

    def bits_float64(i):
        return np.array(i, dtype=np.int64).view(np.float64)[()]
else:
    from llvmlite import ir

    @intrinsic
    def float_bits(typingctx, x):
        """The IEEE bits of a float32 (as int32) or float64 (as int64): an LLVM ``bitcast``."""
        if x == types.float32:
            sig, lty = types.int32(types.float32), ir.IntType(32)
        elif x == types.float64:
            sig, lty = types.int64(types.float64), ir.IntType(64)
        else:
            return None

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], lty)
        return sig, codegen

    @intrinsic
    def bits_float32(typingctx, i):
        if not isinstance(i, types.Integer):
            return None

        def codegen(context, builder, signature, args):
            return builder.bitcast(builder.trunc(args[0], ir.IntType(32)) if i.bitwidth > 32
                                   else args[0], ir.FloatType())
        return types.float32(i), codegen

    @intrinsic
    def bits_float64(typingctx, i):
        if i != types.int64:
            return None

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.DoubleType())
        return types.float64(types.int64), codegen


# ----------------------------------------------------------------------------- constants
def _ln2_split(hi_bits: int):
    """ln 2 = hi + lo where hi has ``hi_bits`` significant bits (so k * hi is exact)."""
    getcontext().prec = 50
    ln2 = Decimal(2).ln()
    hi = Decimal(round(ln2 * 2 ** hi_bits)) / 2 ** hi_bits
    return float(hi), float(ln2 - hi)


_hi32, _lo32 = _ln2_split(9)
_hi64, _lo64 = _ln2_split(32)

LOG2E_32 = np.float32(1 / math.log(2))
LN2HI_32, LN2LO_32 = np.float32(_hi32), np.float32(_lo32)
MAGIC_32 = np.float32(1.5 * 2 ** 23)
MAGIC_BITS_32 = int(np.array(MAGIC_32).view(np.int32))
MIN_32 = np.float32(math.log(np.finfo(np.float32).smallest_subnormal))  # below: 0
MAX_32 = np.nextafter(np.float32(math.log(np.finfo(np.float32).max)), np.float32(0))  # above: inf
ZERO_32, INF_32 = np.float32(0.0), np.float32(np.inf)
# Taylor coefficients 1/n! for n = 7 .. 0 (Horner order)
C32 = tuple(np.float32(1.0 / math.factorial(n)) for n in range(7, -1, -1))

LOG2E_64 = 1 / math.log(2)
LN2HI_64, LN2LO_64 = _hi64, _lo64
MAGIC_64 = 1.5 * 2.0 ** 52
MAGIC_BITS_64 = int(np.array(MAGIC_64).view(np.int64))
MIN_64 = math.log(np.finfo(np.float64).smallest_subnormal)
MAX_64 = float(np.nextafter(math.log(np.finfo(np.float64).max), 0.0))
C64 = tuple(1.0 / math.factorial(n) for n in range(13, -1, -1))


# ----------------------------------------------------------------------------- scalar exp
@njit(cache=True, fastmath={"contract"})
def exp32(x):
    """e**x for a float32, vectorisable (see the module docstring)."""
    xc = min(max(x, MIN_32), MAX_32)
    t = xc * LOG2E_32 + MAGIC_32                 # k sits in the low mantissa bits of t
    kf = t - MAGIC_32                            # k as a float, exact
    k = float_bits(t) - MAGIC_BITS_32            # k as an integer
    r = (xc - kf * LN2HI_32) - kf * LN2LO_32     # |r| <= ln2/2
    p = C32[0]
    p = p * r + C32[1]
    p = p * r + C32[2]
    p = p * r + C32[3]
    p = p * r + C32[4]
    p = p * r + C32[5]
    p = p * r + C32[6]
    p = p * r + C32[7]                           # e**r
    h = k >> 1                                   # 2**k = 2**h * 2**(k-h): each factor stays a
    y = p * bits_float32((h + 127) << 23) * bits_float32((k - h + 127) << 23)  # normal float
    y = ZERO_32 if x < MIN_32 else y
    y = INF_32 if x > MAX_32 else y
    return x if x != x else y                    # NaN in, NaN out


@njit(cache=True, fastmath={"contract"})
def exp64(x):
    """e**x for a float64, vectorisable (see the module docstring)."""
    xc = min(max(x, MIN_64), MAX_64)
    t = xc * LOG2E_64 + MAGIC_64
    kf = t - MAGIC_64
    k = float_bits(t) - MAGIC_BITS_64
    r = (xc - kf * LN2HI_64) - kf * LN2LO_64
    p = C64[0]
    for i in range(1, 14):                       # unrolled by LLVM (constant trip count)
        p = p * r + C64[i]
    h = k >> 1
    y = p * bits_float64((h + 1023) << 52) * bits_float64((k - h + 1023) << 52)
    y = 0.0 if x < MIN_64 else y
    y = np.inf if x > MAX_64 else y
    return x if x != x else y


def fexp(x):
    """e**x for a NumPy float32 or float64 scalar (picks ``exp32`` or ``exp64`` by dtype)."""
    return exp32(x) if isinstance(x, np.float32) else exp64(x)


@overload(fexp)
def _fexp_overload(x):
    if x == types.float32:
        return lambda x: exp32(x)
    if x == types.float64:
        return lambda x: exp64(x)
    return None


# ----------------------------------------------------------------------------- array exp
PARALLEL_MIN = 1 << 19   # elements; see kernels/softmax.py for the measurement
@njit(cache=True)
def _exp_serial(x, out):                     # x, out 1-D
    for i in range(x.shape[0]):
        out[i] = fexp(x[i])


@njit(cache=True, parallel=True)
def _exp_parallel(x, out):
    n = x.shape[0]
    for c in prange((n + 4095) // 4096):     # blocks of 4096 elements go to threads
        for i in range(c * 4096, min(c * 4096 + 4096, n)):
            out[i] = fexp(x[i])


def exp(x):
    """Elementwise e**x of a float32/float64 array with the vectorisable formula (any shape)."""
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"kernels.exp: expected float32 or float64, got {x.dtype}")
    x1 = np.ascontiguousarray(x).reshape(-1)
    out = np.empty_like(x1)
    (_exp_parallel if x1.size >= PARALLEL_MIN else _exp_serial)(x1, out)
    return out.reshape(x.shape)
