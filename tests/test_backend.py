"""backend.py is the only module that chooses NumPy or CuPy."""
import pathlib
import re

import numpy as np
import pytest

import tinygrad_llm
from tinygrad_llm import backend

PKG = pathlib.Path(tinygrad_llm.__file__).parent


def test_no_other_module_imports_cupy():
    offenders = []
    for path in PKG.rglob("*.py"):
        if path.name == "backend.py" and path.parent == PKG:
            continue
        text = path.read_text()
        if re.search(r"^\s*(import cupy|from cupy|import cupyx|from cupyx)", text, re.M):
            offenders.append(str(path.relative_to(PKG)))
    assert offenders == []


def test_manual_seed_repeats_and_rng_state_roundtrips():
    backend.manual_seed(5)
    a = backend.rng().standard_normal(4)
    state = backend.get_rng_state()
    b = backend.rng().standard_normal(4)
    backend.manual_seed(5)
    assert np.array_equal(a, backend.rng().standard_normal(4))
    backend.set_rng_state(state)
    assert np.array_equal(b, backend.rng().standard_normal(4))


def test_scatter_add_accumulates_repeats():
    t = np.zeros(3)
    backend.scatter_add(t, np.array([0, 2, 0]), np.array([1.0, 2.0, 3.0]))
    assert t.tolist() == [4.0, 0.0, 2.0]


def test_erf_matches_math_erf():
    import math
    x = np.linspace(-4, 4, 101)
    assert np.array_equal(backend.erf(x), np.array([math.erf(v) for v in x]))
    assert backend.erf(x.astype(np.float32)).dtype == np.float32


def test_cuda_request_without_gpu_is_a_clear_error():
    if backend.cuda_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        tinygrad_llm.Tensor(np.ones(2)).to("cuda")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        backend.check_device("tpu")


def test_default_dtype_policy():
    assert tinygrad_llm.Tensor([1.0, 2.0]).dtype == np.float32
    assert tinygrad_llm.Tensor(np.ones(2)).dtype == np.float64      # arrays keep theirs
    with backend.default_dtype(np.float64):
        assert tinygrad_llm.Tensor([1.0]).dtype == np.float64
    with pytest.raises(TypeError):
        backend.set_default_dtype(np.int32)


# ----------------------------------------------------------------------------- constants onto the device
class _FakeGPUArray(np.ndarray):
    """Stands in for a CuPy array: a NumPy subclass with ``.get()`` (device -> host)."""

    def get(self):
        return np.asarray(self).view(np.ndarray)


def _fake_cupy():
    import types
    return types.SimpleNamespace(ndarray=_FakeGPUArray,
                                 asarray=lambda a, dtype=None: np.asarray(a, dtype).view(_FakeGPUArray))


def test_function_apply_moves_constant_arrays_to_the_tensors_device(monkeypatch):
    from tinygrad_llm import Function, Tensor
    monkeypatch.setattr(backend, "_cp", _fake_cupy())
    seen = []

    class Probe(Function):
        @staticmethod
        def forward(ctx, x, mask, idx, scale):
            seen.append((type(mask), [type(i) for i in idx], scale))
            return x * 1.0

    on_gpu = Tensor(np.ones(3).view(_FakeGPUArray))
    Probe.apply(on_gpu, np.ones(3, bool), (np.arange(2), slice(None)), 2.0)
    Probe.apply(Tensor(np.ones(3)), np.ones(3, bool).view(_FakeGPUArray), (np.arange(2).view(_FakeGPUArray), 1), 2.0)
    assert seen[0] == (_FakeGPUArray, [_FakeGPUArray, slice], 2.0)       # NumPy constants follow the GPU tensor
    assert seen[1] == (np.ndarray, [np.ndarray, int], 2.0)                # GPU constants follow the CPU tensor


def test_ops_leave_device_moves_to_function_apply():
    """No functional op or engine layer moves arrays itself (``backend.like``): Function.apply does it once."""
    offenders = []
    for path in list((PKG / "functional").rglob("*.py")) + [PKG / "nn" / n for n in (
            "attention.py", "lstm.py", "positional.py", "layers.py", "transformer.py")]:
        if "backend.like(" in path.read_text():
            offenders.append(str(path.relative_to(PKG)))
    assert offenders == []
