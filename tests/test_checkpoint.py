"""Checkpoints: round trip, bit-identical resume of a killed run, corrupt/truncated files, atomic writes."""
import json
import os

import numpy as np
import pytest

from tinygrad_llm import backend
from tinygrad_llm.apps.lm import lm_trainer
from tinygrad_llm.apps.trainer import TrainConfig
from tinygrad_llm.io.checkpoint import CheckpointError, load_checkpoint, restore, save_checkpoint
from tinygrad_llm.models import registry
from tinygrad_llm.models.gpt import GPT, GPTConfig
from tinygrad_llm.models.lstm_lm import LSTMConfig, LSTMLM
from tinygrad_llm.tokenizers import CharTokenizer

TEXT = "to be or not to be, that is the question: whether 'tis nobler in the mind to suffer\n" * 6


def data():
    tok = CharTokenizer.train(TEXT)
    ids = np.array(tok.encode(TEXT))
    return tok, ids[:400], ids[400:]


def make(model_type, seed=0):
    tok, _, _ = data()
    backend.manual_seed(seed)
    if model_type == "gpt":
        return GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=16, dropout=0.1))
    return LSTMLM(LSTMConfig(vocab_size=tok.vocab_size, n_embd=8, hidden_size=16, block_size=8, dropout=0.1))


def trainer(model, out_dir, steps=12):
    tok, tr, va = data()
    cfg = TrainConfig(steps=steps, batch_size=4, lr=3e-3, warmup_steps=3, eval_interval=100, eval_batches=2,
                      checkpoint_interval=5, out_dir=str(out_dir), progress=False, seed=3)
    return lm_trainer(model, tr, va, cfg, tokenizer=tok)


class Killed(Exception):
    pass


@pytest.mark.parametrize("model_type", ["gpt", "lstm"])
def test_killed_and_resumed_run_is_bit_identical(tmp_path, model_type):
    full = trainer(make(model_type), tmp_path / "full")
    full.fit()

    def kill(tr, loss):
        if tr.step == 8:                               # dies 3 steps after the checkpoint at step 5
            raise Killed
    crashed = trainer(make(model_type), tmp_path / "crash")
    with pytest.raises(Killed):
        crashed.fit(callback=kill)
    assert load_checkpoint(tmp_path / "crash" / "checkpoint.npz").step == 5
    resumed = trainer(make(model_type, seed=99), tmp_path / "crash")   # a different init: all must come from the file
    resumed.resume(tmp_path / "crash" / "checkpoint.npz")
    resumed.fit()
    assert resumed.step == full.step == 12
    for (n, a), (_, b) in zip(full.model.named_parameters(), resumed.model.named_parameters()):
        assert np.array_equal(a.data, b.data), n
    assert [r["loss"] for r in full.history["train"]] == [r["loss"] for r in resumed.history["train"]]


def test_round_trip_everything(tmp_path):
    tok, tr, va = data()
    t = trainer(make("gpt"), tmp_path)
    for _ in range(3):
        t.train_step()
    rng_before = backend.get_rng_state()
    path = t.save()
    ck = load_checkpoint(path)
    assert ck.step == 3 and ck.model_type == "gpt" and ck.config["n_embd"] == 16
    assert ck.rng_state == json.loads(json.dumps(rng_before))
    model, tok2 = registry.from_checkpoint(ck)
    assert tok2.encode("to be") == tok.encode("to be")
    for (n, a), (_, b) in zip(t.model.named_parameters(), model.named_parameters()):
        assert np.array_equal(a.data, b.data), n
    sd_a, sd_b = t.optimizer.state_dict(), ck.optimizer_state
    for i, st in sd_a["state"].items():
        assert st["step"] == sd_b["state"][i]["step"]
        assert np.array_equal(st["exp_avg_sq"], sd_b["state"][i]["exp_avg_sq"])
    assert ck.scheduler_state["last_step"] == 3


def test_loads_without_pickle(tmp_path):
    path = save_checkpoint(tmp_path / "c.npz", make("gpt"))
    with np.load(path, allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)


def _corrupt_variants(path):
    raw = path.read_bytes()
    yield "truncated", raw[: len(raw) // 2]
    yield "empty", b""
    flipped = bytearray(raw)
    flipped[len(raw) // 3] ^= 0xFF
    yield "flipped byte", bytes(flipped)
    yield "not a zip", b"hello world" * 10


@pytest.mark.parametrize("variant", ["truncated", "empty", "flipped byte", "not a zip"])
def test_corrupt_checkpoint_errors_name_the_file_and_load_nothing(tmp_path, variant):
    model = make("gpt")
    path = save_checkpoint(tmp_path / "good.npz", model)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(dict(_corrupt_variants(path))[variant])
    with pytest.raises(CheckpointError, match="bad.npz"):
        load_checkpoint(bad)


def test_missing_file_and_mismatched_model_leave_model_untouched(tmp_path):
    with pytest.raises(CheckpointError, match="nope.npz"):
        load_checkpoint(tmp_path / "nope.npz")
    big = GPT(GPTConfig(vocab_size=30, block_size=16, n_layer=1, n_head=2, n_embd=32))
    ck = load_checkpoint(save_checkpoint(tmp_path / "big.npz", big))
    small = make("gpt")
    before = {k: v.copy() for k, v in small.state_dict().items()}
    with pytest.raises(CheckpointError, match="big.npz"):
        restore(ck, small)
    for k, v in small.state_dict().items():
        assert np.array_equal(v, before[k])


def test_optimizer_mismatch_rolls_back_the_model(tmp_path):
    t = trainer(make("gpt"), tmp_path)
    t.train_step()
    path = t.save()
    ck = load_checkpoint(path)
    other = trainer(make("gpt", seed=5), tmp_path / "o")
    before = {k: v.copy() for k, v in other.model.state_dict().items()}
    ck.optimizer_state["groups"] = ck.optimizer_state["groups"][:1]     # does not fit: 1 group instead of 2
    with pytest.raises(CheckpointError):
        restore(ck, other.model, other.optimizer)
    for k, v in other.model.state_dict().items():
        assert np.array_equal(v, before[k])


def test_atomic_write_keeps_the_old_file_when_saving_fails(tmp_path, monkeypatch):
    model = make("gpt")
    path = save_checkpoint(tmp_path / "c.npz", model, step=1)

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        save_checkpoint(path, model, step=2)
    assert load_checkpoint(path).step == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]          # no temp file left behind
