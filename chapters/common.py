"""The command line every chapter walk-through shares: ``--fast`` (tiny sizes, for CI) and ``--out DIR``
(where figures go, default the chapter's ``figures/``); seeds the generator and keeps matplotlib headless."""
from __future__ import annotations

import argparse
import pathlib

from tinygrad_llm.backend import manual_seed


def chapter_args(file: str, doc: str | None = None, seed: int = 0, argv=None) -> argparse.Namespace:
    """Parse the walk-through's options; ``args.out`` is a created ``pathlib.Path``."""
    import matplotlib
    matplotlib.use("Agg")
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fast", action="store_true", help="tiny sizes, for CI (seconds)")
    parser.add_argument("--out", default=str(pathlib.Path(file).resolve().parent / "figures"),
                        help="where figures are written")
    args = parser.parse_args(argv)
    args.out = pathlib.Path(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    manual_seed(seed)
    return args
