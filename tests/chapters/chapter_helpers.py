"""Helpers the chapter tests share (the fixtures built on them live in conftest.py): which file holds the
answers to a chapter's exercises, executing a walk-through as a notebook, and checking a chapter's text against
the numbers its last full run recorded."""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHAPTERS = ROOT / "chapters"
# The budget of one walk-through in fast mode, as a notebook: its wall clock (kernel start included) or, on a
# machine busy with other work, the CPU time of the kernel, which does not depend on the load.
NOTEBOOK_SECONDS = float(os.environ.get("TINYGRAD_LLM_NOTEBOOK_SECONDS", "60"))


def load_module(path: pathlib.Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def answers_path(config, chapter: pathlib.Path) -> pathlib.Path:
    """The file whose functions the chapter's exercise tests check: ``--answers`` or ``solutions.py``. A file
    in a folder named like the chapter (``05_rnn_lstm/``, the chapter's own or a copy) counts for that chapter; a
    single file anywhere else counts for every chapter."""
    given = [pathlib.Path(p).resolve() for p in config.getoption("answers")]
    for path in given:
        if path.parent.name == chapter.name:
            return path
    outside = [p for p in given if not re.fullmatch(r"\d\d_\w+", p.parent.name)]
    if len(outside) > 1:
        raise pytest.UsageError(f"--answers: more than one file outside a chapter folder: {outside}")
    return outside[0] if outside else chapter / "solutions.py"


# ---------------------------------------------------------------------------------------------------------
# Walk-throughs as notebooks: docs/notebooks.py executes them (fast mode, a fresh kernel, a scratch folder) and
# keeps each run in its cache, so the site build of `make test` and these tests share one execution.

sys.path.insert(0, str(ROOT / "docs"))
import notebooks  # noqa: E402


@dataclasses.dataclass
class NotebookRun:
    script: pathlib.Path
    out: pathlib.Path            # where the walk-through wrote its figures and results
    stdout: str                  # everything the cells printed
    seconds: float               # wall clock, kernel start included
    cpu_seconds: float           # CPU time of the kernel process and its children (the load-independent cost)
    inline_figures: int          # images displayed in the notebook
    results: dict                # the walk-through's results*.json
    chapter_files_changed: list  # files of the chapter folder the run modified (none, for a fast run)


def execute_notebook(name: str) -> NotebookRun:
    """The walk-through ``name`` ('05_rnn_lstm/run.py') executed as a notebook in fast mode (or its cached run)."""
    import nbformat
    folder = notebooks.executed(f"chapters/{name}")
    nb = nbformat.read(folder / "notebook.ipynb", as_version=4)
    stdout, images = [], 0
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream" and o.get("name") == "stdout":
                stdout.append(o["text"])
            elif o.get("output_type") == "display_data" and "image/png" in o.get("data", {}):
                images += 1
    results = {}
    for path in sorted((folder / "out").glob("results*.json")):
        results.update(json.loads(path.read_text()))
    meta = nb.metadata["tinygrad_llm"]
    return NotebookRun(CHAPTERS / name, folder / "out", "".join(stdout), meta["executed_seconds"], meta["cpu_seconds"],
                       images, results, meta["chapter_files_changed"])


def walkthroughs() -> list[str]:
    """Every walk-through script, as 'chapter/script.py'."""
    return [w.split("/", 1)[1] for w in notebooks.walkthroughs()]


# ---------------------------------------------------------------------------------------------------------
# The chapter text against the numbers its last full run recorded.

def recorded(chapter: pathlib.Path, name: str = "results.json") -> dict:
    """The numbers the chapter's last full run recorded (committed next to its figures)."""
    data = json.loads((chapter / "figures" / name).read_text())
    assert data.get("fast") is False, f"{chapter.name}/figures/{name} was written by a --fast run"
    return data


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def assert_quoted(chapter: pathlib.Path, results: dict, templates: list[str]):
    """Each template, filled from ``results`` (``str.format_map``), appears in the chapter README (whitespace
    and line breaks ignored)."""
    readme = _flat((chapter / "README.md").read_text())
    missing = [t.format_map(results) for t in templates if _flat(t.format_map(results)) not in readme]
    assert not missing, f"{chapter.name}/README.md does not quote the recorded numbers: {missing}"
