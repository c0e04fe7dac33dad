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
    with pytest.raises(CheckpointError, match="c.npz.*disk full"):
        save_checkpoint(path, model, step=2)
    assert load_checkpoint(path).step == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]          # no temp file left behind


# ----------------------------------------------------------------------------- verify before trusting
import io  # noqa: E402
import zipfile  # noqa: E402

import hostile  # noqa: E402
from tinygrad_llm.io import checkpoint as ckmod  # noqa: E402


@pytest.fixture
def saved(tmp_path):
    """A trained GPT checkpoint with optimizer, scheduler and tokenizer."""
    t = trainer(make("gpt"), tmp_path / "run")
    t.train_step()
    return t.save()


def _edit_json(meta):
    """Metadata edits an editor could make without touching any array."""
    yield "tokenizer", lambda m: m["tokenizer"]["chars"].reverse()
    yield "step", lambda m: m.update(step=m["step"] + 1000)
    yield "learning rate", lambda m: m["optimizer"]["groups"][0].update(lr=1.0)
    yield "history", lambda m: m["metadata"]["history"]["eval"].append({"step": 1, "loss": 0.1})
    yield "config dropout", lambda m: m["config"].update(dropout=0.5)


@pytest.mark.parametrize("what", ["tokenizer", "step", "learning rate", "history", "config dropout"])
def test_checksum_covers_the_metadata(saved, tmp_path, what):
    edit = dict(_edit_json(None))[what]
    bad = hostile.resign(saved, tmp_path / "edited.npz", edit_meta=edit, sign=False)   # the old sha256 kept
    with pytest.raises(CheckpointError, match="edited.npz.*checksum mismatch"):
        load_checkpoint(bad)
    assert load_checkpoint(hostile.resign(saved, tmp_path / "same.npz", sign=False)).step == 1   # unchanged: loads


def test_format_1_files_are_refused_with_a_reason(saved, tmp_path):
    bad = hostile.resign(saved, tmp_path / "old.npz", edit_meta=lambda m: m.update(format="tinygrad_llm.checkpoint/1"))
    with pytest.raises(CheckpointError, match="old.npz.*older tinygrad_llm"):
        load_checkpoint(bad)


@pytest.mark.parametrize("edit, needle", [
    (lambda m: m.update(step="7"), "step"),
    (lambda m: m.update(step=-1), "step"),
    (lambda m: m.update(model_type=["gpt"]), "model_type"),
    (lambda m: m.update(config=[1, 2]), "config"),
    (lambda m: m.update(tokenizer={"chars": ["a"]}), "tokenizer"),
    (lambda m: m.update(tokenizer=[]), "tokenizer"),
    (lambda m: m.update(metadata="x"), "metadata"),
    (lambda m: m["optimizer"].update(groups={"lr": 1}), "groups"),
    (lambda m: m["optimizer"]["groups"][0].update(lr="fast"), "lr"),
    (lambda m: m["optimizer"]["groups"][0].update(params=[0]), "groups"),
    (lambda m: m["optimizer"].update(n_state="2"), "n_state"),
    (lambda m: m["optimizer"].update(n_state=99), "parameters"),
    (lambda m: m["optimizer"]["scalars"].update({"x": {"step": 1}}), "scalars"),
    (lambda m: m["optimizer"]["scalars"]["0"].update(step="1"), "scalars"),
    (lambda m: m["optimizer"]["scalars"].pop("0"), "different entries"),
    (lambda m: m["scheduler"].update(base_lrs="x"), "scheduler"),
    (lambda m: m.update(scheduler=5), "scheduler"),
])
def test_signed_metadata_of_the_wrong_type_is_a_checkpoint_error(saved, tmp_path, edit, needle):
    """A hostile file carries a valid checksum: each field is type-checked too (no TypeError/KeyError)."""
    bad = hostile.resign(saved, tmp_path / "signed.npz", edit_meta=edit)
    with pytest.raises(CheckpointError, match="signed.npz") as e:
        load_checkpoint(bad)
    assert needle in str(e.value)


@pytest.mark.parametrize("edit, needle", [
    (lambda m: m["config"].update(n_layer=10 ** 6), "implies"),
    (lambda m: m["config"].update(n_embd=2 ** 40, n_head=1), "implies"),
    (lambda m: m["config"].update(n_layer="2"), "n_layer"),
    (lambda m: m["config"].update(n_layer=1.5), "n_layer"),
    (lambda m: m["config"].update(bias=1), "bias"),
    (lambda m: m["config"].update(dropout=float("nan")), "dropout"),
    (lambda m: m["config"].update(n_head=3), "divisible"),
    (lambda m: m["config"].update(colour="red"), "unknown config keys"),
    (lambda m: m.update(model_type="bert"), "unknown model"),
    (lambda m: m["tokenizer"]["chars"].extend("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"), "tokenizer has"),
    (lambda m: m["tokenizer"].update(chars=["ab"]), "single character"),
    (lambda m: m["tokenizer"].update(chars=5), "tokenizer"),
    (lambda m: m["tokenizer"].update(type="sentencepiece"), "unknown tokenizer type"),
    (lambda m: m.update(rng_state={"bit_generator": "MT19937", "state": 5}), None),
])
def test_hostile_config_or_tokenizer_is_refused_before_building(saved, tmp_path, edit, needle):
    bad = hostile.resign(saved, tmp_path / "signed.npz", edit_meta=edit)
    ck = load_checkpoint(bad)
    if needle is None:                                  # a bad RNG state fails when restored, and rolls back
        model = make("gpt")
        before = backend.get_rng_state()
        with pytest.raises(CheckpointError, match="signed.npz"):
            restore(ck, model)
        assert backend.get_rng_state() == before
        return
    with pytest.raises(CheckpointError, match="signed.npz") as e:
        registry.from_checkpoint(ck)
    assert needle in str(e.value)


