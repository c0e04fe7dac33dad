"""Fixtures of the chapter tests.

A chapter test module sets ``CHAPTER`` (its chapter folder). Its exercise tests take the ``sol`` fixture: the
chapter's ``solutions.py``, or the learner's file given with ``pytest --answers PATH`` (option defined in
tests/conftest.py). ``notebook("05_rnn_lstm/run.py")`` is a walk-through executed as a notebook in fast mode:
executed once (docs/notebooks.py keeps the run, which the site build of ``make test`` made already)."""
from __future__ import annotations

import pathlib

import pytest

from chapter_helpers import NotebookRun, answers_path, execute_notebook, load_module


@pytest.fixture(scope="module")
def sol(request):
    """The learner's answers or the chapter's solutions, as a module."""
    chapter = pathlib.Path(request.module.CHAPTER).resolve()
    path = answers_path(request.config, chapter)
    if not path.is_file():
        raise pytest.UsageError(f"--answers: no file {path}")
    return load_module(path, f"answers_{chapter.name}_{path.stem}")


@pytest.fixture(scope="session")
def notebook():
    """``notebook("05_rnn_lstm/run.py")``: the walk-through executed as a notebook in fast mode."""
    cache: dict[str, NotebookRun | BaseException] = {}

    def run(name: str) -> NotebookRun:
        if name not in cache:
            try:
                cache[name] = execute_notebook(name)
            except BaseException as e:  # noqa: BLE001  (reported again to every test that asks)
                cache[name] = e
        if isinstance(cache[name], BaseException):
            raise cache[name]
        return cache[name]

    return run
