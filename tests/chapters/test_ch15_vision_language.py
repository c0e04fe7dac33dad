import json
import pathlib
import subprocess
import sys

import numpy as np

from chapter_helpers import load_module

CHAPTER = pathlib.Path(__file__).resolve().parents[2] / "chapters" / "15_vision_language"


def _load(name):
    return load_module(CHAPTER / f"{name}.py", f"ch15_{name}")


solutions, tables = _load("solutions"), _load("tables")


# ----------------------------------------------------------------------------- exercises (the `sol` fixture:
# the chapter's solutions.py, or a learner's answers with --answers chapters/15_vision_language/exercises.py)
def test_exercise_1_patch_embedding_with_loops(sol):
    import tinygrad_llm.functional  # noqa: F401
    from tinygrad_llm import Tensor, backend, nn
    rng = np.random.default_rng(0)
    with backend.default_dtype(np.float64):
        layer = nn.PatchEmbedding(3, 5, 4)
    x = rng.standard_normal((2, 3, 8, 12))
    want = layer(Tensor(x)).numpy()
    got = sol.patch_embed_loops(x, layer.weight.numpy(), layer.bias.numpy())
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_exercise_2_pixel_unshuffle_is_the_backward(sol):
    import tinygrad_llm.functional as F
    from tinygrad_llm import Tensor
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 36, 5))
    for r in (1, 2, 3):
        y = F.pixel_shuffle(Tensor(x), r).numpy()
        np.testing.assert_array_equal(sol.pixel_unshuffle_tokens(y, r), x)
    xt = Tensor(x, requires_grad=True)
    g = rng.standard_normal((2, 9, 20))
    F.pixel_shuffle(xt, 2).backward(Tensor(g))
    np.testing.assert_array_equal(xt.grad.numpy(), sol.pixel_unshuffle_tokens(g, 2))


def test_exercise_3_info_nce_and_its_temperature_gradient(sol):
    import tinygrad_llm.functional as F
    from tinygrad_llm import Tensor
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    t = Tensor(np.array(0.8), requires_grad=True)
    loss = F.info_nce(Tensor(x), Tensor(y), t)
    loss.backward()
    got_loss, got_dt = sol.info_nce_and_dt(x, y, 0.8)
    np.testing.assert_allclose([got_loss, got_dt], [loss.item(), float(t.grad.numpy())], rtol=1e-9)


def test_exercise_4_image_tokens(sol):
    from tinygrad_llm.models.vlm import VLMConfig
    for size, p, r in [(32, 4, 2), (32, 4, 1), (64, 8, 4), (512, 16, 4)]:
        assert sol.image_tokens(size, p, r) == VLMConfig(image_size=size, patch_size=p, shuffle_factor=r,
                                                        block_size=20000).image_tokens


def test_exercise_5_chance_recall_by_simulation(sol):
    rng = np.random.default_rng(0)
    for N, m, k in [(10, 1, 1), (10, 3, 5), (50, 2, 5), (7, 7, 1)]:
        draws = np.array([rng.permutation(N)[:k] for _ in range(20000)])
        est = (draws < m).any(axis=1).mean()
        assert abs(sol.chance_recall(N, m, k) - est) < 0.015, (N, m, k)


def test_the_union_bound_is_not_chance_recall():
    """The simulation check can fail: the union bound k m / N is off where it matters."""
    assert abs(3 * 5 / 10 - solutions.chance_recall(10, 3, 5)) > 0.015


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
