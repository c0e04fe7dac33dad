"""Atomic file writes: a crash while saving leaves the previous file, never a half-written one.

The data goes to a temporary file in the same folder, is flushed to disk (``fsync``), and then
``os.replace`` swaps it in — a single rename, which the file system performs all at once.

A process killed while writing (``kill -9``, a power cut) cannot remove its temporary file. The name
says whose it is — ``.<target name>.<process id>-<8 random characters>.tmp`` — so
:func:`remove_stale_temps` can later delete exactly the temporary files of that target whose writer is
gone, and nothing else in the folder.
"""
from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from pathlib import Path

_WRITING: set[str] = set()          # temporary files this process is writing right now


@contextlib.contextmanager
def atomic_write(path):
    """``with atomic_write(path) as f: f.write(...)`` — ``path`` is replaced only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=path.parent)
    tmp = os.path.abspath(tmp)
    _WRITING.add(tmp)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)                 # mkstemp makes 0600; a saved file gets the usual mode
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    finally:
        _WRITING.discard(tmp)


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (a JSON report, a config file)."""
    with atomic_write(path) as f:
        f.write(text.encode(encoding))
    return Path(path)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True                                  # someone else's process: leave its files alone
    return True


def remove_stale_temps(path) -> list[Path]:
    """Delete the temporary files that interrupted ``atomic_write(path)`` calls left next to ``path``.

    Only regular files named ``.<name>.<pid>-XXXXXXXX.tmp`` whose process ``pid`` no longer runs (or that
    this process is not writing), and the older ``.<name>.XXXXXXXX.tmp`` names, in ``path``'s own folder,
    are removed. Returns the removed paths."""
    path = Path(path)
    folder = path.parent
    pattern = re.compile(r"\." + re.escape(path.name) + r"\.(?:(\d{1,10})-)?[a-z0-9_]{8}\.tmp")
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for e in entries:
        m = pattern.fullmatch(e.name)
        if m is None or os.path.abspath(e.path) in _WRITING:
            continue
        if m.group(1) is not None and int(m.group(1)) != os.getpid() and _alive(int(m.group(1))):
            continue
        try:
            if stat.S_ISREG(os.lstat(e.path).st_mode):
                os.remove(e.path)
                removed.append(Path(e.path))
        except OSError:
            pass
    return removed


def ensure_writable_dir(folder) -> Path:
    """Create ``folder`` if needed and prove that files can be written in it (a probe file is written and
    removed). Raises ``OSError`` with a one-line reason: a file in the way, a file among the parents,
    no permission, a read-only or full file system."""
    folder = Path(folder)
    for p in (folder, *folder.parents):
        if p.exists() or p.is_symlink():
            if not p.is_dir():
                what = "is a file" if p == folder else f"is under {p}, which is a file"
                raise NotADirectoryError(f"{folder} {what}, not a folder")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", suffix=".tmp", dir=folder)
        try:
            os.write(fd, b"x")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.remove(probe)
    except OSError as e:
        raise type(e)(f"{folder} is not a folder we can write ({e.strerror or e})") from None
    return folder
