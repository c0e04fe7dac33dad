"""Every exercise can be checked by the learner: each chapter ships a stub (exercises.py) with the exercise
functions of its solutions (same names and signatures, the statement as docstring, bodies raising
NotImplementedError); every exercise of the text has a solution; every solution is used by a test; and the
stubs, run through those same tests with ``--answers``, fail there with NotImplementedError (so the tests
really call the learner's code). That the solutions pass is the rest of the suite."""
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from chapter_helpers import ROOT
from exercise_stubs import chapters_with_solutions, exercise_functions, readme_exercises, stub, exercise_tests_for

CHAPTERS = chapters_with_solutions()


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_stub_has_the_solutions_functions(chapter):
    assert (chapter / "exercises.py").is_file(), f"run: python tests/chapters/exercise_stubs.py --write"
    assert exercise_functions(chapter / "exercises.py") == exercise_functions(chapter / "solutions.py")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_every_exercise_has_a_tested_solution(chapter):
    functions = exercise_functions(chapter / "solutions.py")
    assert set(readme_exercises(chapter)) == {n for n, _ in functions.values()}, "an exercise without a solution"
    tests = (ROOT / exercise_tests_for(chapter)).read_text()
    tested = {name for name in functions if re.search(rf"\bsol\.{name}\b", tests)}
    untested = [name for name, (_, sig) in functions.items() if name not in tested and not sig.startswith("class")]
    assert not untested, f"no test calls {untested}"
    readme = (chapter / "README.md").read_text()
    assert f"--answers chapters/{chapter.name}/exercises.py" in readme, "the README does not say how to check"


def test_the_stubs_fail_every_exercise_test_with_not_implemented(tmp_path):
    answers = []
    for chapter in CHAPTERS:
        (tmp_path / chapter.name).mkdir()
        (tmp_path / chapter.name / "exercises.py").write_text(stub(chapter))   # fresh stubs: yours may be solved
        answers += ["--answers", str(tmp_path / chapter.name / "exercises.py")]
    files = sorted({exercise_tests_for(c) for c in CHAPTERS})
    report = tmp_path / "report.xml"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        f"--junitxml={report}", *answers, *files], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=900)
    assert report.is_file(), r.stdout[-3000:] + r.stderr[-3000:]
    cases = ET.parse(report).getroot().iter("testcase")
    outcome = {}
    for case in cases:
        failure = case.find("failure")
        error = case.find("error")
        skipped = case.find("skipped")
        text = "" if failure is None and error is None else (failure if failure is not None else error).get("message", "") + \
            ((failure if failure is not None else error).text or "")
        outcome[f"{case.get('classname')}::{case.get('name')}"] = (
            "skipped" if skipped is not None else "passed" if not text else
            "not implemented" if "NotImplementedError" in text else "failed")
    assert outcome, r.stdout[-3000:]
    wrong = {k: v for k, v in outcome.items() if v not in ("not implemented", "skipped")}
    assert not wrong, f"exercise tests that did not stop at NotImplementedError with the stubs: {wrong}"
    for chapter in CHAPTERS:
        module = exercise_tests_for(chapter).replace("/", ".")[:-3]
        assert any(k.startswith(module) and v == "not implemented" for k, v in outcome.items()), chapter.name
