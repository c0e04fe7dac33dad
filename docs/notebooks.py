"""The chapters' walk-throughs as notebooks, in one place for the site and the tests: each
``chapters/NN_topic/run*.py`` is a notebook (jupytext ``# %%`` cells); ``executed(script)`` runs it in fast
mode once and keeps the result; ``to_markdown`` makes the site's page of it (prose, code, printed output,
figures).

Execution runs the notebook in a fresh kernel of this interpreter, in the chapter folder, in fast mode
(``TINYGRAD_LLM_CHAPTER_ARGS="--fast --out <entry>/out"``, read by ``chapters.common.chapter_args``), and keeps
a cache entry (``TINYGRAD_LLM_NOTEBOOK_CACHE``, default ``.venv/notebooks``): ``notebook.ipynb`` (the executed
notebook; its metadata ``tinygrad_llm`` holds the wall and kernel CPU seconds and any file of the chapter
folder the run changed) and ``out/`` (the figures and ``results.json`` the run wrote). The key is made of the
script, the chapter's other files, the chapter helpers, the library source, this file and the environment
settings of ``KEY_ENV``, so an unchanged
notebook runs once: ``make test`` executes every notebook while building the site
(``TINYGRAD_LLM_DOCS_EXECUTE=1``), and the chapter tests (tests/chapters) then read the same runs. Without
execution the site shows the cells only, or the cached outputs where the cache has them.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import pathlib
import re
import shlex
import shutil
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
KERNEL = "tinygrad-llm"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Appended to the notebook while it runs (and removed after): the kernel's CPU time, which unlike the wall
# clock does not depend on what else the machine is doing.
CPU_CELL = ("import resource as _r\n_c, _s = _r.getrusage(_r.RUSAGE_SELF), _r.getrusage(_r.RUSAGE_CHILDREN)\n"
            "print('__cpu_seconds__', _c.ru_utime + _c.ru_stime + _s.ru_utime + _s.ru_stime)")


class NotebookError(RuntimeError):
    """A walk-through that raised when executed as a notebook."""


def walkthroughs() -> list[str]:
    """Every walk-through script, as a repository path ('chapters/06_attention/run.py')."""
    return sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("chapters/[0-9][0-9]_*/run*.py"))


def cache_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("TINYGRAD_LLM_NOTEBOOK_CACHE", ROOT / ".venv" / "notebooks"))


def execute_enabled() -> bool:
    """Asked for by the site build (TINYGRAD_LLM_DOCS_EXECUTE=1)."""
    return os.environ.get("TINYGRAD_LLM_DOCS_EXECUTE", "0") == "1"


def _chapter_files(script: str) -> list[pathlib.Path]:
    """The chapter's own files a run may read (its scripts and text), not the figures a full run writes."""
    folder = (ROOT / script).parent
    return sorted(p for p in folder.rglob("*") if p.is_file() and "figures" not in p.relative_to(folder).parts
                  and "__pycache__" not in p.parts)


# Settings of the environment that change what a run does (make test runs some chapter tests again with them).
KEY_ENV = ("NUMBA_DISABLE_JIT", "TINYGRAD_LLM_KERNELS")


