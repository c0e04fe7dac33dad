"""What the ``tinygrad-llm`` subcommands share on their command lines: value checks, the help layout, the
parser class and the sampling options of every generating command.

- ``Parser``: an unknown option after a subcommand is reported with *that subcommand's* usage (argparse
  reports it with the top-level one); a subcommand can check its options together after parsing
  (``set_defaults(_check=fn)``, ``fn(args, error)``).
- ``HelpFormatter``: every option's help ends with its default; indented lines (examples) keep their shape.
- ``add_sampling_arguments``: one set of generation options for ``generate`` and ``generate-pretrained``.
  The defaults depend on what is sampled, and only on that: a checkpoint trained here samples at
  temperature 0.8 (a small character model repeats itself when greedy), a pretrained model answers greedily
  (temperature 0, so the same prompt gives the same answer) — ``SAMPLING_DEFAULTS``.
"""
from __future__ import annotations

import argparse

SAMPLING_DEFAULTS = {
    "checkpoint": {"temperature": 0.8, "max_new_tokens": 300},
    "pretrained": {"temperature": 0.0, "max_new_tokens": 40},
}


# ----------------------------------------------------------------------------- values
def _parse(s, cast, what):
    """``cast(s)``, or argparse's error naming what was expected."""
    try:
        return cast(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {s!r}") from None


def _at_least(v, low, s):
    if not v >= low:                     # `not >=` also refuses NaN
        raise argparse.ArgumentTypeError(f"expected a number >= {low}, got {s}")
    return v


def positive_int(s):
    return _at_least(_parse(s, int, "a whole number"), 1, s)


def nonneg_int(s):
    return _at_least(_parse(s, int, "a whole number"), 0, s)


def nonneg_float(s):
    return _at_least(_parse(s, float, "a number"), 0, s)


def positive_float(s):
    v = nonneg_float(s)
    if v == 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {s}")
    return v


def prob(s):
    v = nonneg_float(s)
    if not 0 < v <= 1:
        raise argparse.ArgumentTypeError(f"expected a probability in (0, 1], got {s}")
    return v


def dropout_prob(s):
    v = nonneg_float(s)
    if not v < 1:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1), got {s}")
    return v


# ----------------------------------------------------------------------------- parser
class HelpFormatter(argparse.HelpFormatter):
    """Adds ``(default: X)`` to an option's help unless the help already says it or there is none; keeps
    paragraphs whose lines are indented (examples) as they are written."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text.lower() or not action.option_strings or action.nargs == 0:
            return text
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS:
            return text
        return f"{text} (default: %(default)s)"

    def _fill_text(self, text, width, indent):
        out = []
        for para in text.split("\n\n"):
            lines = para.splitlines()
            if any(line.startswith("  ") for line in lines):     # examples: one command a line, as written
                out.append("\n".join(indent + line for line in lines))
            else:
                out.append(super()._fill_text(para, width, indent))
        return "\n\n".join(out)


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` with the help layout above; errors name the subcommand."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def subcommand(self, args) -> argparse.ArgumentParser | None:
        """The parser of the subcommand that ``args`` came from (None at the top level)."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return action.choices.get(getattr(args, action.dest, None))
        return None

    def parse_args(self, args=None, namespace=None):
        ns, extra = self.parse_known_args(args, namespace)
        sub = self.subcommand(ns)
        if extra:
            (sub or self).error(f"unrecognized arguments: {' '.join(extra)}")
        check = vars(ns).pop("_check", None)
        if check is not None:
            check(ns, (sub or self).error)
        return ns


# ----------------------------------------------------------------------------- generation options
def add_sampling_arguments(p, source: str | None = None):
    """The generation options. ``source`` ('checkpoint' or 'pretrained') fixes the defaults; None (the
    ``generate`` command, which reads either) leaves them to ``fill_sampling_defaults`` after parsing."""
    d = SAMPLING_DEFAULTS.get(source, {"temperature": None, "max_new_tokens": None})
    where = {"checkpoint": "for a checkpoint", "pretrained": "with --pretrained"}
    both = "; ".join(f"{v['max_new_tokens']} {where[k]}" for k, v in SAMPLING_DEFAULTS.items())
    temps = "; ".join(f"{v['temperature']:g} {where[k]}" for k, v in SAMPLING_DEFAULTS.items())
    g = p.add_argument_group("sampling")
    g.add_argument("--max-new-tokens", type=positive_int, default=d["max_new_tokens"], metavar="N",
                   help="how many tokens to generate at most" + ("" if source else f" (default: {both})"))
    g.add_argument("--temperature", type=nonneg_float, default=d["temperature"], metavar="T",
                   help="divide the logits by T before sampling; 0 = greedy (always the most likely token)"
                        + ("" if source else f" (default: {temps})"))
    g.add_argument("--top-k", type=positive_int, default=None, metavar="K",
                   help="sample only from the K most likely tokens (default: all)")
    g.add_argument("--top-p", type=prob, default=None, metavar="P",
                   help="nucleus sampling: only from the smallest set of tokens whose probability adds up to P "
                        "(default: all)")
    g.add_argument("--num-beams", type=positive_int, default=1, metavar="B",
                   help="beam search with B beams instead of sampling (1 = no beam search)")
    g.add_argument("--num-return-sequences", type=positive_int, default=1, metavar="N",
                   help="how many continuations to print (at most --num-beams with beam search)")
    g.add_argument("--seed", type=int, default=0, help="seed of the sampler: the same seed gives the same text")
    g.add_argument("--no-cache", action="store_true",
                   help="recompute the whole context at every step instead of using the KV cache (slower; "
                        "for comparison)")
    return g


def fill_sampling_defaults(args, source: str) -> None:
    """Give the options left unset by ``add_sampling_arguments(p)`` the defaults of ``source``."""
    for name, value in SAMPLING_DEFAULTS[source].items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