def test_arrays_that_do_not_fit_the_config_are_refused(saved, tmp_path):
    def add_array(arrays):
        arrays["model/extra.weight"] = np.zeros(3, np.float32)

    def int_weights(arrays):
        arrays["model/wte.weight"] = arrays["model/wte.weight"].astype(np.int32)

    def move_elements(arrays):                          # same total, other shapes
        arrays["model/wpe.weight"] = arrays["model/wpe.weight"].reshape(-1)
    for edit, needle in ((add_array, "implies"), (int_weights, "floating point"), (move_elements, "shape")):
        bad = hostile.resign(saved, tmp_path / "a.npz", edit_arrays=edit)
        with pytest.raises(CheckpointError, match="a.npz") as e:
            registry.from_checkpoint(load_checkpoint(bad))
        assert needle in str(e.value), edit.__name__


@pytest.mark.parametrize("name", ["gpt", "lstm"])
def test_config_formulas_count_what_the_model_allocates(name):
    rng = np.random.default_rng(0)
    spec = registry.get(name)
    for _ in range(12):
        if name == "gpt":
            h = int(rng.integers(1, 4))
            cfg = spec.config_class(vocab_size=int(rng.integers(1, 40)), block_size=int(rng.integers(1, 20)),
                                    n_layer=int(rng.integers(1, 4)), n_head=h, n_embd=h * int(rng.integers(1, 6)),
                                    bias=bool(rng.integers(0, 2)))
        else:
            cfg = spec.config_class(vocab_size=int(rng.integers(1, 40)), n_embd=int(rng.integers(1, 9)),
                                    hidden_size=int(rng.integers(1, 9)), num_layers=int(rng.integers(1, 4)))
        sd = spec.model_class(cfg).state_dict()
        assert cfg.num_parameters() == sum(v.size for v in sd.values()), cfg
        assert cfg.num_tensors() == len(sd), cfg


def test_huge_config_is_refused_without_allocating(saved, tmp_path):
    import tracemalloc
    bad = hostile.resign(saved, tmp_path / "big.npz", edit_meta=lambda m: m["config"].update(n_layer=10 ** 6))
    ck = load_checkpoint(bad)
    tracemalloc.start()
    with pytest.raises(CheckpointError, match="implies"):
        registry.from_checkpoint(ck)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2_000_000


def test_npy_header_declaring_terabytes_is_refused_before_allocating(saved, tmp_path):
    arrays, meta = hostile.read_raw(saved)
    members = {k: hostile.npy_bytes(v) for k, v in arrays.items()}
    members["meta"] = hostile.npy_bytes(np.frombuffer(json.dumps(meta).encode(), np.uint8))
    members["model/wte.weight"] = hostile.npy_bytes(header="{'descr': '<f4', 'fortran_order': False, "
                                                           "'shape': (1099511627776,), }", data=b"\0" * 64)
    bad = hostile.write_zip(tmp_path / "tb.npz", members)
    with pytest.raises(CheckpointError, match=r"tb.npz.*'model/wte.weight'.*4398046511104 bytes"):
        load_checkpoint(bad)


def test_zip_bomb_is_refused_before_decompressing(tmp_path):
    import tracemalloc
    members = {"meta": hostile.npy_bytes(np.zeros(3, np.uint8)),
               "model/w": hostile.npy_bytes(np.zeros(50_000_000, np.uint8))}   # 50 MB of zeros -> ~50 kB
    bad = hostile.write_zip(tmp_path / "bomb.npz", members, zipfile.ZIP_DEFLATED)
    assert bad.stat().st_size < 200_000
    tracemalloc.start()
    with pytest.raises(CheckpointError, match="bomb.npz.*zip bomb"):
        load_checkpoint(bad)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5_000_000


