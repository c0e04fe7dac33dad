"""The docs are checked like code: the formula index, the code shown in chapters, chapter coverage."""
import ast
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))
import snippets  # noqa: E402

ROW = re.compile(r"^\|\s*\$(?P<formula>.+?)\$\s*\|\s*\[[^\]]*\]\((?P<file>[^)]+)\)\s*\|\s*(?P<test>\S+)\s*\|\s*$")


def index_rows():
    rows = []
    for line in (ROOT / "docs" / "formulas.md").read_text().splitlines():
        m = ROW.match(line)
        if m:
            rows.append((m["formula"], m["file"], m["test"]))
        elif line.startswith("| $"):
            raise AssertionError(f"malformed formula index row: {line}")
    return rows


def test_formula_index_has_rows():
    assert len(index_rows()) >= 15


@pytest.mark.parametrize("formula,file,test", index_rows())
def test_formula_index_entry(formula, file, test):
    path = (ROOT / "docs" / file).resolve()  # links are relative to docs/formulas.md, as in the repository view
    assert path.exists(), f"{file} (from docs/) does not exist"
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert formula in doc, f"{file}: module docstring does not contain the formula {formula!r}"
    test_file, _, test_name = test.partition("::")
    test_name = test_name.split("[")[0]
    tpath = ROOT / test_file
    assert tpath.exists(), f"{test_file} does not exist"
    assert re.search(rf"^\s*def {re.escape(test_name)}\(", tpath.read_text(), re.M), f"{test} not found"


def test_chapter_code_blocks_match_source():
    assert snippets.check() == []


def test_every_library_formula_file_is_linked_from_a_chapter():
    texts = "\n".join(p.read_text() for p in (ROOT / "chapters").glob("*/README.md"))
    missing = []
    for pkg in ("functional", "nn", "optim", "metrics"):
        for path in sorted((ROOT / "tinygrad_llm" / pkg).glob("*.py")):
            if path.name.startswith("_"):
                continue
            rel = path.relative_to(ROOT).as_posix()
            if rel not in texts:
                missing.append(rel)
    assert missing == [], f"library files no chapter links to: {missing}"


CHAPTER_ROW = re.compile(r"^\| (?P<num>\d\d) \| \[(?P<title>[^\]]+)\]\(chapters/(?P<folder>[^/]+)/README\.md\) \|", re.M)


def test_readme_chapter_table_lists_every_chapter_with_its_title():
    """The home page's chapter table (README.md) names each chapter as its own first heading does."""
    rows = {m["folder"]: (m["num"], m["title"]) for m in CHAPTER_ROW.finditer((ROOT / "README.md").read_text())}
    chapters = sorted(p for p in (ROOT / "chapters").glob("[0-9][0-9]_*") if (p / "README.md").is_file())
    assert sorted(rows) == [c.name for c in chapters]
    for chapter in chapters:
        heading = (chapter / "README.md").read_text().splitlines()[0]
        num, title = rows[chapter.name]
        assert heading == f"# {num} — {title}", f"README.md row {num}: {title!r}, the chapter says {heading!r}"


NUMBER = re.compile(r"\d+(?:\.\d+)?")


def results_tables(text):
    """(results file, [table lines]) for each table of a doc that follows a ``<!-- results: FILE -->`` line."""
    out, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"<!-- results: (\S+) -->", line.strip())
        if m:
            j = i + 1
            while j < len(lines) and not lines[j].startswith("|"):
                j += 1
            table = []
            while j < len(lines) and lines[j].startswith("|"):
                table.append(lines[j])
                j += 1
            out.append((m[1], table))
    return out


def test_performance_numbers_come_from_recorded_runs():
    """docs/performance.md quotes bench output: every number in the cells (after the first column) of a
    table marked ``<!-- results: FILE -->`` occurs in FILE, the recorded output of the run."""
    tables = results_tables((ROOT / "docs" / "performance.md").read_text())
    assert len(tables) >= 4
    for file, table in tables:
        recorded = set(NUMBER.findall((ROOT / file).read_text()))
        assert table, f"no table after the results marker of {file}"
        for row in table[2:]:
            for cell in row.strip("|").split("|")[1:]:
                missing = [n for n in NUMBER.findall(cell) if n not in recorded]
                assert not missing, f"docs/performance.md: {missing} in {row!r} not found in {file}"
