"""Make each chapter's exercise stub (``chapters/NN_topic/exercises.py``) from its solutions and its text.

A stub has every exercise function of ``solutions.py`` with the same signature, the exercise's statement from
the README's "## Exercises" list (and the solution's docstring, which states inputs and outputs) as its
docstring, and a body that raises ``NotImplementedError``; helpers the exercises use are copied as they are.
A learner writes the bodies and checks them with
``pytest tests/chapters/test_chNN_topic.py --answers chapters/NN_topic/exercises.py``.

``python tests/chapters/exercise_stubs.py --write`` (re)writes the stubs of chapters that have none, and with
``--force`` overwrites existing ones (a learner's answers too!).
"""
from __future__ import annotations

import ast
import pathlib
import re
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHAPTERS = ROOT / "chapters"
EXERCISE = re.compile(r"Exercise (\d+)")


def chapters_with_solutions() -> list[pathlib.Path]:
    return sorted(p.parent for p in CHAPTERS.glob("[0-9][0-9]_*/solutions.py"))


def exercise_tests_for(chapter: pathlib.Path) -> str:
    """The chapter's exercise test file, relative to the repository root."""
    name = f"test_ch{chapter.name}.py"
    if (ROOT / "tests" / "chapters" / name).is_file():
        return f"tests/chapters/{name}"
    found = sorted((ROOT / "tests" / "chapters").glob(f"test_ch{chapter.name[:2]}_*.py"))
    for path in found:
        if "CHAPTER" in path.read_text() and "(sol" in path.read_text():
            return path.relative_to(ROOT).as_posix()
    raise FileNotFoundError(f"no exercise tests for {chapter.name}")


