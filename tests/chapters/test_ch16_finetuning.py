"""Chapter 16: the exercise solutions (``pytest --answers chapters/16_finetuning/exercises.py`` checks yours), the
stubs, the walk-through's fast mode, and the recorded results the chapter's tables quote."""
import inspect
import json
import pathlib

import numpy as np
import pytest

import tinygrad_llm.functional as F
from tinygrad_llm import Tensor
from tinygrad_llm.apps import instruct as ins
from tinygrad_llm.models.llama import LlamaConfig, LlamaForCausalLM
from tinygrad_llm.nn import Linear
from tinygrad_llm.nn.lora import LoRALinear, apply_lora, count_parameters

from chapter_helpers import load_module

CHAPTER = pathlib.Path(__file__).resolve().parents[2] / "chapters" / "16_finetuning"


def _load(name):
    return load_module(CHAPTER / f"{name}.py", f"ch16_{name}")


EXERCISES = ["lora_parameters", "merged_weight", "training_state_bytes", "answer_mask", "first_gradients"]


def test_every_exercise_has_a_stub_with_the_solution_signature():
    stubs, solutions = _load("exercises"), _load("solutions")
    for name in EXERCISES:
        assert inspect.signature(getattr(stubs, name)) == inspect.signature(getattr(solutions, name))
        with pytest.raises(NotImplementedError):
            getattr(stubs, name)(*[None] * len(inspect.signature(getattr(stubs, name)).parameters))


def test_lora_parameter_count_matches_apply_lora(sol):
    cfg = LlamaConfig(vocab_size=40, hidden_size=24, intermediate_size=36, num_hidden_layers=2, num_attention_heads=6,
                      num_key_value_heads=2, max_position_embeddings=16)
    m = LlamaForCausalLM(cfg)
    apply_lora(m, ins.ALL_LINEAR, r=4)
    shapes = _load("solutions")._smollm2_linear_shapes(layers=2, C=24, kv=8, I=36)
    assert sol.lora_parameters(shapes, 4) == count_parameters(m)[0]
    smol = _load("solutions")._smollm2_linear_shapes()
    assert sol.lora_parameters(smol, 8) == 2_442_240                   # 1.8 % of SmolLM2's 134.5 M


def test_merged_weight_gives_the_adapted_outputs(sol):
    layer = LoRALinear(Linear(5, 3), r=2, alpha=3.0)
    layer.lora_B.weight.data = np.random.default_rng(0).standard_normal((3, 2)).astype(np.float32)
    x = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)
    W2 = sol.merged_weight(layer.weight.numpy(), layer.lora_A.weight.numpy(), layer.lora_B.weight.numpy(), 3.0, 2)
    np.testing.assert_allclose(x @ W2.T + layer.bias.numpy(), layer(x).numpy(), rtol=1e-5, atol=1e-6)


def test_training_state_bytes(sol):
    assert sol.training_state_bytes(100, 100) == 1600 and sol.training_state_bytes(100, 0) == 400
    full, lora = sol.training_state_bytes(134_515_008, 134_515_008), sol.training_state_bytes(136_957_248, 2_442_240)
    assert round(full / 2**30, 2) == 2.0 and round(lora / 2**20) == 550


def test_answer_mask_equals_the_batch_builder(sol):
    enc = [(list(range(7)), 4), (list(range(3)), 1), (list(range(5)), 2)]
    np.testing.assert_array_equal(sol.answer_mask([7, 3, 5], [4, 1, 2]), ins.answer_batch(enc)[1])


