"""MkDocs hook: the site mirrors the repository, so a link works the same on the site and in the repository.

- Every page sits at its repository path: ``README.md`` is the home page, ``docs/formulas.md`` is
  ``docs/formulas/``, ``chapters/06_attention/README.md`` is ``chapters/06_attention/``. A link written
  relative to the Markdown file in the repository (``../tinygrad_llm/autograd.py`` from ``docs/``,
  ``../../tinygrad_llm/functional/attention.py`` from a chapter) is the same link on the site, and
  ``mkdocs build --strict`` checks every one of them.
- Source files (``tinygrad_llm/``, ``chapters/``, ``tests/``, ``bench/``, the build files) become pages:
  the module docstring rendered (formulas included), an index of its classes and functions, then the
  highlighted code with numbered lines. A link to a package folder (``../tinygrad_llm/metrics/``) leads to
  its ``__init__.py`` page.
- Math becomes MathML at build time (``docs/mathml.py``), in the text and in the table of contents, so
  the site needs no script and no network; a formula that does not convert is a build warning.
- The navigation is made here: the home page, the chapters in order (titled by their first heading), the
  reference pages in ``docs/``.
"""
from __future__ import annotations

import ast
import html
import json
import logging
import pathlib
import posixpath
import re
import sys

from mkdocs.structure.files import File, Files, InclusionLevel

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))
import mathml  # noqa: E402
import notebooks  # noqa: E402

log = logging.getLogger("mkdocs.hooks.site")  # under "mkdocs": strict mode counts its warnings

SOURCE_TREES = ("tinygrad_llm", "chapters", "tests", "bench")
BUILD_FILES = {"Makefile": "make", "setup.cfg": "ini", "pyproject.toml": "toml", "mkdocs.yml": "yaml",
               ".ci/run": "bash", "requirements/assets.txt": "text"}
MEDIA = (".png", ".svg", ".jpg", ".gif")
# Reference pages first in this order, then any other docs/*.md alphabetically.
REFERENCE_ORDER = ("glossary.md", "architecture.md", "formulas.md", "gpu.md", "corpus.md")


def _chapters() -> list[pathlib.Path]:
    return sorted(p for p in (ROOT / "chapters").glob("[0-9][0-9]_*") if (p / "README.md").exists())


def _reference_pages() -> list[str]:
    names = sorted(p.name for p in (ROOT / "docs").glob("*.md") if p.name != "index.md")
    ordered = [n for n in REFERENCE_ORDER if n in names] + [n for n in names if n not in REFERENCE_ORDER]
    return [f"docs/{n}" for n in ordered]


def _source_files() -> list[str]:
    out = []
    for tree in SOURCE_TREES:
        for path in sorted((ROOT / tree).rglob("*.py")):
            if "__pycache__" not in path.parts and not any(p.startswith(".") for p in path.relative_to(ROOT).parts):
                out.append(path.relative_to(ROOT).as_posix())
    return out + [name for name in BUILD_FILES if (ROOT / name).exists()]


def _notebook_title(script: str) -> str:
    """'06 — Attention' for chapters/06_attention/run.py (the chapter's heading), '+ run_lm.py' for others."""
    readme = ROOT / posixpath.dirname(script) / "README.md"
    title = readme.read_text(encoding="utf-8").splitlines()[0].lstrip("# ").strip()
    name = posixpath.basename(script)
    return title if name == "run.py" else f"{title} ({name})"


def on_config(config):
    config.nav = [
        {"Home": "README.md"},
        {"Course": [(c / "README.md").relative_to(ROOT).as_posix() for c in _chapters()]},
        {"Notebooks": [{_notebook_title(s): s} for s in notebooks.walkthroughs()]},
        {"Reference": _reference_pages() + [{"Source files": "docs/source.md"}]},
    ]
    for extra in ("README.md", "chapters", "tinygrad_llm"):
        if str(ROOT / extra) not in config.watch:
            config.watch.append(str(ROOT / extra))
    return config


