"""The tinygrad-llm command: help, a tiny train → generate → eval round trip, error paths."""
import subprocess
import sys

import pytest

from tinygrad_llm import cli


def run(argv, capsys):
    try:
        code = cli.main(argv)
    except SystemExit as e:                  # argparse's own errors (usage, then one error line)
        code = e.code
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
    assert code == 2 and "huge" in err and err.startswith("usage: tinygrad-llm train")  # checked while parsing
    code, _, err = run(["train", "--device", "tpu", "--corpus", str(corpus)], capsys)
    assert code == 2 and "tpu" in err


def test_plugin_modules_are_optional():
    assert "tinygrad_llm.apps.finetune" in cli.SUBCOMMAND_MODULES
    cli.build_parser()                                 # builds whether or not the module exists


# ----------------------------------------------------------------------------- one-line errors, exit code 2
import errno  # noqa: E402
import os  # noqa: E402

from tinygrad_llm.io import checkpoint as ckmod  # noqa: E402
from tinygrad_llm.io.checkpoint import load_checkpoint  # noqa: E402

TINY = ["--preset", "tiny", "--batch-size", "2", "--sample", "0", "--quiet"]


def one_line_error(code, err, *needles):
    """Exit code 2 and one error line; an argument error may show the subcommand's usage above it."""
    assert code == 2, err
    lines = err.strip().splitlines()
    if lines and lines[0].startswith("usage:"):
        lines = [ln for ln in lines if not ln.startswith(("usage:", " "))]
    assert len(lines) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, (n, err)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny GPT checkpoint trained on a small corpus."""
    d = tmp_path_factory.mktemp("trained")
    corpus = d / "c.txt"
    corpus.write_text("hello world, hello there. " * 80)
    assert cli.main(["train", "--corpus", str(corpus), "--steps", "4", "--eval-interval", "2",
                     "--out", str(d / "run")] + TINY) == 0
    return corpus, d / "run" / "checkpoint.npz"


def test_bad_paths_are_one_line_errors(tmp_path, capsys, trained):
    corpus, ckpt = trained
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "latin1.txt").write_bytes("café ".encode("latin1") * 50)
    cases = [
        (["train", "--corpus", str(tmp_path / "empty.txt"), "--out", str(tmp_path / "o")], ["empty.txt", "empty"]),
        (["train", "--corpus", str(tmp_path / "latin1.txt"), "--out", str(tmp_path / "o")],
         ["latin1.txt", "not UTF-8", "0xe9"]),
        (["train", "--corpus", str(tmp_path)], ["is a directory"]),
        (["train", "--corpus", str(corpus), "--resume", str(tmp_path)], ["is a directory"]),
        (["generate", str(tmp_path)], ["is a directory"]),
        (["eval", str(tmp_path)], ["is a directory"]),
        (["eval", str(ckpt), "--text", str(tmp_path)], ["is a directory"]),
        (["eval", str(ckpt), "--text", str(tmp_path / "latin1.txt")], ["latin1.txt", "not UTF-8"]),
        (["generate", str(ckpt), "--chat"], ["--chat", "chat template"]),
        (["generate", str(corpus)], ["c.txt is a text file, not a tinygrad_llm checkpoint"]),
    ]
    for argv, needles in cases:
        code, _, err = run(argv, capsys)
        one_line_error(code, err, *needles)
        assert "allow_pickle" not in err


def test_out_is_checked_before_the_first_step(tmp_path, capsys, trained):
    corpus, _ = trained
    (tmp_path / "afile").write_text("x")
    for out, needle in ((tmp_path / "afile", "is a file"), (tmp_path / "afile" / "sub", "which is a file")):
        code, out_text, err = run(["train", "--corpus", str(corpus), "--steps", "3", "--out", str(out)] + TINY, capsys)
        one_line_error(code, err, str(out), needle)
        assert "step" not in out_text


def test_read_only_out_is_refused_before_training(tmp_path, capsys, trained, monkeypatch):
    import tempfile
    corpus, _ = trained
    real = tempfile.mkstemp

    def read_only(*a, dir=None, **k):
        if str(dir).startswith(str(tmp_path / "ro")):
            raise OSError(errno.EROFS, "Read-only file system")
        return real(*a, dir=dir, **k)
    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    code, _, err = run(["train", "--corpus", str(corpus), "--steps", "3", "--out", str(tmp_path / "ro")] + TINY, capsys)
    one_line_error(code, err, "ro is not a folder we can write", "Read-only")


def test_a_failing_save_stops_training_and_names_the_last_good_checkpoint(tmp_path, capsys, trained, monkeypatch):
    corpus, _ = trained
    real, calls = ckmod.atomic_write, []

    def disk_full_on_third_save(path):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path)
    monkeypatch.setattr(ckmod, "atomic_write", disk_full_on_third_save)
    out = tmp_path / "run"
    code, _, err = run(["train", "--corpus", str(corpus), "--steps", "9", "--eval-interval", "100",
                        "--checkpoint-interval", "2", "--out", str(out)] + TINY, capsys)
    one_line_error(code, err, "No space left on device", "training stopped at step 6",
                   f"the last good checkpoint is {out / 'checkpoint.npz'} (step 4)")
    assert load_checkpoint(out / "checkpoint.npz").step == 4                  # intact, and from --checkpoint-interval
    assert [p.name for p in out.iterdir()] == ["checkpoint.npz"]                # no temporary file left


def test_resume_keeps_the_checkpoint_tokenizer(tmp_path, capsys, trained):
    corpus, ckpt = trained
    other = tmp_path / "other.txt"
    other.write_text("ZYX qqq! " * 100)                                         # characters the model never saw
    code, _, err = run(["train", "--corpus", str(other), "--resume", str(ckpt), "--steps", "6",
                        "--out", str(tmp_path / "r")] + TINY, capsys)
    one_line_error(code, err, "other.txt", "cannot be encoded with the checkpoint's tokenizer")
    same_chars = tmp_path / "same.txt"
    same_chars.write_text("there, world hello. " * 90)                           # same alphabet, other text
    code, _, err = run(["train", "--corpus", str(same_chars), "--resume", str(ckpt), "--steps", "6",
                        "--out", str(tmp_path / "r")] + TINY, capsys)
    assert code == 0 and "warning: resuming" in err and "same.txt" in err
    a, b = load_checkpoint(ckpt), load_checkpoint(tmp_path / "r" / "checkpoint.npz")
    assert a.tokenizer == b.tokenizer and a.config == b.config and b.step == 6


def test_resume_refuses_a_different_model(tmp_path, capsys, trained):
    corpus, ckpt = trained
    for extra, needle in ((["--preset", "cpu"], "n_embd=32"), (["--model", "lstm"], "'gpt' model, not 'lstm'"),
                          (["--dropout", "0.3"], "dropout=0.0")):
        argv = ["train", "--corpus", str(corpus), "--resume", str(ckpt), "--steps", "6", "--out", str(tmp_path),
                "--batch-size", "2", "--sample", "0", "--quiet"] + extra
        code, _, err = run(argv, capsys)
        one_line_error(code, err, needle)
    code, _, err = run(["train", "--corpus", str(corpus), "--resume", str(ckpt), "--steps", "5",
                        "--out", str(tmp_path / "ok")] + TINY, capsys)               # the preset it was trained with
    assert code == 0, err


def test_classify_input_errors(tmp_path, capsys):
    (tmp_path / "model").mkdir()
    (tmp_path / "bytes.txt").write_bytes(b"\xff\xfe hello")
    (tmp_path / "blank.txt").write_text("\n  \n")
    for argv, needles in ((["--text", ""], ["passage 1 is empty"]), (["--text", "a", "  "], ["passage 2 is empty"]),
                          (["--file", str(tmp_path)], ["is a directory"]),
                          (["--file", str(tmp_path / "bytes.txt")], ["bytes.txt", "not UTF-8"]),
                          (["--file", str(tmp_path / "blank.txt")], ["no non-empty line"])):
        code, _, err = run(["classify", str(tmp_path / "model")] + argv, capsys)
        one_line_error(code, err, *needles)
    code, _, err = run(["classify", str(tmp_path / "bytes.txt"), "--text", "hi"], capsys)
    one_line_error(code, err, "is a file, not a folder")
    code, _, err = run(["classify", str(tmp_path / "model"), "--text", "hi"], capsys)     # empty folder
    one_line_error(code, err, "cannot load the model")


# ----------------------------------------------------------------------------- help texts and parsing
def _subparsers(parser):
    import argparse
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return {}


def test_every_option_of_every_subcommand_has_help():
    missing = []
    for name, sub in _subparsers(cli.build_parser()).items():
        assert sub.description or name in ("bench",), f"{name}: no description"
        for action in sub._actions:
            if not (action.help or "").strip():
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert missing == [], f"options without help: {missing}"


# minimal valid arguments of each subcommand, so that only the unknown option is wrong
MINIMAL = {"train": [], "generate": ["x.npz"], "eval": ["x.npz"], "bench": [], "seq2seq": [], "finetune": [],
           "generate-pretrained": ["--prompt", "hi"], "classify": ["runs/genre", "--text", "a passage"],
           "serve": ["x.npz"]}


def test_minimal_arguments_cover_every_subcommand():
    assert set(MINIMAL) == set(_subparsers(cli.build_parser()))


@pytest.mark.parametrize("cmd", sorted(MINIMAL))
def test_unknown_option_after_a_subcommand_shows_that_subcommands_usage(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([cmd, *MINIMAL[cmd], "--no-such-option"])
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert f"usage: tinygrad-llm {cmd} " in err
    assert f"tinygrad-llm {cmd}: error: unrecognized arguments: --no-such-option" in err


def test_generate_pretrained_and_generate_with_pretrained_agree():
    parser = cli.build_parser()
    a = vars(parser.parse_args(["generate", "--pretrained", "smollm2", "--prompt", "Hi"]))
    b = vars(parser.parse_args(["generate-pretrained", "--prompt", "Hi"]))
    shared = {k for k in b if k not in ("func", "command")}
    assert {k: a[k] for k in shared} == {k: b[k] for k in shared}
    assert b["temperature"] == 0.0 and b["max_new_tokens"] == 40          # a pretrained model answers greedily
    c = parser.parse_args(["generate", "x.npz"])                         # a checkpoint samples
    assert (c.temperature, c.max_new_tokens) == (0.8, 300)
    d = parser.parse_args(["generate", "--pretrained", "smollm2", "--prompt", "Hi", "--temperature", "0.7"])
    assert d.temperature == 0.7 and d.max_new_tokens == 40


@pytest.mark.parametrize("argv, msg", [
    (["generate", "x.npz", "--pretrained", "smollm2"], "not both"),
    (["generate", "x.npz", "--chat"], "--chat works with --pretrained"),
    (["train", "--preset", "huge"], "'huge' is not a preset of --model gpt; choose from tiny, cpu"),
    (["train", "--model", "lstm", "--preset", "gpt2"], "choose from tiny, cpu, baby"),
    (["train", "--dropout", "1"], "--dropout"),
])
def test_options_checked_together(argv, msg, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and msg in err and f"usage: tinygrad-llm {argv[0]}" in err


def test_help_shows_every_default():
    text = cli.build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    for default in ("(default: 3000)", "(default: 16)", "(default: 1337)", "(default: 250)"):
        assert default in text


def test_classify_accepts_the_run_folder(tmp_path):
    (tmp_path / "run" / "model").mkdir(parents=True)
    (tmp_path / "run" / "model" / "config.json").write_text("{}")
    args = cli.build_parser().parse_args(["classify", str(tmp_path / "run"), "--text", "x"])
    assert args.model == str(tmp_path / "run" / "model")
    args = cli.build_parser().parse_args(["classify", str(tmp_path / "run" / "model"), "--text", "x"])
    assert args.model == str(tmp_path / "run" / "model")


def test_status_lines_report_tokens_per_second(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("hello world, hello there. " * 80)
    code, stdout, _ = run(["train", "--preset", "tiny", "--corpus", str(corpus), "--steps", "3", "--batch-size", "2",
                           "--out", str(tmp_path / "r"), "--sample", "0", "--quiet"], capsys)
    assert code == 0 and "tokens/s" in stdout
    code, stdout, err = run(["generate", str(tmp_path / "r" / "checkpoint.npz"), "--prompt", "he",
                             "--max-new-tokens", "5"], capsys)
    assert code == 0 and stdout.startswith("he") and "5 new tokens in" in err and "tokens/s" in err