def _key(script: str) -> str:
    """What the outputs depend on: the script and its chapter, the chapter helpers, the library, this file,
    and the settings in KEY_ENV."""
    h = hashlib.sha256(repr([(k, os.environ.get(k)) for k in KEY_ENV]).encode())
    paths = [*_chapter_files(script), *sorted((ROOT / "chapters").glob("*.py")), pathlib.Path(__file__).resolve(),
             *sorted((ROOT / "tinygrad_llm").rglob("*.py"))]
    for path in paths:
        if path.is_file():
            h.update((path.relative_to(ROOT).as_posix() if ROOT in path.parents else path.name).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _stem(script: str) -> str:
    return script.replace("/", "__")[:-3]


def entry(script: str) -> pathlib.Path:
    """The cache folder of ``script``'s current source (it exists once the notebook has been executed)."""
    return cache_dir() / f"{_stem(script)}.{_key(script)}"


def _kernel_manager(folder: pathlib.Path):
    """A kernel of this very interpreter (so the notebook imports what the build and the tests import)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    spec = folder / "kernels" / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "tinygrad_llm", "language": "python"}))
    ksm = KernelSpecManager(kernel_dirs=[str(folder / "kernels")], ensure_native_kernel=False)
    km = KernelManager(kernel_name=KERNEL, kernel_spec_manager=ksm)
    if os.name == "posix":  # local sockets, not TCP: no port opened, and no "running over TCP" warning
        km.transport = "ipc"
        km.ip = str(folder / "kernel-ipc")
    return km


def _mtimes(script: str) -> dict[str, int]:
    folder = (ROOT / script).parent
    return {p.relative_to(ROOT).as_posix(): p.stat().st_mtime_ns for p in folder.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


def execute(script: str, dest: pathlib.Path, timeout: float = 900):
    """Run the notebook of ``script`` in fast mode with its figures going to ``dest / "out"``; write the
    executed notebook to ``dest / "notebook.ipynb"`` and return it (nbformat node). Raises on a failing cell."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient
    nb = jupytext.read(ROOT / script)
    nb.cells.append(nbformat.v4.new_code_cell(CPU_CELL))
    out = dest / "out"
    out.mkdir(parents=True)
    kernel_dir = tempfile.TemporaryDirectory(prefix="tgl_kernel_")   # short: a socket path has a length limit
    km = _kernel_manager(pathlib.Path(kernel_dir.name))
    client = NotebookClient(nb, km=km, timeout=timeout, kernel_name=KERNEL,
                            resources={"metadata": {"path": str((ROOT / script).parent)}})
    path = os.pathsep.join([str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    env = dict(os.environ, TINYGRAD_LLM_CHAPTER_ARGS=f"--fast --out {shlex.quote(str(out))}", PYTHONPATH=path)
    env.pop("MPLBACKEND", None)
    before = _mtimes(script)
    t0 = time.perf_counter()
    with kernel_dir:
        try:
            client.execute(env=env)
        finally:                   # nbclient leaves a kernel it was given running: stop it, and its memory
            if km.has_kernel:
                km.shutdown_kernel(now=True)
    seconds = time.perf_counter() - t0
    after = _mtimes(script)
    cpu = float(_text(nb.cells.pop()["outputs"][0]["text"]).split()[-1])
    nb.metadata["tinygrad_llm"] = {"mode": "fast", "executed_seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
                                   "chapter_files_changed": sorted(p for p in after if before.get(p) != after[p])}
    nbformat.write(nb, dest / "notebook.ipynb")
    return nb


def executed(script: str, log=None) -> pathlib.Path:
    """The cache entry of ``script`` (``notebook.ipynb`` and ``out/``), executing the notebook first when the
    cache has no entry for its current source. Raises NotebookError when a cell fails."""
    final = entry(script)
    if (final / "notebook.ipynb").is_file():
        return final
    if log:
        log(f"executing {script} as a notebook (fast mode)")
    work = final.with_name(f"{final.name}.tmp{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        execute(script, work)
    except Exception as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise NotebookError(f"{script} failed as a notebook: {type(exc).__name__}: {str(exc)[-1500:]}") from exc
    for old in final.parent.glob(f"{_stem(script)}.*"):       # older sources of the same script
        if old != work:
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
    os.replace(work, final)
    return final


def notebook(script: str, log=None):
    """(notebook, executed?) for the site's page of ``script``: from the cache, executed now (when enabled),
    or only read."""
    import nbformat
    if execute_enabled() or (entry(script) / "notebook.ipynb").is_file():
        return nbformat.read(executed(script, log) / "notebook.ipynb", as_version=4), True
    return read(script), False


def read(script: str):
    """The notebook of ``script``, not executed."""
    import jupytext
    return jupytext.read(ROOT / script)


def _fence(text: str, lang: str) -> str:
    ticks = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", text)), default=0))
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


def _text(value) -> str:
    return ANSI.sub("", "".join(value) if isinstance(value, list) else str(value))


def to_markdown(nb, script: str, executed: bool) -> tuple[str, dict[str, bytes]]:
    """The page for ``script`` and its figures ({file name next to the page's source: PNG bytes})."""
    name = pathlib.PurePosixPath(script)
    chapter = name.parent.name
    readme = ROOT / name.parent / "README.md"
    title = readme.read_text(encoding="utf-8").splitlines()[0].lstrip("# ").strip() if readme.is_file() else chapter
    stem = name.stem
    lines = [f"# {title}: the notebook" + ("" if stem == "run" else f" ({name.name})"), ""]
    how = (f"This page is [`{name.name}`]({name.name}) run as a notebook in fast mode (small sizes, as in CI)"
           if executed else f"This page shows the cells of [`{name.name}`]({name.name}) (not executed in this build)")
    lines += [f"{how}; the full run writes the figures that [the chapter](README.md) shows. Open it yourself "
              f"with `jupyter lab chapters/` (jupytext opens `run.py` as a notebook) or "
              f"`jupytext --to notebook {script}`.", ""]
    images: dict[str, bytes] = {}
    for i, cell in enumerate(nb.cells):
        source = _text(cell.get("source", "")).strip("\n")
        if cell.cell_type == "markdown":
            lines += [source, ""]
            continue
        if cell.cell_type != "code" or not source.strip():
            continue
        lines += [_fence(source, "python"), ""]
        for j, out in enumerate(cell.get("outputs", [])):
            kind = out.get("output_type")
            if kind == "stream":
                lines += [_fence(_text(out.get("text", "")), "text"), ""]
            elif kind in ("display_data", "execute_result"):
                data = out.get("data", {})
                if "image/png" in data:
                    file = f"{stem}_files/cell{i}-{j}.png"
                    images[file] = base64.b64decode(_text(data["image/png"]))
                    lines += [f"![output of cell {i}]({file})", ""]
                elif "text/plain" in data:
                    lines += [_fence(_text(data["text/plain"]), "text"), ""]
            elif kind == "error":
                lines += [_fence("\n".join(_text(t) for t in out.get("traceback", [])), "text"), ""]
    meta = nb.metadata.get("tinygrad_llm", {})
    if executed and meta.get("executed_seconds") is not None:
        lines += [f"*Executed in {meta['executed_seconds']} s in fast mode (small sizes), in a fresh kernel.*", ""]
    return "\n".join(lines), images
