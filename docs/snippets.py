"""Keep code shown in chapter texts equal to the source it comes from.

A chapter README marks a code block with ``<!-- code: path/to/file.py:name -->`` on the line before a
```` ```python ```` fence; the block must equal the lines between ``# [start:name]`` and ``# [end:name]``
in that file (dedented). ``python docs/snippets.py`` lists blocks that drifted; ``--write`` fixes them.
"""
from __future__ import annotations

import pathlib
import re
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parent.parent
MARK = re.compile(r"<!-- code: (?P<path>[^:]+):(?P<name>[\w-]+) -->\n```python\n(?P<body>.*?)```", re.S)


def source_section(path: str, name: str) -> str:
    text = (ROOT / path).read_text()
    m = re.search(rf"^[ \t]*# \[start:{re.escape(name)}\][^\n]*\n(.*?)^[ \t]*# \[end:{re.escape(name)}\]", text, re.S | re.M)
    if m is None:
        raise KeyError(f"{path}: no section '# [start:{name}]' ... '# [end:{name}]'")
    return textwrap.dedent(m.group(1))


def check(write: bool = False) -> list[str]:
    """Return 'file: path:name' for every drifted block (and rewrite them when ``write``)."""
    drifted = []
    for readme in sorted(ROOT.glob("chapters/*/README.md")):
        text = readme.read_text()

        def fix(m):
            want = source_section(m.group("path"), m.group("name"))
            if m.group("body") != want:
                drifted.append(f"{readme.relative_to(ROOT)}: {m.group('path')}:{m.group('name')}")
            return f"<!-- code: {m.group('path')}:{m.group('name')} -->\n```python\n{want}```"

        new = MARK.sub(fix, text)
        if write and new != text:
            readme.write_text(new)
    return drifted


if __name__ == "__main__":
    bad = check(write="--write" in sys.argv)
    print("\n".join(bad) if bad else "all code blocks match their source")
    sys.exit(1 if bad and "--write" not in sys.argv else 0)
