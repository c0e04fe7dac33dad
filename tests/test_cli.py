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
    with pytest.raises(SystemExit) as e:                # checked while parsing, with train's usage
        run(["train", "--preset", "huge", "--corpus", str(corpus), "--out", str(tmp_path)], capsys)
    assert e.value.code == 2 and "huge" in capsys.readouterr().err
    code, _, err = run(["train", "--device", "tpu", "--corpus", str(corpus)], capsys)
    assert code == 2 and "tpu" in err


def test_plugin_modules_are_optional():
    assert "tinygrad_llm.apps.finetune" in cli.SUBCOMMAND_MODULES
    cli.build_parser()                                 # builds whether or not the module exists


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
           "generate-pretrained": ["--prompt", "hi"], "classify": ["runs/genre", "--text", "a passage"]}


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