def test_first_gradients_match_autograd_and_b_zero_freezes_a(sol):
    rng = np.random.default_rng(2)
    x, g, A, B = rng.standard_normal((6, 5)), rng.standard_normal((6, 3)), rng.standard_normal((2, 5)), rng.standard_normal((3, 2))
    At, Bt = Tensor(A, requires_grad=True), Tensor(B, requires_grad=True)
    F.lora_linear(Tensor(x), Tensor(np.zeros((3, 5))), At, Bt, 1.5).backward(Tensor(g))
    dA, dB = sol.first_gradients(x, g, A, B, 1.5)
    np.testing.assert_allclose(dA, At.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(dB, Bt.grad.numpy(), rtol=1e-10)
    dA0, dB0 = sol.first_gradients(x, g, A, np.zeros_like(B), 1.5)
    assert np.abs(dA0).max() == 0 and np.abs(dB0).max() > 0


def test_run_fast(notebook):
    r = notebook(f"{CHAPTER.name}/run.py")
    tmp_path = r.out
    for fig in ("learning_curves.png", "instruct.png"):
        assert (tmp_path / fig).stat().st_size > 0
    assert "| naive Bayes, bag of words |" in r.stdout and "unmerged weight equal bit for bit: True" in r.stdout
    assert (tmp_path / "results" / "instruct" / "seed0.json").is_file()


# ----------------------------------------------------------------------------- the recorded runs
def _recorded(name):
    path = CHAPTER / "results" / name
    if not path.is_file():
        pytest.skip(f"no recorded run {path} (python chapters/16_finetuning/run.py writes it)")
    return json.loads(path.read_text())


def cell(v) -> str:
    """How the chapter writes a (mean, std, runs) summary: ``mean ± std`` over seeds, or one seed's number."""
    return f"{v[0]:.3f} ± {v[1]:.3f}" if v[2] > 1 else f"{v[0]:.3f} (seed 0)"


def test_recorded_fine_tuning_beats_both_baselines_beyond_their_spread():
    res = _recorded("question/results.json")
    if "summary" not in res:
        pytest.skip("the recorded classification run has not finished")
    S = res["summary"]
    three = [n for n in S["tuned"] if S["tuned"][n]["accuracy"][2] >= 3]
    assert str(max(res["settings"]["sizes"])) in three                  # at least the full training set
    for n in three:
        ft_mean, ft_std, _ = S["tuned"][n]["accuracy"]
        for base in ("naive_bayes", "frozen_lr"):
            b_mean, b_std, runs = S[base][n]["accuracy"]
            assert runs >= 3 and ft_mean - ft_std > b_mean + b_std, (n, base)
    readme = (CHAPTER / "README.md").read_text()
    for m in S:                                            # the chapter quotes the recorded numbers
        for n, v in S[m].items():
            assert cell(v["accuracy"]) in readme, (m, n, cell(v["accuracy"]))
    memory = readme.split("## Memory and time")[1]
    for m in ("tuned", "lora"):
        rows = [r for r in res["rows"] if r["method"] == m and r["n_train"] == max(res["settings"]["sizes"])]
        for text in (f"{rows[0]['trainable_parameters']:,}",
                     f"{np.median([r['step_seconds_median'] for r in rows]):.1f} s",
                     f"{np.median([r['step_peak_bytes'] for r in rows]) / 2**20:.0f} MiB"):
            assert text in memory, (m, text)


def _instruct_runs():
    return [_recorded(f"instruct/seed{s}.json") for s in (0, 1)]


def test_recorded_instruction_tuning_beats_the_untuned_model_beyond_the_seed_spread():
    runs = _instruct_runs()
    before = runs[0]["before"]["scores"]["exact_match"]
    after = [r["after"]["scores"]["exact_match"] for r in runs]
    assert all(r["before"]["scores"]["exact_match"] == before for r in runs)   # the untuned model: no seed in it
    assert min(after) - before > max(after) - min(after)
    # the whole run (loading, both evaluations, training) takes under 15 minutes of one core of this machine
    assert all(r["cpu_seconds"] < 15 * 60 for r in runs)


def test_the_chapter_quotes_the_recorded_instruction_tuning():
    runs = _instruct_runs()
    readme = (CHAPTER / "README.md").read_text()
    cols = ["exact_match", *ins.TASKS, "answer_loss"]
    after = np.array([[r["after"]["scores"][c] for c in cols] for r in runs])
    row_before = "| untuned | " + " | ".join(f"{runs[0]['before']['scores'][c]:.3f}" for c in cols) + " |"
    row_after = f"| LoRA, {len(runs)} seeds (mean, max - min) | " + " | ".join(
        f"{m:.3f} ({s:.3f})" for m, s in zip(after.mean(0), after.max(0) - after.min(0))) + " |"
    assert row_before in readme and row_after in readme
    t = runs[0]["train"]
    for text in (f"{runs[0]['parameters']['trainable']:,}", f"{t['step_seconds_median']:.1f} s",
                 f"{t['rss_peak_bytes'] / 2**30:.2f} GiB", f"{t['step_peak_bytes'] / 2**20:.0f} MiB",
                 f"{runs[0]['cpu_seconds'] / 60:.1f} min", f"seed 1 {runs[1]['cpu_seconds'] / 60:.1f} minutes",
                 f"{runs[0]['total_seconds'] / 60:.0f} minutes on the clock"):
        assert text in readme, text


def test_the_chapter_counts_minilm_lora_parameters_as_apply_lora_does():
    from tinygrad_llm.apps import finetune as ft
    from tinygrad_llm.models.bert import BertConfig, BertModel
    bert = BertModel(BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                                intermediate_size=1536, max_position_embeddings=512))     # all-MiniLM-L6-v2's sizes
    m = ft.MeanPoolClassifier(bert, 2)
    full = count_parameters(m)[0]
    R = ft.RECIPES["lora"]
    apply_lora(m, R["targets"], R["r"], R["alpha"], also_train=["classifier"])
    lora = count_parameters(m)[0]
    row = (CHAPTER / "README.md").read_text().split("| LoRA | a low-rank update")[1].split("\n")[0]
    assert f"{lora / 1e6:.2f} M ({100 * lora / full:.1f} %)" in row