class SourcePage(File):
    """A source file shown as a page: ``tinygrad_llm/nn/layers.py`` at ``tinygrad_llm/nn/layers/``."""

    def __init__(self, rel: str, config, content: str | None = None, inclusion=InclusionLevel.NOT_IN_NAV):
        stem = rel[: -len("__init__.py")].rstrip("/") if rel.endswith("/__init__.py") else posixpath.splitext(rel)[0]
        stem = stem.lstrip(".")
        dest = f"{stem}/index.html" if config["use_directory_urls"] else f"{stem}.html"
        super().__init__(rel, str(ROOT), config["site_dir"], config["use_directory_urls"], dest_uri=dest,
                         inclusion=inclusion)  # source pages: reached by links and docs/source.md
        self.content_string = source_markdown(rel) if content is None else content

    def is_documentation_page(self) -> bool:
        return True

    def is_media_file(self) -> bool:
        return False


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=2)
    return "`" * (longest + 1)


def _outline(tree: ast.Module) -> list[tuple[str, int, str]]:
    """(name, line, first docstring line) for top-level classes and functions (and methods of classes)."""
    rows = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            doc = (ast.get_docstring(node) or "").strip().split("\n\n")[0].replace("\n", " ")
            line = min([node.lineno] + [d.lineno for d in node.decorator_list])
            rows.append((node.name, line, doc))
    return rows


def _table_cell(text: str) -> str:
    """One line of docstring as a table cell: no table breaks, no accidental links or tags."""
    return re.sub(r"([|\[\]])", r"\\\1", html.escape(text, quote=False))


def source_markdown(rel: str) -> str:
    text = (ROOT / rel).read_text(encoding="utf-8")
    lang = "python" if rel.endswith(".py") else BUILD_FILES.get(rel, "text")
    out = ["---", f"title: {json.dumps(rel)}", "search:", "  exclude: true", "---", "",
           f"# `{rel}`", ""]
    outline = []
    if lang == "python":
        try:
            tree = ast.parse(text)
        except SyntaxError:
            tree = None
        if tree is not None:
            doc = ast.get_docstring(tree)
            if doc:
                out += [doc, ""]
            outline = _outline(tree)
    if outline:
        out += ["| name | what |", "|---|---|"]
        for name, line, doc in outline:
            # raw HTML: the code block's number on the page is known only after rendering (on_page_content)
            out.append(f'| <a href="#{LINE_ANCHOR}{line}"><code>{name}</code></a> | {_table_cell(doc)} |')
        out.append("")
    fence = _fence(text)
    out += [f'{fence}{lang} linenums="1"', text.rstrip("\n"), fence, ""]
    return "\n".join(out)


LINE_ANCHOR = "__codelineno-CODE-"


def _repo_page(rel: str, config) -> File:
    return File(rel, str(ROOT), config["site_dir"], config["use_directory_urls"])


def on_files(files, config):
    out = Files([])
    for f in files:
        if f.is_documentation_page() and f.src_uri != "index.md":
            out.append(_repo_page(f"docs/{f.src_uri}", config))  # docs/x.md at its repository path
        elif f.src_uri.endswith(MEDIA) and (ROOT / "docs" / f.src_uri).is_file():
            out.append(_repo_page(f"docs/{f.src_uri}", config))  # docs/images/x.png beside the pages that show it
        elif not f.is_documentation_page():
            out.append(f)  # stylesheets and excluded helpers stay where they are
    out.append(_repo_page("README.md", config))  # the home page
    for chapter in _chapters():
        for path in sorted(chapter.rglob("*")):
            if "__pycache__" in path.parts:
                continue
            if path.name == "README.md" or path.suffix in MEDIA:
                out.append(_repo_page(path.relative_to(ROOT).as_posix(), config))
    walkthroughs = set(notebooks.walkthroughs())
    for rel in _source_files():
        if rel not in walkthroughs:
            out.append(SourcePage(rel, config))
    for rel in sorted(walkthroughs):  # a walk-through is its notebook, with outputs when executed
        try:
            nb, executed = notebooks.notebook(rel, log=log.info)
        except notebooks.NotebookError as exc:
            log.warning(str(exc))
            nb, executed = notebooks.read(rel), False
        page, images = notebooks.to_markdown(nb, rel, executed)
        out.append(SourcePage(rel, config, content=page, inclusion=InclusionLevel.UNDEFINED))
        for name, data in images.items():
            out.append(File.generated(config, posixpath.join(posixpath.dirname(rel), name), content=data))
    out.append(File.generated(config, "docs/source.md", content=source_index()))
    return out


