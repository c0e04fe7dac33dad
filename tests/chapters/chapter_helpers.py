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
import shlex
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHAPTERS = ROOT / "chapters"
KERNEL = "tinygrad-llm-tests"
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
# Walk-throughs as notebooks: jupytext reads run.py (percent format), nbclient executes it in a fresh kernel of
# this interpreter, in the chapter folder, with TINYGRAD_LLM_CHAPTER_ARGS="--fast --out <temporary folder>".

@dataclasses.dataclass
class NotebookRun:
    script: pathlib.Path
    out: pathlib.Path            # where the walk-through wrote its figures and results
    stdout: str                  # everything the cells printed
    seconds: float               # wall clock, kernel start included
    cpu_seconds: float           # CPU time of the kernel process and its children (the load-independent cost)
    inline_figures: int          # images displayed in the notebook
    results: dict                # the walk-through's results*.json


def kernel_spec_manager(folder: pathlib.Path):
    """A kernel spec for this very interpreter (so the notebook imports what the tests import)."""
    from jupyter_client.kernelspec import KernelSpecManager
    spec_dir = folder / "kernels" / KERNEL
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "tinygrad_llm (tests)", "language": "python"}))
    return KernelSpecManager(kernel_dirs=[str(folder / "kernels")], ensure_native_kernel=False)


def execute_notebook(script: pathlib.Path, work: pathlib.Path, timeout: float = 600) -> NotebookRun:
    import jupytext
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    out = work / "out"
    out.mkdir(parents=True, exist_ok=True)
    nb = jupytext.read(script)
    import nbformat
    nb.cells.append(nbformat.v4.new_code_cell(               # the kernel's own CPU time, read at the end
        "import resource as _r\n_c, _s = _r.getrusage(_r.RUSAGE_SELF), _r.getrusage(_r.RUSAGE_CHILDREN)\n"
        "print('__cpu_seconds__', _c.ru_utime + _c.ru_stime + _s.ru_utime + _s.ru_stime)"))
    km = KernelManager(kernel_name=KERNEL, kernel_spec_manager=kernel_spec_manager(work))
    client = NotebookClient(nb, km=km, timeout=timeout, kernel_name=KERNEL,
                            resources={"metadata": {"path": str(script.parent)}})
    env = dict(os.environ, TINYGRAD_LLM_CHAPTER_ARGS=f"--fast --out {shlex.quote(str(out))}",
               PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    env.pop("MPLBACKEND", None)
    t0 = time.perf_counter()
    client.execute(env=env)
    seconds = time.perf_counter() - t0
    stdout, images = [], 0
    cpu_line = nb.cells.pop()["outputs"][0]["text"]
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream" and o.get("name") == "stdout":
                stdout.append(o["text"])
            elif o.get("output_type") == "display_data" and "image/png" in o.get("data", {}):
                images += 1
    results = {}
    for path in sorted(out.glob("results*.json")):
        results.update(json.loads(path.read_text()))
    return NotebookRun(script, out, "".join(stdout), seconds, float(cpu_line.split()[-1]), images, results)


def walkthroughs() -> list[str]:
    """Every walk-through script, as 'chapter/script.py'."""
    return sorted(p.relative_to(CHAPTERS).as_posix() for p in CHAPTERS.glob("[0-9][0-9]_*/run*.py"))


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
