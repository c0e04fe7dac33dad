"""The documentation site, checked in a real browser with the network blocked.

The site is built strictly (``mkdocs build --strict``, every WARNING line is a failure), served from
127.0.0.1 by ``http.server``, and every built page is loaded in headless Chromium that can reach nothing
but that server. A page fails on: raw LaTeX (``\\(``, ``\\[`` or ``$$``) in its text outside code, an image
that did not load, a console error or uncaught exception, a request that failed or went to another host,
an internal link (or ``#anchor``) that does not resolve. ``test_checks_catch_a_broken_page`` shows
each check failing on a page made broken on purpose.

Needs Debian's ``chromium`` (``apt-get install chromium``) and the ``playwright`` package (it drives the
installed browser; no browser is downloaded). Without them the browser tests skip with the reason,
unless ``TINYGRAD_LLM_REQUIRE_BROWSER=1`` (CI sets it), where they fail.
"""
from __future__ import annotations

import functools
import http.server
import os
import pathlib
import sys
import threading
import time
import urllib.parse

import pytest

from browser import browser_or_skip, offline_context

ROOT = pathlib.Path(__file__).resolve().parent.parent
RAW_MATH = ("\\(", "\\[", "$$")


sys.path.insert(0, str(ROOT / "docs"))
import build_site  # noqa: E402


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    """(site folder, build output, seconds): the site ``make test`` built (``TINYGRAD_LLM_SITE``, with its
    ``.log``), or a strict build made here (notebooks not executed unless TINYGRAD_LLM_DOCS_EXECUTE=1)."""
    prebuilt = os.environ.get("TINYGRAD_LLM_SITE")
    if prebuilt:
        site = pathlib.Path(prebuilt)
        assert (site / "index.html").is_file(), f"TINYGRAD_LLM_SITE={prebuilt} holds no built site"
        return site, pathlib.Path(prebuilt.rstrip("/") + ".log").read_text(), 0.0
    dest = tmp_path_factory.mktemp("site") / "site"
    t0 = time.perf_counter()
    code, output, _ = build_site.build(dest, execute=os.environ.get("TINYGRAD_LLM_DOCS_EXECUTE") == "1")
    assert code == 0, output[-4000:]
    return dest, output, time.perf_counter() - t0


def test_strict_build_is_clean(built_site):
    site, output, _ = built_site
    warnings = [line for line in output.splitlines() if "WARNING" in line or "ERROR" in line]
    assert not warnings, "\n".join(warnings)
    assert (site / "index.html").exists()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # the browser moved on mid-file: not an error
            super().handle_error(request, client_address)


