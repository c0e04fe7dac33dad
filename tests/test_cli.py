"""The tinygrad-llm command: help, a tiny train → generate → eval round trip, error paths."""
import subprocess
import sys

import pytest

from tinygrad_llm import cli


def run(argv, capsys):
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_help_lists_the_subcommands():
    r = subprocess.run([sys.executable, "-m", "tinygrad_llm.cli", "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for cmd in ("train", "generate", "eval", "bench"):
        assert cmd in r.stdout


@pytest.mark.parametrize("cmd", ["train", "generate", "eval"])
def test_subcommand_help(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([cmd, "--help"])
    assert e.value.code == 0
    assert "usage: tinygrad-llm " + cmd in capsys.readouterr().out


def test_train_generate_eval_round_trip(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("hello world, hello there. " * 80)
    out = tmp_path / "run"
    code, stdout, _ = run(["train", "--preset", "tiny", "--corpus", str(corpus), "--steps", "6", "--batch-size", "4",
                           "--eval-interval", "3", "--out", str(out), "--sample", "20", "--quiet"], capsys)
    assert code == 0 and "validation loss" in stdout
    for f in ("checkpoint.npz", "loss.png", "sample.txt"):
        assert (out / f).is_file()
    code, stdout, _ = run(["generate", str(out / "checkpoint.npz"), "--prompt", "hel", "--max-new-tokens", "12",
                           "--temperature", "0"], capsys)
    assert code == 0 and stdout.startswith("hel") and len(stdout.rstrip("\n")) >= 3
    code, stdout, _ = run(["generate", str(out / "checkpoint.npz"), "--prompt", "he", "--max-new-tokens", "5",
                           "--top-k", "3", "--top-p", "0.9", "--num-return-sequences", "2"], capsys)
    assert code == 0 and stdout.count("--- sequence") == 2
    code, stdout, _ = run(["eval", str(out / "checkpoint.npz"), "--text", str(corpus), "--batches", "2"], capsys)
    assert code == 0 and "perplexity" in stdout
    code, _, err = run(["generate", str(out / "checkpoint.npz"), "--prompt", "Z!"], capsys)   # unknown chars
    assert code == 2 and "prompt" in err


def test_lstm_train(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("abc abd abe " * 100)
    code, stdout, _ = run(["train", "--model", "lstm", "--preset", "tiny", "--corpus", str(corpus), "--steps", "3",
                           "--batch-size", "2", "--out", str(tmp_path / "l"), "--sample", "0", "--quiet"], capsys)
    assert code == 0 and (tmp_path / "l" / "checkpoint.npz").is_file()


def test_missing_checkpoint_and_files(tmp_path, capsys):
    code, _, err = run(["generate", str(tmp_path / "none.npz")], capsys)
    assert code == 2 and "none.npz" in err and "not found" in err
    code, _, err = run(["train", "--corpus", str(tmp_path / "nope.txt")], capsys)
    assert code == 2 and "nope.txt" in err
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    code, _, err = run(["eval", str(bad)], capsys)
    assert code == 2 and "bad.npz" in err


@pytest.mark.parametrize("argv, msg", [
    (["train", "--steps", "0"], "--steps"),
    (["train", "--model", "rnn"], "--model"),
    (["generate", "x.npz", "--top-p", "1.5"], "--top-p"),
    (["generate", "x.npz", "--temperature", "-1"], "--temperature"),
    (["generate", "x.npz", "--top-k", "abc"], "--top-k"),
])
def test_bad_option_values(argv, msg, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2 and msg in capsys.readouterr().err


def test_unknown_preset_and_device(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("abc " * 100)
    code, _, err = run(["train", "--preset", "huge", "--corpus", str(corpus), "--out", str(tmp_path)], capsys)
    assert code == 2 and "huge" in err
    code, _, err = run(["train", "--device", "tpu", "--corpus", str(corpus)], capsys)
    assert code == 2 and "tpu" in err


def test_plugin_modules_are_optional():
    assert "tinygrad_llm.apps.finetune" in cli.SUBCOMMAND_MODULES
    cli.build_parser()                                 # builds whether or not the module exists
