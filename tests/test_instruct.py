"""Instruction tuning: the instruction set (held-out parts disjoint, deterministic), answer-only batches,
teacher-forced exact match = greedy decoding, a LoRA run of the fast mode with its adapter reloaded."""
import json

import numpy as np
import pytest

import tinygrad_llm.functional as F
from tinygrad_llm.apps import instruct as ins
from tinygrad_llm.data import load_plays
from tinygrad_llm.io.adapters import load_adapter, model_identity
from tinygrad_llm.nn.lora import apply_lora, lora_modules


@pytest.fixture(scope="module")
def plays():
    return {t: x for t, x in load_plays(include_poems=False).items() if t in ins.FAST_PLAYS}


def test_instructions_are_deterministic_and_held_out(plays):
    train, test = ins.build_instructions(12, 5, plays, seed=0)
    assert (train, test) == ins.build_instructions(12, 5, plays, seed=0)
    assert len(train) == 36 and len(test) == 15 and {e["task"] for e in test} == set(ins.TASKS)
    assert not {e["instruction"] for e in train} & {e["instruction"] for e in test}
    dates = lambda rows: {e["answer"] for e in rows if e["task"] == "date"}   # noqa: E731
    assert not dates(train) & dates(test)
    lines = lambda rows: {e["instruction"].split("\n")[-1] for e in rows if e["task"] == "play"}   # noqa: E731
    assert not lines(train) & lines(test)
    for e in train + test:
        if e["task"] != "date":                                   # the answer is one of the options offered
            options = e["instruction"].split(": ", 1)[1] if e["task"] == "play" else e["instruction"].rsplit("next: ", 1)[1]
            options = options.split("? Answer")[0]
            assert e["answer"] in options and options.count(" or ") == 1
        else:
            assert len(e["answer"]) == 10 and e["answer"][4] == "-" == e["answer"][7]


def test_answer_batch_marks_the_positions_before_each_answer_token():
    ids, mask, targets = ins.answer_batch([([5, 6, 7, 8, 9], 3), ([1, 2, 3], 2)], pad_id=0)
    assert ids.tolist() == [[5, 6, 7, 8, 9], [1, 2, 3, 0, 0]]
    assert mask.tolist() == [[0, 0, 1, 1, 0], [0, 1, 0, 0, 0]]      # position t predicts token t + 1
    assert targets.tolist() == [8, 9, 3]


def test_teacher_forced_exact_match_is_greedy_decoding():
    tok = ins.byte_tokenizer()
    model = ins.tiny_llama(tok.vocab_size, seed=3)
    rng = np.random.default_rng(0)
    encoded = []
    for n in (5, 9, 7):
        prompt = rng.integers(0, 256, size=n)
        out = model.generate(prompt[None], 4, eos_token_id=None)[0]          # the greedy continuation
        encoded.append((out.tolist(), n))
    hits, guesses, _, _ = ins.teacher_forced(model, encoded, batch_size=2)
    assert hits == [True, True, True] and [g for g in guesses] == [e[0][e[1]:] for e in encoded]
    wrong = [(ids[:-1] + [(ids[-1] + 1) % 256], n) for ids, n in encoded]    # change the last answer token
    assert ins.teacher_forced(model, wrong)[0] == [False, False, False]


def test_loss_counts_answer_tokens_only():
    tok = ins.byte_tokenizer()
    model = ins.tiny_llama(tok.vocab_size)
    ex = [{"task": "date", "instruction": "Write 1 May 2000 in ISO form.", "answer": "2000-05-01"}]
    task = ins.InstructionTask(tok, ex, batch_size=1)
    ids, n_prompt = task.encoded[0]
    assert ids[n_prompt:] == tok.encode("2000-05-01") + [tok.token_to_id("<|im_end|>")]
    full = model(np.array([ids])).data[0]                                   # (T, V), every position
    logp = full - np.log(np.exp(full - full.max(-1, keepdims=True)).sum(-1, keepdims=True)) - full.max(-1, keepdims=True)
    want = -np.mean([logp[t - 1, ids[t]] for t in range(n_prompt, len(ids))])
    assert abs(task.loss(model, 0).item() - want) < 1e-5


def test_fast_run_trains_adapters_and_they_reload(tmp_path):
    res = ins.run(out=tmp_path, steps=3, batch_size=2, n_train_per_task=4, n_test_per_task=2, fast=True, lr=1e-2,
                  log=None, max_new_tokens=4)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["parameters"]["trainable"] < saved["parameters"]["total"]
    assert saved["train"]["steps"] == 3 and saved["train"]["step_peak_bytes"] > 0
    assert set(saved["before"]["scores"]) == {"exact_match", "date", "play", "speaker", "answer_loss"}
    model, tok = res["model_object"], res["tokenizer"]
    fresh = ins.tiny_llama(tok.vocab_size, seed=0)
    load_adapter(fresh, tmp_path / "adapter", model_identity(fresh, "tiny-llama"))
    train, test = ins.build_instructions(4, 2, {t: x for t, x in load_plays(False).items() if t in ins.FAST_PLAYS})
    assert ins.exact_match(fresh, tok, test)["scores"] == ins.exact_match(model, tok, test)["scores"]
    assert len(lora_modules(fresh)) == 2 * len(ins.ALL_LINEAR)


def test_cli_instruct_fast_then_adapter_errors_are_one_line(tmp_path, capsys):
    from tinygrad_llm import cli
    out = tmp_path / "run"
    assert cli.main(["finetune", "--task", "instruct", "--lora", "--fast", "--quiet", "--out", str(out)]) == 0
    assert "held-out exact match" in capsys.readouterr().out
    assert (out / "adapter" / "adapter_config.json").is_file() and (out / "adapter" / "adapter.safetensors").is_file()
    cases = [(["finetune", "--task", "instruct", "--out", str(tmp_path / "x")], "only LoRA is supported"),
             (["generate", "--pretrained", "smollm2", "--adapter", str(out), "--prompt", "hi"],
              "was trained on 'tiny-llama' (LlamaForCausalLM), not on 'smollm2'"),      # before the model loads
             (["generate", "--pretrained", "smollm2", "--adapter", str(tmp_path / "nothing"), "--prompt", "hi"],
              "expected adapter_config.json and adapter.safetensors"),
             (["generate", "--adapter", str(out), "--prompt", "hi"], "--adapter needs --pretrained")]
    for argv, message in cases:
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err


def test_lenient_scoring_reads_the_first_option_named():
    ex = {"task": "play", "answer": "King Henry VI, Part 2",
          "options": ["King Henry VI, Part 2", "King Henry VI, Part 3", "Twelfth Night"]}
    assert ins.lenient_correct(ex, "This line is from King Henry VI, Part 2, a history.")
    assert not ins.lenient_correct(ex, "Twelfth Night, surely; not King Henry VI, Part 2.")
    assert not ins.lenient_correct(ex, "I do not know.")
    assert ins.lenient_correct({"task": "date", "answer": "2084-03-31"}, "The date is 2084-03-31.")