class LocalServer:
    """A folder served on 127.0.0.1 (an unused port), in a thread, for the length of a ``with``."""

    def __init__(self, folder: pathlib.Path):
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.httpd = _Server(("127.0.0.1", 0), handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


PAGE_REPORT = r"""() => {
  const raw = [], skip = 'pre, code, script, style, noscript, math, textarea';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.parentElement.closest(skip)) continue;
    for (const mark of %s) if (n.data.includes(mark)) raw.push(n.data.trim().slice(0, 100));
  }
  for (const m of document.querySelectorAll('math')) {   // leftovers of a formula that was cut wrongly
    const host = m.parentElement.classList.contains('arithmatex') ? m.parentElement : m;
    const before = host.previousSibling, after = host.nextSibling;
    if (m.textContent.includes('$$')) raw.push('$$ inside a formula: ' + m.textContent.trim().slice(0, 80));
    if (before && before.nodeType === 3 && /\$\s*$/.test(before.data)) raw.push('stray $ before a formula: ' + before.data.trim().slice(-60));
    if (after && after.nodeType === 3 && /^\s*\$/.test(after.data)) raw.push('stray $ after a formula: ' + after.data.trim().slice(0, 60));
  }
  const images = Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)
                      .map(i => i.getAttribute('src'));
  const links = Array.from(document.querySelectorAll('a[href]')).map(a => a.href);
  const ids = Array.from(document.querySelectorAll('[id], a[name]')).map(e => e.id || e.getAttribute('name'));
  const maths = Array.from(document.querySelectorAll('article math'));
  const drawn = maths.filter(m => m.getBoundingClientRect().width > 0).length;
  return {raw, images, links, ids, math: maths.length, drawn};
}""" % str(list(RAW_MATH)).replace("'", '"')


def site_pages(site: pathlib.Path) -> list[str]:
    """Every built HTML page as a URL path ('/', '/docs/formulas/', ...); 404.html is not a page."""
    pages = []
    for path in sorted(site.rglob("*.html")):
        rel = path.relative_to(site).as_posix()
        if rel == "404.html":
            continue
        pages.append("/" + (rel[: -len("index.html")] if rel.endswith("index.html") else rel))
    return pages


def _resolves(site: pathlib.Path, path: str) -> bool:
    target = site / urllib.parse.unquote(path).lstrip("/")
    return target.is_file() or (target / "index.html").is_file()


def check_site(site: pathlib.Path, exe: str, pages: list[str] | None = None) -> dict:
    """Load every page; return {'problems': [...], 'pages': n, 'math': formulas drawn, 'seconds': s}."""
    from playwright.sync_api import sync_playwright

    pages = site_pages(site) if pages is None else pages
    problems, ids_of, anchors, math_drawn = [], {}, [], 0
    t0 = time.perf_counter()
    with LocalServer(site) as server, sync_playwright() as pw:
        current = {"page": None}
        browser, tab = offline_context(pw, exe, server.origin, lambda text: problems.append(f"{current['page']}: {text}"))
        for path in pages:
            current["page"] = path
            response = tab.goto(server.origin + path, wait_until="load")
            if response is None or response.status >= 400:
                continue  # reported by the response listener
            report = tab.evaluate(PAGE_REPORT)
            ids_of[path] = set(report["ids"])
            math_drawn += report["drawn"]
            if report["drawn"] < report["math"]:
                problems.append(f"{path}: {report['math'] - report['drawn']} formulas not drawn")
            problems += [f"{path}: raw LaTeX in the text: {text!r}" for text in report["raw"]]
            problems += [f"{path}: image did not load: {src}" for src in report["images"]]
            for href in report["links"]:
                if not href.startswith(server.origin + "/"):
                    continue  # an external link is allowed (not followed); it is never fetched
                parsed = urllib.parse.urlsplit(href)
                if not _resolves(site, parsed.path):
                    problems.append(f"{path}: link to a missing page: {parsed.path}")
                elif parsed.fragment:
                    anchors.append((path, parsed.path, urllib.parse.unquote(parsed.fragment)))
        browser.close()
    for page, target, fragment in anchors:
        key = target if target in ids_of else target + ("" if target.endswith("/") else "/")
        if key in ids_of and fragment not in ids_of[key]:
            problems.append(f"{page}: link to a missing anchor: {target}#{fragment}")
    return {"problems": problems, "pages": len(pages), "math": math_drawn, "seconds": time.perf_counter() - t0}


def test_every_page_loads_clean_in_an_offline_browser(built_site):
    exe = browser_or_skip()
    site, output, build_seconds = built_site
    result = check_site(site, exe)
    print(f"\nsite: built in {build_seconds:.0f} s; {result['pages']} pages checked in {result['seconds']:.0f} s; "
          f"{result['math']} formulas drawn")
    assert result["pages"] > 100
    assert not result["problems"], f"{len(result['problems'])} problems:\n" + "\n".join(result["problems"][:60])
    assert result["math"] > 500, "the chapters' formulas were not drawn as MathML"


BROKEN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>broken</title>
<link rel="stylesheet" href="https://cdn.example.org/style.css"></head><body><article>
<p>Raw inline math \\(q_i\\) and display math $$x^2$$ and \\[y\\].</p>
<p>A formula cut wrongly: $<math><mi>a</mi><mtext>$$</mtext><mi>b</mi></math>$ end.</p>
<pre><code>$$ in code is fine \\( too</code></pre>
<p><math><mi>x</mi></math></p>
<img src="missing.png" alt="a figure that is not there">
<a href="nowhere/">a missing page</a> <a href="#no-such-anchor">a missing anchor</a>
<a href="ok.html#here">a good link</a> <a href="https://example.org/">an external link</a>
<script>console.error("boom");</script>
</article></body></html>"""

GOOD_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>ok</title></head><body><article>
<h1 id="here">fine</h1><p>Math: <math><msup><mi>x</mi><mn>2</mn></msup></math>.</p></article></body></html>"""


def test_checks_catch_a_broken_page(tmp_path):
    """Each check fails on a page broken on purpose, and passes a good one."""
    exe = browser_or_skip()
    (tmp_path / "broken.html").write_text(BROKEN_PAGE)
    (tmp_path / "ok.html").write_text(GOOD_PAGE)
    result = check_site(tmp_path, exe, pages=["/broken.html", "/ok.html"])
    text = "\n".join(result["problems"])
    for expected in ("raw LaTeX in the text: 'Raw inline math \\\\(q_i", "$$x^2$$", "\\\\[y",
                     "image did not load: missing.png", "console error: boom", "link to a missing page: /nowhere/",
                     "link to a missing anchor: /broken.html#no-such-anchor",
                     "requested another host: https://cdn.example.org/style.css", "$$ inside a formula: a$$b",
                     "stray $ before a formula", "stray $ after a formula"):
        assert expected in text, f"{expected!r} not reported in:\n{text}"
    assert "in code" not in text
    assert not [p for p in result["problems"] if p.startswith("/ok.html")]
    assert result["math"] == 3  # two formulas on the broken page, one on the good one


def test_every_walkthrough_is_a_notebook_page_with_its_outputs(built_site):
    """Each chapter's walk-through has its notebook page; when the build executed the notebooks (make test),
    the page shows the printed output and every figure as an image of the page's own folder."""
    import notebooks
    site, output, _ = built_site
    executed = os.environ.get("TINYGRAD_LLM_DOCS_EXECUTE") == "1"
    for script in notebooks.walkthroughs():
        page = site / script[:-3] / "index.html"
        assert page.is_file(), f"no notebook page for {script}"
        html = page.read_text(encoding="utf-8")
        assert "the notebook" in html and "chapter_args" in html, f"{script}: no cells on its page"
        if executed:
            stem = pathlib.PurePosixPath(script).stem
            figures = [f for f in (site / script).parent.glob(f"{stem}_files/*.png") if f.stat().st_size > 1000]
            assert "Executed in" in html and "fast run: figures and results" in html, \
                f"{script}: the page shows no output"  # (chapter_args prints that line first)
            assert figures and all(f'src="../{stem}_files/{f.name}"' in html for f in figures), \
                f"{script}: the page shows no figure (or not all of them): {figures}"