def readme_exercises(chapter: pathlib.Path) -> dict[int, str]:
    """Exercise number -> its statement (one paragraph) from the README's numbered list."""
    text = (chapter / "README.md").read_text()
    m = re.search(r"^## Exercises\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    if m is None:
        raise ValueError(f"{chapter.name}/README.md has no '## Exercises' section")
    items, current = {}, None
    for line in m.group(1).splitlines():
        head = re.match(r"^(\d+)\.\s+(.*)", line)
        if head:
            current = int(head.group(1))
            items[current] = head.group(2)
        elif current is not None and line.startswith("   ") and line.strip():
            items[current] += " " + line.strip()
        elif not line.strip() or not line.startswith(" "):
            current = None if not line.startswith(" ") and line.strip() else current
    return items


def exercise_number(source_lines: list[str], node, previous: int | None = None) -> int | None:
    """The N of an 'Exercise N' in the comment block right above a function or class, or in its docstring;
    without either, the number of the exercise whose code it follows (``previous``)."""
    doc = ast.get_docstring(node) or ""
    m = EXERCISE.match(doc)
    if m:
        return int(m.group(1))
    i = node.lineno - 2 - len(node.decorator_list)
    if i >= 0 and source_lines[i].startswith("#"):
        while i >= 0 and source_lines[i].startswith("#"):
            m = EXERCISE.match(source_lines[i].lstrip("# "))
            if m:
                return int(m.group(1))
            i -= 1
        return None
    return previous


def numbered(tree: ast.Module, lines: list[str]) -> dict[str, int | None]:
    """Every top-level function's and class's exercise number (None for the helpers given to the learner)."""
    found, previous = {}, None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            found[node.name] = previous = exercise_number(lines, node, previous)
        elif not isinstance(node, (ast.Import, ast.ImportFrom, ast.Expr)):
            previous = None
    return found


def signature(node) -> str:
    if isinstance(node, ast.ClassDef):
        return f"class({', '.join(ast.unparse(b) for b in node.bases)}): " + "; ".join(
            f"{m.name}{signature(m)}" for m in node.body if isinstance(m, ast.FunctionDef))
    return "(" + ast.unparse(node.args) + ")" + (f" -> {ast.unparse(node.returns)}" if node.returns else "")


def exercise_functions(path: pathlib.Path) -> dict[str, tuple[int, str]]:
    """Public exercise functions and classes of a solutions or stub file: name -> (exercise number, signature)."""
    text = path.read_text()
    tree, lines = ast.parse(text), text.splitlines()
    numbers = numbered(tree, lines)
    return {node.name: (numbers[node.name], signature(node)) for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_")
            and numbers[node.name] is not None}


def _docstring(n: int, statement: str, doc: str, indent: str) -> str:
    doc = EXERCISE.sub("", doc, count=1).lstrip(":. ").strip() if EXERCISE.match(doc) else doc
    body = f"Exercise {n}. {statement}".strip() + (f"\n\n{doc}" if doc else "")
    body = "\n\n".join(textwrap.fill(par, 112 - len(indent)) for par in body.split("\n\n"))
    raw = "r" if "\\" in body else ""
    return textwrap.indent(f'{raw}"""{body}"""', indent)


def _head(lines: list[str], node) -> str:
    """Decorators and the def/class line(s), up to the first statement of the body (or its docstring)."""
    start = node.lineno - 1 - len(node.decorator_list)
    first = node.body[0]
    end = first.lineno - 1 - len(getattr(first, "decorator_list", []))
    return "\n".join(lines[start:end]).rstrip()


def stub(chapter: pathlib.Path) -> str:
    """The exercise stub of a chapter, as text."""
    source = (chapter / "solutions.py").read_text()
    tree, lines = ast.parse(source), source.splitlines()
    statements = readme_exercises(chapter)
    numbers = numbered(tree, lines)
    command = f"pytest {exercise_tests_for(chapter)} --answers chapters/{chapter.name}/exercises.py"
    parts = [f'"""Chapter {chapter.name[:2]} exercises: write the body of each function below, then check your answers with\n\n'
             f"    {command}\n\n"
             f'Each function raises NotImplementedError until you write it. The worked solutions are in solutions.py."""']
    for node in tree.body:
        if node is tree.body[0] and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue                                           # the solutions' module docstring
        segment = "\n".join(lines[node.lineno - 1 - len(getattr(node, "decorator_list", [])):node.end_lineno])
        n = numbers.get(getattr(node, "name", None))
        if n is None or not isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            parts.append(segment)                              # imports, helpers, constants: as they are
        elif node.name.startswith("_"):
            continue                                           # a private piece of an answer: the learner's to write
        elif isinstance(node, ast.FunctionDef):
            parts.append(f"{_head(lines, node)}\n{_docstring(n, statements.get(n, ''), ast.get_docstring(node) or '', '    ')}\n"
                         f'    raise NotImplementedError("exercise {n}: write {node.name}")')
        else:                                                  # a class: its methods, each to be written
            methods = [f"{_head(lines, m)}\n        raise NotImplementedError(\"exercise {n}: write {node.name}.{m.name}\")"
                       for m in node.body if isinstance(m, ast.FunctionDef)]
            head = f"{_head(lines, node)}\n{_docstring(n, statements.get(n, ''), ast.get_docstring(node) or '', '    ')}"
            parts.append(head + "\n\n" + "\n\n".join(methods))
    merged = _merge_imports(parts)
    return merged[0] + "\n" + merged[1] + "\n\n\n" + "\n\n\n".join(merged[2:]) + "\n"


def _merge_imports(parts: list[str]) -> list[str]:
    """Consecutive import statements form one block."""
    merged = []
    for p in parts:
        last = merged[-1].split("\n")[-1] if merged else ""
        if merged and p.startswith(("import ", "from ")) and last.startswith(("import ", "from ")):
            group = lambda line: 0 if "__future__" in line else 2 if "tinygrad_llm" in line else 1  # noqa: E731
            merged[-1] += ("\n\n" if group(p) != group(last) else "\n") + p
        else:
            merged.append(p)
    return merged


def main(argv: list[str]) -> int:
    write, force = "--write" in argv, "--force" in argv
    for chapter in chapters_with_solutions():
        target = chapter / "exercises.py"
        if write and (force or not target.exists()):
            target.write_text(stub(chapter))
            print("wrote", target.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
