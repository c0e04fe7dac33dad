"""Chapter 16: the exercise solutions (CH16_MODULE=exercises checks your own exercises.py instead), the
stubs, the walk-through's fast mode, and the recorded results the chapter's tables quote."""
import importlib.util
import inspect
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import tinygrad_llm.functional as F
from tinygrad_llm import Tensor
from tinygrad_llm.apps import instruct as ins
from tinygrad_llm.models.llama import LlamaConfig, LlamaForCausalLM
from tinygrad_llm.nn import Linear
from tinygrad_llm.nn.lora import LoRALinear, apply_lora, count_parameters

CHAPTER = pathlib.Path(__file__).resolve().parents[2] / "chapters" / "16_finetuning"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"ch16_{name}", CHAPTER / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


sol = _load(os.environ.get("CH16_MODULE", "solutions"))
EXERCISES = ["lora_parameters", "merged_weight", "training_state_bytes", "answer_mask", "first_gradients"]


def test_every_exercise_has_a_stub_with_the_solution_signature():
    stubs, solutions = _load("exercises"), _load("solutions")
    for name in EXERCISES:
        assert inspect.signature(getattr(stubs, name)) == inspect.signature(getattr(solutions, name))
        with pytest.raises(NotImplementedError):
            getattr(stubs, name)(*[None] * len(inspect.signature(getattr(stubs, name)).parameters))


def test_lora_parameter_count_matches_apply_lora():
    cfg = LlamaConfig(vocab_size=40, hidden_size=24, intermediate_size=36, num_hidden_layers=2, num_attention_heads=6,
                      num_key_value_heads=2, max_position_embeddings=16)
    m = LlamaForCausalLM(cfg)
    apply_lora(m, ins.ALL_LINEAR, r=4)
    shapes = _load("solutions").smollm2_linear_shapes(layers=2, C=24, kv=8, I=36)
    assert sol.lora_parameters(shapes, 4) == count_parameters(m)[0]
    smol = _load("solutions").smollm2_linear_shapes()
    assert sol.lora_parameters(smol, 8) == 2_442_240                   # 1.8 % of SmolLM2's 134.5 M


def test_merged_weight_gives_the_adapted_outputs():
    layer = LoRALinear(Linear(5, 3), r=2, alpha=3.0)
    layer.lora_B.weight.data = np.random.default_rng(0).standard_normal((3, 2)).astype(np.float32)
    x = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)
    W2 = sol.merged_weight(layer.weight.numpy(), layer.lora_A.weight.numpy(), layer.lora_B.weight.numpy(), 3.0, 2)
    np.testing.assert_allclose(x @ W2.T + layer.bias.numpy(), layer(x).numpy(), rtol=1e-5, atol=1e-6)


def test_training_state_bytes():
    assert sol.training_state_bytes(100, 100) == 1600 and sol.training_state_bytes(100, 0) == 400
    full, lora = sol.training_state_bytes(134_515_008, 134_515_008), sol.training_state_bytes(136_957_248, 2_442_240)
    assert round(full / 2**30, 2) == 2.0 and round(lora / 2**20) == 550


def test_answer_mask_equals_the_batch_builder():
    enc = [(list(range(7)), 4), (list(range(3)), 1), (list(range(5)), 2)]
    np.testing.assert_array_equal(sol.answer_mask([7, 3, 5], [4, 1, 2]), ins.answer_batch(enc)[1])


def test_first_gradients_match_autograd_and_b_zero_freezes_a():
    rng = np.random.default_rng(2)
    x, g, A, B = rng.standard_normal((6, 5)), rng.standard_normal((6, 3)), rng.standard_normal((2, 5)), rng.standard_normal((3, 2))
    At, Bt = Tensor(A, requires_grad=True), Tensor(B, requires_grad=True)
    F.lora_linear(Tensor(x), Tensor(np.zeros((3, 5))), At, Bt, 1.5).backward(Tensor(g))
    dA, dB = sol.first_gradients(x, g, A, B, 1.5)
    np.testing.assert_allclose(dA, At.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(dB, Bt.grad.numpy(), rtol=1e-10)
    dA0, dB0 = sol.first_gradients(x, g, A, np.zeros_like(B), 1.5)
    assert np.abs(dA0).max() == 0 and np.abs(dB0).max() > 0


def test_run_fast(tmp_path):
    r = subprocess.run([sys.executable, str(CHAPTER / "run.py"), "--fast", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
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


def test_recorded_fine_tuning_beats_both_baselines_beyond_their_spread():
    res = _recorded("question/results.json")
    if "summary" not in res:
        pytest.skip("the recorded classification run has not finished")
    S = res["summary"]
    for n in S["tuned"]:
        ft_mean, ft_std, runs = S["tuned"][n]["accuracy"]
        assert runs >= 3
        for base in ("naive_bayes", "frozen_lr"):
            b_mean, b_std, _ = S[base][n]["accuracy"]
            assert ft_mean - ft_std > b_mean + b_std, (n, base)
    readme = (CHAPTER / "README.md").read_text()
    for m in S:                                            # the chapter quotes the recorded numbers
        for n, v in S[m].items():
            assert f"{v['accuracy'][0]:.3f} ± {v['accuracy'][1]:.3f}" in readme, (m, n)


def test_recorded_instruction_tuning_beats_the_untuned_model_beyond_the_seed_spread():
    runs = [_recorded(f"instruct/seed{s}.json") for s in (0, 1)]
    before = runs[0]["before"]["scores"]["exact_match"]
    after = [r["after"]["scores"]["exact_match"] for r in runs]
    assert all(r["before"]["scores"]["exact_match"] == before for r in runs)
    assert min(after) - before > max(after) - min(after)
    assert all(r["total_seconds"] < 15 * 60 or r["seed"] != 0 for r in runs)
