"""The layer order of docs/architecture.md, enforced: every import in the library (also those inside
functions) goes down the layers or stays in its own, and no chain of imports comes back to where it
started. The order is read from the diagram in docs/architecture.md, so the picture and the rule are one."""
from __future__ import annotations

import ast
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PKG = ROOT / "tinygrad_llm"


def layers_from_docs() -> list[list[str]]:
    """The fenced block after '<!-- layers: bottom to top -->' in docs/architecture.md, one layer a line
    (bottom first); packages sharing a layer are separated by '·'."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    m = re.search(r"<!-- layers: bottom to top -->\s*```text\n(.*?)```", text, re.S)
    assert m, "docs/architecture.md has no '<!-- layers: bottom to top -->' block"
    rows = [line.split("#")[0].strip() for line in m.group(1).splitlines()]
    return [[name.strip() for name in row.split("·")] for row in rows if row]


def module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def resolve(importer: str, is_package: bool, node) -> list[str]:
    """The library modules an import statement names (resolved to module files where possible)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
        return [n for n in names if n == "tinygrad_llm" or n.startswith("tinygrad_llm.")]
    if node.level:
        base = importer.split(".") if is_package else importer.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        mod = ".".join(base + ([node.module] if node.module else []))
    else:
        mod = node.module or ""
    if not (mod == "tinygrad_llm" or mod.startswith("tinygrad_llm.")):
        return []
    out = []
    for a in node.names:
        sub = f"{mod}.{a.name}"
        out.append(sub if sub in MODULES else mod)
    return out


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        targets = set()
        for node in ast.walk(tree):                      # every import, at module level or inside a function
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets.update(resolve(name, path.name == "__init__.py", node))
        graph[name] = {t for t in targets if t != name}
    return graph


def layer_of(module: str, order: dict[str, int]) -> int | None:
    parts = module.split(".")
    if len(parts) == 1:
        return len(order)                                # the package facade (tinygrad_llm/__init__.py): the top
    return order.get(parts[1])


def test_every_library_module_has_a_layer():
    order = {name: i for i, row in enumerate(layers_from_docs()) for name in row}
    homeless = [m for m in MODULES if layer_of(m, order) is None]
    assert homeless == [], f"modules in no layer of docs/architecture.md: {homeless}"


def test_imports_only_go_down():
    order = {name: i for i, row in enumerate(layers_from_docs()) for name in row}
    upward = []
    for src, targets in import_graph().items():
        for dst in targets:
            if dst == "tinygrad_llm" and src != "tinygrad_llm":
                upward.append(f"{src} -> tinygrad_llm (the package facade)")
            elif layer_of(dst, order) > layer_of(src, order):
                upward.append(f"{src} -> {dst}")
    assert upward == [], "imports from a higher layer:\n" + "\n".join(sorted(upward))


def find_cycle(graph):
    state, stack = {}, []

    def visit(n):
        state[n] = "open"
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == "open":
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        state[n] = "done"
        stack.pop()
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checker_sees_upward_imports_and_cycles():
    """The checks above can fail: a made-up upward import and a made-up cycle are caught."""
    order = {name: i for i, row in enumerate(layers_from_docs()) for name in row}
    assert layer_of("tinygrad_llm.apps.lm", order) > layer_of("tinygrad_llm.tensor", order)
    node = ast.parse("from ..apps import lm").body[0]
    assert resolve("tinygrad_llm.functional.softmax", False, node) == ["tinygrad_llm.apps.lm"]
    inside = ast.parse("def f():\n    from ..models import registry\n")
    found = [n for n in ast.walk(inside) if isinstance(n, ast.ImportFrom)]
    assert resolve("tinygrad_llm.nn.layers", False, found[0]) == ["tinygrad_llm.models.registry"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


@pytest.mark.parametrize("package", ["functional", "nn", "optim", "generation", "io", "models", "apps", "viz"])
def test_each_package_says_what_it_holds(package):
    doc = ast.get_docstring(ast.parse((PKG / package / "__init__.py").read_text()))
    assert doc and len(doc) > 40, f"tinygrad_llm/{package}/__init__.py needs a docstring saying what lives there"


# ------------------------------------------------------------------------------------------- the engine's own rules
def test_tensor_imports_only_backend_and_autograd_only_tensor():
    graph = import_graph()
    assert graph["tinygrad_llm.tensor"] == {"tinygrad_llm.backend"}
    assert graph["tinygrad_llm.autograd"] <= {"tinygrad_llm.backend", "tinygrad_llm.tensor"}


def test_kernels_import_only_backend_and_themselves():
    for name, targets in import_graph().items():
        if name.startswith("tinygrad_llm.kernels"):
            assert all(t == "tinygrad_llm.backend" or t.startswith("tinygrad_llm.kernels") for t in targets), name


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
