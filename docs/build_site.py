"""Build the documentation site strictly: ``mkdocs build --strict``, and a failure on any WARNING line.

``mkdocs build --strict -q`` does not count warnings at all (quiet mode drops them before they are counted),
and some warnings are not counted by MkDocs even without ``-q`` (those printed by other libraries); this
script prints everything the build says and fails on any line with WARNING or ERROR.

    python docs/build_site.py SITE_DIR      # make test / make docs; exit code 1 on a warning

The output is also written to ``SITE_DIR.log``.
"""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def build(dest, execute: bool | None = None) -> tuple[int, str, list[str]]:
    """(exit code, output, warning lines) of a strict build into ``dest``; ``execute`` sets
    TINYGRAD_LLM_DOCS_EXECUTE (run the chapters' notebooks), None leaves the environment's."""
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    if execute is not None:
        env["TINYGRAD_LLM_DOCS_EXECUTE"] = "1" if execute else "0"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(dest)], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    warnings = [line for line in proc.stdout.splitlines() if "WARNING" in line or "ERROR" in line]
    return proc.returncode, proc.stdout, warnings


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    code, output, warnings = build(sys.argv[1])
    print(output, end="")
    pathlib.Path(sys.argv[1].rstrip("/\\") + ".log").write_text(output)  # tests/test_site.py reads it
    if code or warnings:
        print(f"docs: the strict build failed ({len(warnings)} warning lines, exit code {code})", file=sys.stderr)
        sys.exit(1)
    print(f"docs: built {sys.argv[1]}, no warnings")
