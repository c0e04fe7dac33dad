"""What every chapter walk-through shares, run as a script or opened as a notebook.

``chapter_args`` reads the options: ``--fast`` (tiny sizes, for CI) and ``--out DIR`` (where figures and the
recorded numbers go). A full run writes into the chapter's ``figures/`` folder, the files the chapter text
shows; a ``--fast`` run writes into a new temporary folder (printed) unless ``--out`` says otherwise, so
trying a chapter never overwrites its figures.

Options come from the environment variable ``TINYGRAD_LLM_CHAPTER_ARGS`` (e.g. ``"--fast --out /tmp/x"``)
and, for a script, from its command line after them. A notebook kernel's own command line (``-f
kernel.json``) is never read: in Jupyter, set the variable before starting the kernel (CI and the
documentation build do so to run every notebook in fast mode).

As a script, matplotlib draws into files only (the Agg backend); in a notebook the figures also show inline.

``args.results.record(key, value)`` stores a number the chapter text quotes in ``results.json`` next to the
figures; the chapter tests check the text against the recorded file of the last full run. The file also
records the number of CPUs and the load average when the run started, so a timed number keeps its context;
``args.results.record_run_time()`` adds the walk-through's wall and CPU seconds and the load average at its end."""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import shlex
import sys
import tempfile
import time

from tinygrad_llm.backend import manual_seed

CHAPTERS = pathlib.Path(__file__).resolve().parent
ENV_ARGS = "TINYGRAD_LLM_CHAPTER_ARGS"


def in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython with a kernel app), False for a script or a terminal IPython."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class Results(dict):
    """Numbers a walk-through records for its chapter text, written to a JSON file at every ``record``."""

    def __init__(self, path: pathlib.Path, **meta):
        super().__init__(meta)
        self.path = pathlib.Path(path)
        self._start_wall, self._start_times = time.perf_counter(), os.times()
        self._write()

    def record_run_time(self, key: str = "seconds") -> dict:
        """Record the walk-through's time so far (since its options were read): wall seconds, CPU seconds of
        this process and its children (a benchmark run as a subprocess counts), and the load average now."""
        end = os.times()
        return self.record(key, {"wall": time.perf_counter() - self._start_wall,
                                 "cpu": sum(end[:4]) - sum(self._start_times[:4]),
                                 "load_average_at_end": list(os.getloadavg())})

    def record(self, key: str, value):
        """Store ``value`` (numbers, strings, lists and dicts of them; NumPy scalars become Python ones) and
        return it unchanged, so ``x = results.record("x", compute())`` reads naturally."""
        self[key] = _plain(value)
        self._write()
        return value

    def _write(self):
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self, indent=1, sort_keys=False) + "\n")
        os.replace(tmp, self.path)


def _plain(value):
    """JSON-ready copy: NumPy scalars and arrays to Python numbers and lists, tuples to lists, keys to str."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):                      # NumPy scalar or array
        return _plain(value.tolist())
    if isinstance(value, pathlib.Path):
        return str(value)
    return value


def default_out(chapter: str, fast: bool) -> pathlib.Path:
    """A full run writes the chapter's figures; a fast run a new temporary folder."""
    if fast:
        return pathlib.Path(tempfile.mkdtemp(prefix=f"tinygrad_llm_{chapter}_"))
    return CHAPTERS / chapter / "figures"


def chapter_args(chapter: str, doc: str | None = None, seed: int = 0, argv=None, options=None,
                 results: str = "results.json") -> argparse.Namespace:
    """Parse the walk-through's options for the chapter folder ``chapter`` (e.g. ``"05_rnn_lstm"``; a notebook
    has no ``__file__``, so the name is spelled out; a script's ``__file__`` is accepted too).

    ``options(parser)`` may add the walk-through's own arguments. Returns the namespace with ``fast``,
    ``out`` (a created ``pathlib.Path``) and ``results`` (a ``Results`` written to ``out / results``);
    seeds the global generator with ``seed``."""
    if chapter.endswith(".py"):                   # the older call, chapter_args(__file__, ...): scripts only
        chapter = pathlib.Path(chapter).resolve().parent.name
    folder = CHAPTERS / chapter
    if not (folder / "README.md").is_file():
        raise ValueError(f"chapter_args: no chapter folder {folder}")
    notebook = in_notebook()
    if not notebook:
        import matplotlib
        matplotlib.use("Agg")                        # a script writes files; a notebook also shows them inline
    parser = argparse.ArgumentParser(prog=f"chapters/{chapter}", description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=f"Options are also read from ${ENV_ARGS} (before the command line).")
    parser.add_argument("--fast", action="store_true", help="tiny sizes, for CI (seconds)")
    parser.add_argument("--out", default=None,
                        help="where figures and results.json go (default: the chapter's figures/ folder for a "
                             "full run, a new temporary folder with --fast)")
    if options is not None:
        options(parser)
    if argv is None:
        argv = shlex.split(os.environ.get(ENV_ARGS, ""))
        if not notebook:
            argv += sys.argv[1:]
    args = parser.parse_args(argv)
    args.out = default_out(chapter, args.fast) if args.out is None else pathlib.Path(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    args.results = Results(args.out / results, chapter=chapter, fast=args.fast,
                           machine={"cpus": os.cpu_count(), "load_average_at_start": list(os.getloadavg())})
    print(f"chapter {chapter}, {'fast' if args.fast else 'full'} run: figures and {results} go to {args.out}")
    manual_seed(seed)
    return args
