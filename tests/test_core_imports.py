"""The engine layers import one way. Every import statement of backend, tensor, autograd, kernels,
functional, testing, nn and optim is parsed (including those inside functions): none may reach a
higher layer, and the modules of these layers form no cycle. ``Tensor`` gets its operators from one
table in ``functional/__init__.py``."""
from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

import tinygrad_llm

PKG = pathlib.Path(tinygrad_llm.__file__).parent
# bottom -> top; a module may import its own layer and the ones below
LAYERS = ["backend", "tensor", "autograd", "kernels", "functional", "testing", "nn", "optim"]
EXCLUDE = {"tinygrad_llm.nn.llama"}    # moving to the models layer (the lead's)


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str):
    parts = module.split(".")
    if parts[0] != "tinygrad_llm":
        return None                                       # third-party
    if len(parts) == 1:
        return len(LAYERS)                                # the package root is the top
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else len(LAYERS)


def engine_modules():
    for path in sorted(PKG.rglob("*.py")):
        name = module_name(path)
        if layer_of(name) < len(LAYERS) and name not in EXCLUDE:
            yield name, path


def imports_of(name: str, path: pathlib.Path):
    """Every module of the package that ``path`` imports, anywhere in the file."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("tinygrad_llm"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("tinygrad_llm"):
                continue
            for a in node.names:                          # `from .. import functional` imports a submodule
                sub = f"{target}.{a.name}"
                sub_path = PKG.parent / pathlib.Path(*sub.split("."))
                out.add(sub if sub_path.with_suffix(".py").exists() or (sub_path / "__init__.py").exists()
                        else target)
    return out


GRAPH = {name: imports_of(name, path) for name, path in engine_modules()}


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_no_upward_import(name):
    mine = layer_of(name)
    upward = sorted(t for t in GRAPH[name] if layer_of(t) > mine)
    assert upward == [], f"{name} (layer {LAYERS[mine]}) imports higher layers: {upward}"


def test_engine_modules_form_no_cycle():
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in sorted(GRAPH.get(m, ())):
            if t not in GRAPH:
                continue
            if state.get(t) == "open":
                cycle = stack[stack.index(t):] + [t]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)


def test_tensor_imports_only_backend():
    assert GRAPH["tinygrad_llm.tensor"] == {"tinygrad_llm.backend"}
    assert GRAPH["tinygrad_llm.autograd"] <= {"tinygrad_llm.backend", "tinygrad_llm.tensor"}


def test_kernels_import_only_backend_and_themselves():
    for name, targets in GRAPH.items():
        if name.startswith("tinygrad_llm.kernels"):
            assert all(t == "tinygrad_llm.backend" or t.startswith("tinygrad_llm.kernels") for t in targets), name


def test_the_checker_sees_imports_inside_functions(tmp_path):
    probe = tmp_path / "tensor.py"
    probe.write_text((PKG / "tensor.py").read_text() + "\n\ndef _late():\n    from .functional import add\n")
    assert "tinygrad_llm.functional" in imports_of("tinygrad_llm.tensor", probe)


# ------------------------------------------------------------------------------------------- method table
def test_every_method_of_the_table_is_installed_and_tensor_py_defines_none():
    import tinygrad_llm.functional as F
    from tinygrad_llm import Tensor
    source = (PKG / "tensor.py").read_text()
    for name, fn in F.TENSOR_METHODS.items():
        assert Tensor.__dict__[name] is fn, name
        assert f"def {name}(" not in source, f"tensor.py defines {name}; it belongs in TENSOR_METHODS"
    assert Tensor.backward.__module__ == "tinygrad_llm.autograd"


def test_package_attributes_after_one_import():
    code = ("import tinygrad_llm as tg, numpy as np; x = tg.Tensor(np.ones(3), requires_grad=True);"
            "(x * 2.0).sum().backward(); print(tg.nn.Linear.__name__, tg.optim.AdamW.__name__,"
            " tg.functional.softmax.__name__, x.grad.tolist())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["Linear", "AdamW", "softmax", "[2.0,", "2.0,", "2.0]"]
