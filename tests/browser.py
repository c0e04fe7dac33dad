"""Headless Chromium with the network cut off: the one browser harness of the test suite.

Used by the documentation site's check (``tests/test_site.py``) and the playground's (``tests/test_serve.py``).
It drives Debian's ``chromium`` through the ``playwright`` package (no browser is downloaded). Every host name
but 127.0.0.1 fails to resolve, and any request that leaves the local server is aborted and reported, so a
page that would fetch a script, font or style from elsewhere fails its test. Without Chromium or playwright a
test skips with the reason, unless ``TINYGRAD_LLM_REQUIRE_BROWSER=1`` (CI sets it), where it fails.
"""
from __future__ import annotations

import os
import shutil
from typing import Callable

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-default-apps",
    # offline: every host name fails to resolve, except the local server's address
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


def chromium_path() -> str | None:
    env = os.environ.get("CHROMIUM")
    if env:
        return env
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def browser_or_skip() -> str:
    """The Chromium executable, or skip (fail where TINYGRAD_LLM_REQUIRE_BROWSER=1) with the reason."""
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "the playwright package is not installed (pip install -e .[dev])"
    exe = chromium_path()
    if reason is None and exe is None:
        reason = "no Chromium found (Debian: apt-get install chromium; or set CHROMIUM=/path/to/chrome)"
    if reason is None:
        return exe
    if os.environ.get("TINYGRAD_LLM_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser check required but {reason}")
    pytest.skip(reason)


def offline_context(pw, exe: str, origin: str, report: Callable[[str], None]):
    """(browser, tab): a fresh headless Chromium whose tab may only talk to ``origin``.

    ``report`` receives one line per problem: a request to another host (aborted, never fetched), a console
    error, an uncaught exception, a failed request, an HTTP status of 400 or more. Close the browser when done.
    """
    browser = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
    context = browser.new_context(service_workers="block")

    def outside(route):
        report(f"requested another host: {route.request.url}")
        route.abort()

    context.route(lambda url: not url.startswith(origin + "/"), outside)
    tab = context.new_page()
    tab.on("console", lambda m: m.type == "error" and report(f"console error: {m.text}"))
    tab.on("pageerror", lambda e: report(f"uncaught exception: {e}"))
    # ERR_ABORTED: cut short by the next navigation (a favicon, the search index); a missing file is a 4xx
    # response, reported by the response listener, and a request to another host is reported by `outside`
    tab.on("requestfailed", lambda r: r.failure != "net::ERR_ABORTED" and report(
        f"failed request {r.url} ({r.failure})"))
    tab.on("response", lambda r: r.status >= 400 and report(f"HTTP {r.status} for {r.url}"))
    return browser, tab