@pytest.mark.parametrize("header, needle", [
    ("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", "not a plain number"),
    ("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", "descr"),
    ("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", "not a plain number"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", "shape"),
    ("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", "fortran_order"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': __import__('os')}", "literal"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", "literal"),   # unterminated: tokenize would fail
    ("{'descr': 'xx', 'fortran_order': False, 'shape': (2,), }", "unknown dtype"),
    ("[" * 5000, "literal"),
])
def test_hostile_npy_headers(tmp_path, header, needle):
    bad = hostile.write_zip(tmp_path / "h.npz", {"meta": hostile.npy_bytes(header=header, data=b"\0" * 8)})
    with pytest.raises(CheckpointError, match="h.npz") as e:
        load_checkpoint(bad)
    assert needle in str(e.value)


def test_deeply_nested_metadata_is_a_checkpoint_error(tmp_path):
    bad = hostile.write_checkpoint(tmp_path / "deep.npz", {}, {}, sign=False, meta_text="[" * 100_000 + "]" * 100_000)
    with pytest.raises(CheckpointError, match="deep.npz.*nested"):
        load_checkpoint(bad)


def test_other_files_say_what_they_are(tmp_path):
    from tinygrad_llm.io.safetensors import save_file
    st = tmp_path / "w.safetensors"
    save_file({"a": np.ones(2, np.float32)}, st)
    (tmp_path / "x.gguf").write_bytes(b"GGUF" + b"\3\0\0\0" + b"\0" * 40)
    np.save(tmp_path / "a.npy", np.ones(3))
    import pickle
    (tmp_path / "p.pt").write_bytes(pickle.dumps({"a": 1}))
    (tmp_path / "t.txt").write_text("hello")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:                 # a PyTorch-style zip holding a pickle
        z.writestr("archive/data.pkl", pickle.dumps(1))
    (tmp_path / "m.bin").write_bytes(buf.getvalue())
    for name, what in (("w.safetensors", "a safetensors file"), ("x.gguf", "a GGUF file"),
                       ("a.npy", "a single NumPy .npy array"), ("p.pt", "a pickle file"),
                       ("t.txt", "a text file"), ("m.bin", "holds pickles")):
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(tmp_path / name)
        msg = str(e.value)
        assert name in msg and what in msg and "allow_pickle" not in msg, msg
    with pytest.raises(CheckpointError, match="is a directory"):
        load_checkpoint(tmp_path)


def test_bit_flips_in_the_header_leak_no_raw_exception(saved, tmp_path):
    """Flips in the zip and .npy headers once leaked tokenize.TokenError and NotImplementedError."""
    raw = saved.read_bytes()
    bad = tmp_path / "flip.npz"
    for pos in list(range(0, 200)) + list(range(len(raw) - 300, len(raw))):
        for bit in (0, 7):
            b = bytearray(raw)
            b[pos] ^= 1 << bit
            bad.write_bytes(bytes(b))
            try:
                ck = load_checkpoint(bad)
            except CheckpointError as e:
                assert "flip.npz" in str(e)
                continue
            assert ck.step == 1                           # a flip the format does not read (e.g. a timestamp)


def test_stale_temp_files_are_removed_on_the_next_save(tmp_path):
    import subprocess
    import sys
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()                                          # a pid that no longer runs
    names = {f".checkpoint.npz.{dead.pid}-abcd_123.tmp": False,     # killed save: removed
             ".checkpoint.npz.k2j4h5g6.tmp": False,                   # older naming: removed
             f".checkpoint.npz.{os.getppid()}-abcdefgh.tmp": True,   # a live process is writing: kept
             ".other.npz.k2j4h5g6.tmp": True, "notes.tmp": True, ".checkpoint.npz.txt": True}
    for n in names:
        (tmp_path / n).write_bytes(b"x" * 100)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".checkpoint.npz.k2j4h5g6.tmp").write_bytes(b"x")   # another folder: kept
    save_checkpoint(tmp_path / "checkpoint.npz", make("gpt"))
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {n for n, keep in names.items() if keep} | {"checkpoint.npz", "sub"}
    assert (tmp_path / "sub" / ".checkpoint.npz.k2j4h5g6.tmp").exists()


def test_resume_refuses_another_tokenizer_and_bad_task_state(tmp_path):
    t = trainer(make("lstm"), tmp_path / "run")
    t.fit()
    path = t.checkpoint_path
    tok, tr, va = data()
    other = CharTokenizer.train(TEXT + "XYZ")                      # 3 more characters: ids shift
    fresh = lm_trainer(make("lstm", seed=4), tr, va, t.cfg, tokenizer=other)
    with pytest.raises(CheckpointError, match="tokenizer differs"):
        fresh.resume(path)
    bad = hostile.resign(path, tmp_path / "state.npz",
                         edit_arrays=lambda a: a.update({"extra/h": a["extra/h"][:, :1]}))
    fresh = trainer(make("lstm", seed=4), tmp_path / "r")
    before = {k: v.copy() for k, v in fresh.model.state_dict().items()}
    with pytest.raises(CheckpointError, match="state.npz.*task state"):
        fresh.resume(bad)
    assert fresh.step == 0 and all(np.array_equal(v, before[k]) for k, v in fresh.model.state_dict().items())
