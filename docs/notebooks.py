"""The chapters' walk-throughs as pages of the site: each ``chapters/NN_topic/run*.py`` is a notebook (jupytext
``# %%`` cells), shown with its prose, its code and — when executed — its printed output and figures.

Execution (``TINYGRAD_LLM_DOCS_EXECUTE=1``; ``make docs`` and ``make test`` set it) runs each notebook in a
fresh kernel of this interpreter, in fast mode (``TINYGRAD_LLM_CHAPTER_ARGS="--fast --out <scratch>"``,
read by ``chapters.common.chapter_args``), and keeps the executed notebook in a cache folder
(``TINYGRAD_LLM_NOTEBOOK_CACHE``, default ``.venv/notebooks``) under a key made of the script, the chapter
helpers and the library source, so an unchanged notebook is not run twice. Without execution the pages show
the cells only, or the cached outputs where the cache has them.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import pathlib
import re
import shlex
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
KERNEL = "tinygrad-llm-docs"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class NotebookError(RuntimeError):
    """A walk-through that raised when executed as a notebook."""


def walkthroughs() -> list[str]:
    """Every walk-through script, as a repository path ('chapters/06_attention/run.py')."""
    return sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("chapters/[0-9][0-9]_*/run*.py"))


def cache_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("TINYGRAD_LLM_NOTEBOOK_CACHE", ROOT / ".venv" / "notebooks"))


def execute_enabled() -> bool:
    """Asked for (TINYGRAD_LLM_DOCS_EXECUTE=1) and possible: the chapter helpers read their options from
    TINYGRAD_LLM_CHAPTER_ARGS (a kernel's own command line is not a chapter's)."""
    common = ROOT / "chapters" / "common.py"
    return (os.environ.get("TINYGRAD_LLM_DOCS_EXECUTE", "0") == "1" and common.is_file()
            and "TINYGRAD_LLM_CHAPTER_ARGS" in common.read_text(encoding="utf-8"))


def _key(script: str) -> str:
    """What the outputs depend on: the script, the chapter helpers, the library."""
    h = hashlib.sha256()
    for path in [ROOT / script, ROOT / "chapters" / "common.py", *sorted((ROOT / "tinygrad_llm").rglob("*.py"))]:
        if path.is_file():
            h.update(path.relative_to(ROOT).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _cached(script: str) -> pathlib.Path:
    return cache_dir() / f"{script.replace('/', '__')[:-3]}.{_key(script)}.ipynb"


def _kernel_manager(folder: pathlib.Path):
    """A kernel of this very interpreter (so the notebook imports what the build imports)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    spec = folder / "kernels" / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "tinygrad_llm (docs)", "language": "python"}))
    ksm = KernelSpecManager(kernel_dirs=[str(folder / "kernels")], ensure_native_kernel=False)
    km = KernelManager(kernel_name=KERNEL, kernel_spec_manager=ksm)
    if os.name == "posix":  # local sockets, not TCP: no port opened, and no "running over TCP" warning
        km.transport = "ipc"
        km.ip = str(folder / "kernel-ipc")
    return km


def execute(script: str, timeout: float = 900):
    """The notebook of ``script`` executed in fast mode (nbformat node); raises on a failing cell."""
    import jupytext
    from nbclient import NotebookClient
    nb = jupytext.read(ROOT / script)
    with tempfile.TemporaryDirectory(prefix="tinygrad_llm_docs_") as work:
        out = pathlib.Path(work) / "out"
        out.mkdir()
        client = NotebookClient(nb, km=_kernel_manager(pathlib.Path(work)), timeout=timeout, kernel_name=KERNEL,
                                resources={"metadata": {"path": str((ROOT / script).parent)}})
        path = os.pathsep.join([str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
        env = dict(os.environ, TINYGRAD_LLM_CHAPTER_ARGS=f"--fast --out {shlex.quote(str(out))}", PYTHONPATH=path)
        env.pop("MPLBACKEND", None)
        t0 = time.perf_counter()
        client.execute(env=env)
        nb.metadata["tinygrad_llm"] = {"executed_seconds": round(time.perf_counter() - t0, 1), "mode": "fast"}
    return nb


def notebook(script: str, log=None):
    """(notebook, executed?) for ``script``: from the cache, executed now (when enabled), or only read."""
    import nbformat
    cached = _cached(script)
    if cached.is_file():
        return nbformat.read(cached, as_version=4), True
    if execute_enabled():
        if log:
            log(f"executing {script} as a notebook (fast mode)")
        try:
            nb = execute(script)
        except Exception as exc:  # a failing cell: the page shows the cells, the build reports the failure
            raise NotebookError(f"{script} failed as a notebook: {type(exc).__name__}: {str(exc)[-1500:]}") from exc
        cached.parent.mkdir(parents=True, exist_ok=True)
        for old in cached.parent.glob(f"{script.replace('/', '__')[:-3]}.*.ipynb"):
            old.unlink()
        tmp = cached.with_suffix(".tmp")
        nbformat.write(nb, tmp)
        os.replace(tmp, cached)
        return nb, True
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
        lines += [f"*Executed in {meta['executed_seconds']} s (fast mode) when this site was built.*", ""]
    return "\n".join(lines), images
