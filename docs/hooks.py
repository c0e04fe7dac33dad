"""MkDocs hook: publish the chapters (chapters/NN_topic/README.md + figures) and the library source
files into the site, so the chapter text, its figures and its links to source files all resolve and
`mkdocs build --strict` checks every link."""
from __future__ import annotations

import pathlib

from mkdocs.structure.files import File

ROOT = pathlib.Path(__file__).resolve().parent.parent


def on_files(files, config):
    extra = []
    for chapter in sorted((ROOT / "chapters").glob("[0-9][0-9]_*")):
        for path in sorted(chapter.rglob("*")):
            if path.suffix in (".md", ".png", ".svg", ".py") and "__pycache__" not in path.parts:
                extra.append(path)
    for path in sorted((ROOT / "tinygrad_llm").rglob("*.py")):
        extra.append(path)
    for path in extra:
        rel = path.relative_to(ROOT).as_posix()
        files.append(File(rel, str(ROOT), config["site_dir"], config["use_directory_urls"]))
    return files
