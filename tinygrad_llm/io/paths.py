"""Paths given by a user: say plainly what is wrong with one before anything tries to read it."""
from __future__ import annotations

from pathlib import Path


def require_file(path, what: str = "file") -> Path:
    """``path`` names an existing regular file. Otherwise ``FileNotFoundError`` ("... not found") or
    ``IsADirectoryError`` ("... is a directory, not a file"), each one line naming the path."""
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(f"{what} {p} is a directory, not a file")
    if not p.exists():
        raise FileNotFoundError(f"{what} {p} not found")
    if not p.is_file():
        raise FileNotFoundError(f"{what} {p} is not a regular file")
    return p


def require_dir(path, what: str = "folder") -> Path:
    """``path`` names an existing directory (``NotADirectoryError`` / ``FileNotFoundError`` otherwise)."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise NotADirectoryError(f"{what} {p} is a file, not a folder")
    if not p.exists():
        raise FileNotFoundError(f"{what} {p} not found")
    return p


def read_utf8(path, what: str = "text file") -> str:
    """The text of a UTF-8 file; a ``ValueError`` naming the file and the first bad byte otherwise."""
    p = require_file(path, what)
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{what} {p} is not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start}: "
                         f"{e.reason})") from None


__all__ = ["require_file", "require_dir", "read_utf8"]
