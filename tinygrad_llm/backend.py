"""The one place that chooses between NumPy (CPU) and CuPy (GPU).

Every other module asks this one for the array module of an array (``array_module``), for
scatter-add, for random numbers, for the default dtype and for device moves. No other module
imports ``cupy``; ``tests/test_backend.py`` enforces that.

Scatter-add is the adjoint of gathering: if $y = x[\\mathrm{idx}]$ then
$$\\frac{\\partial L}{\\partial x_j} = \\sum_{k : \\mathrm{idx}_k = j} \\frac{\\partial L}{\\partial y_k}$$
which is ``np.add.at`` on the CPU and ``cupyx.scatter_add`` on the GPU.
"""
from __future__ import annotations

import contextlib
import math
import os
import threading

import numpy as np

try:  # CuPy is optional: only the `gpu` extra installs it.
    import cupy as _cp  # noqa: F401
    import cupyx as _cpx
except Exception:  # ImportError, or a CUDA runtime that fails to load
    _cp = None
    _cpx = None

_default_dtype = np.dtype(np.float32)
_rng = np.random.default_rng(0)
_gpu_rng = None
_kernels = os.environ.get("TINYGRAD_LLM_KERNELS", "1") not in ("0", "false", "off", "no")


# ----------------------------------------------------------------------------- array module
def array_module(*arrays):
    """NumPy or CuPy, whichever owns the given arrays (NumPy when none is a CuPy array)."""
    if _cp is not None:
        for a in arrays:
            if isinstance(a, _cp.ndarray):
                return _cp
    return np


def is_gpu_array(a) -> bool:
    return _cp is not None and isinstance(a, _cp.ndarray)


def cuda_available() -> bool:
    if _cp is None:
        return False
    try:
        return _cp.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def device_of(a) -> str:
    return "cuda" if is_gpu_array(a) else "cpu"


def check_device(device: str) -> str:
    """Normalise a device name; clear error for unknown names and for CUDA without CuPy/GPU."""
    if device is None:
        return "cpu"
    name = str(device).lower()
    if name.startswith("cuda"):
        if not cuda_available():
            raise RuntimeError(
                f"device {device!r} was requested but CUDA is not available "
                "(install the `gpu` extra, `pip install -e .[gpu]`, on a machine with an NVIDIA GPU)")
        return "cuda"
    if name != "cpu":
        raise ValueError(f"unknown device {device!r}: expected 'cpu' or 'cuda'")
    return "cpu"


def to_device(a, device: str):
    """Move an array to 'cpu' (NumPy) or 'cuda' (CuPy); a no-op when it is already there."""
    device = check_device(device)
    if device == "cuda":
        return a if is_gpu_array(a) else _cp.asarray(a)
    return a.get() if is_gpu_array(a) else np.asarray(a)


def like(a, ref):
    """Move array ``a`` (NumPy, CuPy, list or scalar) onto the device of ``ref``."""
    xp = array_module(ref)
    if xp is np:
        return a.get() if is_gpu_array(a) else np.asarray(a)
    return xp.asarray(a)


# ----------------------------------------------------------------------------- dtypes
def get_default_dtype() -> np.dtype:
    return _default_dtype


def set_default_dtype(dtype) -> None:
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {dtype}")
    _default_dtype = dtype


@contextlib.contextmanager
def default_dtype(dtype):
    """Temporarily change the default floating dtype (e.g. float64 for gradient checks)."""
    old = _default_dtype
    set_default_dtype(dtype)
    try:
        yield
    finally:
        set_default_dtype(old)


# ----------------------------------------------------------------------------- randomness
def manual_seed(seed: int) -> None:
    """Seed the one generator every random op draws from (dropout, init, sampling, batching)."""
    global _rng, _gpu_rng
    _rng = np.random.default_rng(seed)
    _gpu_rng = _cp.random.default_rng(seed) if _cp is not None else None


def rng() -> np.random.Generator:
    """The process-wide seeded NumPy generator."""
    return _rng


def get_rng_state() -> dict:
    """The generator's full state as a JSON-able dict (checkpoints store it)."""
    return _rng.bit_generator.state


def set_rng_state(state: dict) -> None:
    _rng.bit_generator.state = state


def random_uniform(shape, like_array=None, dtype=None):
    """Uniform [0, 1) numbers on the device of ``like_array``, drawn from the seeded CPU generator
    (so CPU and GPU runs with the same seed see the same numbers)."""
    dtype = dtype or _default_dtype
    u = _rng.random(shape, dtype=np.float64).astype(dtype)
    return u if like_array is None else like(u, like_array)


