import importlib.util
import inspect
import json
import pathlib
import subprocess
import sys

CHAPTER = pathlib.Path(__file__).resolve().parents[2] / "chapters" / "15_vision_language"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"ch15_{name}", CHAPTER / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


exercises, solutions, tables = _load("exercises"), _load("solutions"), _load("tables")
NAMES = ["patch_embed_loops", "pixel_unshuffle_tokens", "info_nce_and_dt", "image_tokens", "chance_recall"]


def test_solutions_pass_the_exercise_checks():
    assert set(exercises.check(solutions).values()) == {"ok"}


def test_stubs_are_left_for_the_learner_with_the_solutions_signatures():
    assert set(exercises.check(exercises).values()) == {"not done"}
    for name in NAMES:
        assert inspect.signature(getattr(exercises, name)).parameters.keys() == \
            inspect.signature(getattr(solutions, name)).parameters.keys()


def test_the_checks_catch_a_wrong_answer():
    class Wrong:
        def __getattr__(self, name):
            return getattr(solutions, name)

        @staticmethod
        def pixel_unshuffle_tokens(y, r):                      # forgets to swap the middle axes back
            B, M, RD = y.shape
            return y.reshape(B, M * r * r, RD // (r * r))

        @staticmethod
        def chance_recall(N, m, k):
            return k * m / N                                   # the union bound, not the probability
    res = exercises.check(Wrong())
    assert res["2 pixel_unshuffle_tokens"].startswith("wrong") and res["5 chance_recall"].startswith("wrong")
    assert res["1 patch_embed_loops"] == "ok"


def test_readme_tables_are_the_recorded_results():
    """Every table of README.md is rendered from results.json by tables.py: the text quotes the run."""
    res = json.loads((CHAPTER / "results.json").read_text())
    assert res["fast"] is False
    readme = (CHAPTER / "README.md").read_text()
    for name, table in tables.all_tables(res).items():
        assert f"<!-- table: {name} -->\n{table}\n" in readme, f"README table {name!r} differs from results.json"
    for run in res["runs"].values():
        for stage in run["stages"]:
            assert stage["seconds"] <= 300, f"{stage['name']} took {stage['seconds']:.0f} s (budget 300 s)"


def test_readme_prose_numbers_are_the_recorded_results():
    """The numbers the results sections write in sentences are numbers of results.json, and they exist."""
    res = json.loads((CHAPTER / "results.json").read_text())
    readme = (CHAPTER / "README.md").read_text()
    assert len(tables.CHECKED.findall(readme)) >= 3 and len(tables.prose_numbers(readme)) >= 10
    assert tables.unrecorded_numbers(readme, res) == []
    for placeholder in ("RESULTS", "ATTENTION", "SMOLLM", "\nPNG\n"):
        assert placeholder not in readme


def test_the_prose_check_catches_a_number_the_run_did_not_give():
    res = {"eval": {"test": {"caption_exact": 0.255, "caption_bleu": 58.14}}, "steps": 1200}
    text = ("<!-- numbers from results.json -->\nExact match 25.5 % (BLEU 58.1) after 1,200 steps, "
            "on two cores; R@1 and SmolLM2-135M are names, $x_{12}$ a formula.\n| 77.7 | a table |\n<!-- end numbers -->")
    assert tables.prose_numbers(text) == ["25.5", "58.1", "1,200"]
    assert tables.unrecorded_numbers(text, res) == []
    assert tables.unrecorded_numbers(text.replace("58.1", "58.4"), res) == ["58.4"]
    assert tables.unrecorded_numbers(text + "\n99.9 outside the markers is not checked", res) == []


def test_walkthrough_runs_fast(tmp_path):
    r = subprocess.run([sys.executable, str(CHAPTER / "run.py"), "--fast", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    for name in ("scenes.png", "patches.png", "training.png", "attention.png", "scene.png", "drawn.png"):
        assert (tmp_path / name).is_file(), name
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["fast"] is True and set(res["eval"]) == {"vlm", "vlm_no_clip"}
    for split in ("test", "unseen"):
        e = res["eval"]["vlm"][split]
        assert 0 <= e["caption_exact"] <= 1 and set(e["qa"]) >= {"shape", "colour", "count"}
        assert e["retrieval"]["chance_image_to_text"]["R@1"] > 0
    tables.all_tables(res)                                       # the fast results render too
    assert "image tokens" in r.stdout and "drawn.png" in r.stdout
