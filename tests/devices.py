"""The backends every device-parametrised test runs on (a module of its own: test files import it by name,
which a ``conftest`` cannot be — tests/chapters has a conftest too)."""
import pytest


def _cuda_available():
    from tinygrad_llm import backend
    return backend.cuda_available()


# One suite for every backend: tests parametrised over DEVICES run on NumPy and, where a CUDA device
# and CuPy are present, on CuPy too (marker `gpu`; skipped cleanly otherwise).
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
    not _cuda_available(), reason="needs CuPy and a CUDA device (pip install -e .[gpu])")])]