# ----------------------------------------------------------------------------- scatter / special
def scatter_add(target, index, values):
    """In place ``target[index] += values`` with repeated indices accumulated (the adjoint of a gather)."""
    if is_gpu_array(target):
        _cpx.scatter_add(target, index, values)
    else:
        np.add.at(target, index, values)
    return target


def erf(x):
    """The error function, elementwise, exact to the last bit of the dtype."""
    if is_gpu_array(x):
        import cupyx.scipy.special as cps
        return cps.erf(x)
    return _erf_cpu(x)


def _make_erf():
    from numba import float32, float64, vectorize

    @vectorize([float32(float32), float64(float64)], cache=True)
    def _erf(v):
        return math.erf(v)

    return _erf


_erf_ufunc = None


def _erf_cpu(x):
    global _erf_ufunc
    if _erf_ufunc is None:
        _erf_ufunc = _make_erf()
    return _erf_ufunc(x)


# ----------------------------------------------------------------------------- kernel switch
def kernels_enabled() -> bool:
    """Whether functional ops may use the Numba kernels (CPU) instead of the NumPy reference.

    Off with the environment variable ``TINYGRAD_LLM_KERNELS=0`` or inside ``use_kernels(False)``.
    """
    return _kernels


@contextlib.contextmanager
def use_kernels(flag: bool):
    """Temporarily switch the Numba kernels on or off (the NumPy reference path runs when off)."""
    global _kernels
    old = _kernels
    _kernels = bool(flag)
    try:
        yield
    finally:
        _kernels = old


# ----------------------------------------------------------------------------- thread pools
_pools = None


def _blas_pools():
    """threadpoolctl's controller of the BLAS libraries NumPy loaded (built once: finding them walks the
    loaded shared libraries), or None without threadpoolctl."""
    global _pools
    if _pools is None:
        try:
            from threadpoolctl import ThreadpoolController
            _pools = ThreadpoolController().select(user_api="blas")
        except Exception:  # not installed, or no BLAS it knows
            _pools = False
    return _pools or None


_limit_lock = threading.Lock()
_limit_users = 0            # blocks inside limit_threads, over all threads of the process
_limit_blas = []            # (library, its thread count before the first of them), restored when the last leaves


@contextlib.contextmanager
def limit_threads(n: int | None):
    """Run the block with at most ``n`` threads in NumPy's BLAS pool and in Numba's parallel kernels
    (``None``: leave both as they are). Decoding uses ``n = 1`` (``generation/threads.py``): its products
    have one row per sequence, too small to share, and a second worker that waits for a core another
    process holds makes every product wait with it (docs/performance.md, the thread policy).

    Numba's count is per thread and is restored per thread. The BLAS pool is one per process, so when
    several threads decode at once (a server) the first block to enter sets it and the last to leave
    restores it; a block that ends while another still runs leaves it limited."""
    if n is None:
        yield
        return
    global _limit_users, _limit_blas
    import numba
    old = numba.get_num_threads()
    numba.set_num_threads(min(n, old))
    with _limit_lock:
        pools = _blas_pools()
        if _limit_users == 0 and pools is not None:
            _limit_blas = [(lib, lib.get_num_threads()) for lib in pools.lib_controllers]
            for lib, had in _limit_blas:
                lib.set_num_threads(min(n, had))
        _limit_users += 1
    try:
        yield
    finally:
        with _limit_lock:
            _limit_users -= 1
            if _limit_users == 0:
                for lib, had in _limit_blas:
                    lib.set_num_threads(had)
                _limit_blas = []
        numba.set_num_threads(old)


# ----------------------------------------------------------------------------- constants onto a device
def gpu_importable() -> bool:
    """Whether CuPy loaded, i.e. whether arrays can live on two devices at all."""
    return _cp is not None


def on_device(value, gpu: bool):
    """``value`` with its arrays on the GPU (``gpu``) or the CPU: an array is moved, a tuple or list has
    its arrays moved (index tuples), anything else (numbers, None, slices) is returned as it is."""
    if isinstance(value, (tuple, list)):
        return type(value)(on_device(v, gpu) for v in value)
    if isinstance(value, np.ndarray) and gpu:
        return _cp.asarray(value)
    if is_gpu_array(value) and not gpu:
        return value.get()
    return value