def source_index() -> str:
    groups: dict[str, list[str]] = {}
    for rel in _source_files():
        top = rel.split("/")[0] if "/" in rel else "build files"
        groups.setdefault(top, []).append(rel)
    titles = {"tinygrad_llm": "The library", "chapters": "The chapters' walk-throughs and solutions",
              "tests": "Tests", "bench": "Benchmarks", ".ci": "Build files", "requirements": "Build files",
              "build files": "Build files"}
    lines = ["# Source files", "",
             "Every file of the library, the chapters, the tests and the build, shown with its docstring.", ""]
    merged: dict[str, list[str]] = {}
    for top, rels in groups.items():
        merged.setdefault(titles.get(top, top), []).extend(rels)
    for title, rels in merged.items():
        lines += [f"## {title}", "", "| file | what |", "|---|---|"]
        for rel in rels:
            first = ""
            if rel.endswith(".py"):
                try:
                    doc = ast.get_docstring(ast.parse((ROOT / rel).read_text(encoding="utf-8"))) or ""
                except SyntaxError:
                    doc = ""
                first = doc.strip().split("\n\n")[0].replace("\n", " ")
                first = re.split(r"(?<=\.)\s", first)[0]
            link = posixpath.relpath(rel, "docs")
            lines.append(f"| [`{rel}`]({link}) | {_table_cell(first)} |")
        lines.append("")
    return "\n".join(lines)


_FOLDER_LINK = re.compile(r"(\]\()(?P<target>[^()\s#:]+/)(?P<rest>#[^)\s]*)?\)")


def on_page_markdown(markdown, page, config, files):
    """A link to a folder leads to its ``__init__.py`` (a package) or its ``README.md``; display math gets
    its own paragraph (``mathml.separate_display_math``)."""
    here = ROOT / posixpath.dirname(page.file.src_uri)

    def fix(m):
        folder = (here / m.group("target")).resolve()
        for index in ("README.md", "__init__.py"):
            if (folder / index).is_file():
                return f"{m.group(1)}{m.group('target')}{index}{m.group('rest') or ''})"
        return m.group(0)

    return mathml.separate_display_math(_FOLDER_LINK.sub(fix, markdown))


_INLINE = re.compile(r"\\\((.+?)\\\)")


def _toc_items(items):
    for item in items:
        yield item
        yield from _toc_items(item.children)


def on_page_content(content, page, config, files):
    def warn(message):
        log.warning(f"Doc file '{page.file.src_uri}': {message}")

    content = mathml.render_html(content, on_error=warn)
    if isinstance(page.file, SourcePage):  # the file's code is the page's last code block
        blocks = re.findall(r'id="__codelineno-(\d+)-', content)
        content = content.replace(LINE_ANCHOR, f"__codelineno-{max(map(int, blocks), default=0)}-")
    for item in _toc_items(page.toc):
        if "\\(" in item.title:
            def sub(m):
                try:
                    return mathml.to_mathml(html.unescape(m.group(1)))
                except mathml.MathError as exc:
                    warn(str(exc))
                    return m.group(0)
            item.title = _INLINE.sub(sub, item.title)
    return content
