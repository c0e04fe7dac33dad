"""Every chapter walk-through is a notebook: jupytext pairs the ``# %%`` cells of run.py with a notebook, and
each one executes in a fresh kernel in fast mode, within the time budget, with its figures shown inline and
written to a scratch folder (never over the committed figures)."""
import os
import pathlib
import subprocess
import sys

import jupytext
import pytest

from chapters import common
from chapter_helpers import CHAPTERS, NOTEBOOK_SECONDS, ROOT, walkthroughs


def test_every_chapter_has_a_walkthrough():
    chapters = sorted(p.name for p in CHAPTERS.glob("[0-9][0-9]_*") if p.is_dir())
    assert chapters and {w.split("/")[0] for w in walkthroughs()} == set(chapters)


@pytest.mark.parametrize("name", walkthroughs())
def test_walkthrough_is_a_notebook_with_prose(name):
    nb = jupytext.read(CHAPTERS / name)
    kinds = [c.cell_type for c in nb.cells]
    assert kinds.count("markdown") >= 2 and kinds.count("code") >= 2, kinds


@pytest.mark.parametrize("name", walkthroughs())
def test_notebook_executes_in_fast_mode(name, notebook):
    run = notebook(name)
    assert run.results.get("fast") is True
    written = sorted(p.name for p in run.out.glob("*.png"))
    assert run.inline_figures >= len(written) > 0 or not written, (run.inline_figures, written)
    assert run.chapter_files_changed == [], f"a fast run changed files of the chapter: {run.chapter_files_changed}"
    assert CHAPTERS not in run.out.parents
    print(f"{name}: {run.seconds:.1f} s wall, {run.cpu_seconds:.1f} s CPU, {len(written)} figures, "
          f"{run.inline_figures} shown inline")
    cost = min(run.seconds, run.cpu_seconds)
    assert cost <= NOTEBOOK_SECONDS, (f"{name} took {run.seconds:.0f} s ({run.cpu_seconds:.0f} s CPU) in fast mode "
                                      f"(budget {NOTEBOOK_SECONDS:.0f} s)")


def test_options_from_the_environment_and_the_command_line(monkeypatch, tmp_path):
    monkeypatch.setenv(common.ENV_ARGS, f"--out {tmp_path / 'a'}")
    monkeypatch.setattr(sys, "argv", ["run.py", "--fast"])
    args = common.chapter_args("07_transformer")
    assert args.fast and args.out == tmp_path / "a" and (tmp_path / "a" / "results.json").is_file()


def test_results_record_the_machine_and_the_run_time(tmp_path):
    import json
    import subprocess
    r = common.Results(tmp_path / "results.json", chapter="x", machine={"cpus": 2})
    t = r.record_run_time()
    subprocess.run([sys.executable, "-c", "sum(range(3_000_000))"], check=True)     # a child's CPU time counts
    later = r.record_run_time()
    assert 0 <= t["wall"] <= later["wall"] and later["cpu"] > t["cpu"] + 0.01 and len(later["load_average_at_end"]) == 3
    assert json.loads((tmp_path / "results.json").read_text())["seconds"] == json.loads(json.dumps(later))


def test_a_notebook_kernel_command_line_is_ignored(monkeypatch, tmp_path):
    monkeypatch.setattr(common, "in_notebook", lambda: True)
    monkeypatch.setattr(sys, "argv", ["ipykernel_launcher.py", "-f", "/run/kernel-1.json"])
    monkeypatch.setenv(common.ENV_ARGS, f"--fast --out '{tmp_path / 'with space'}'")
    args = common.chapter_args("07_transformer")
    assert args.fast and args.out == tmp_path / "with space"


def test_fast_runs_go_to_a_scratch_folder_full_runs_to_the_figures():
    scratch = common.default_out("07_transformer", fast=True)
    assert scratch.is_dir() and CHAPTERS not in scratch.parents
    scratch.rmdir()
    assert common.default_out("07_transformer", fast=False) == CHAPTERS / "07_transformer" / "figures"
    args = common.chapter_args(str(CHAPTERS / "07_transformer" / "run.py"), argv=["--fast"])   # a script's __file__
    assert args.results["chapter"] == "07_transformer"
    with pytest.raises(ValueError, match="no chapter folder"):
        common.chapter_args("99_nothing", argv=["--fast"])


def test_results_are_plain_json(tmp_path):
    import numpy as np
    r = common.Results(tmp_path / "r.json", fast=True)
    assert r.record("x", np.float32(1.5)) == np.float32(1.5)
    r.record("curve", {"a": np.arange(3), 2: (np.int64(4), pathlib.Path("p"))})
    assert (tmp_path / "r.json").read_text().count("\n") > 3
    import json
    assert json.loads((tmp_path / "r.json").read_text()) == {"fast": True, "x": 1.5, "curve": {"a": [0, 1, 2], "2": [4, "p"]}}


def test_a_script_run_with_fast_leaves_the_chapter_alone():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env.pop(common.ENV_ARGS, None)
    r = subprocess.run([sys.executable, str(CHAPTERS / "06_attention" / "run.py"), "--fast"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = pathlib.Path(r.stdout.split("go to ", 1)[1].splitlines()[0])
    assert out.is_dir() and CHAPTERS not in out.parents and any(out.glob("*.png"))
    git = subprocess.run(["git", "status", "--porcelain", "chapters"], cwd=ROOT, capture_output=True, text=True)
    assert git.returncode != 0 or "figures" not in git.stdout


def test_a_run_is_kept_under_a_key_of_its_sources(monkeypatch, tmp_path):
    from chapter_helpers import notebooks
    monkeypatch.setenv("TINYGRAD_LLM_NOTEBOOK_CACHE", str(tmp_path))
    script = "chapters/06_attention/run.py"
    first = notebooks.entry(script)
    assert first == notebooks.entry(script) and first.parent == tmp_path
    assert notebooks.entry("chapters/07_transformer/run.py") != first
    monkeypatch.setenv("NUMBA_DISABLE_JIT", "1")                    # the kernels as plain Python: another run
    assert notebooks.entry(script) != first
    monkeypatch.delenv("NUMBA_DISABLE_JIT")
    first.mkdir()
    (first / "notebook.ipynb").write_text("{}")                      # present: not executed again
    assert notebooks.executed(script) == first
    monkeypatch.setattr(notebooks, "ROOT", tmp_path)                  # another source of the script: another key
    (tmp_path / "chapters" / "06_attention").mkdir(parents=True)
    (tmp_path / "chapters" / "06_attention" / "run.py").write_text("# %%\nprint(1)\n")
    assert notebooks.entry(script) != first
