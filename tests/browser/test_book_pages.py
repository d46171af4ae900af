"""The built book in a real browser: Debian's chromium, driven by playwright.

Run after ``jupyter-book build`` and ``.ci/web_vendor.py`` (``.ci/run`` does both), as its own
step: ``pytest tests/browser``. The README's ``pytest`` does not collect this folder
(``norecursedirs`` in ``pyproject.toml``). Nothing here skips: a missing build, a missing
browser or a missing vendored file is a failure.

The pages are served from ``_build/html`` under a made-up origin, and every request they make
to a CDN is answered from ``_build/web-vendor/<host>/<path>`` (npm and PyPI packages fetched by
``.ci/web_vendor.py``); any other request outside the book fails the page. The browser checks
the SRI hash of require.js itself; the test checks it as well, before any page loads.

Checks:
* every page loads without a JavaScript error (one benign sphinx-thebe error is allowed by
  name), and the widgets of a page with saved widget state render;
* no results table is left as Markdown text (pipes and dashes in a paragraph): each is a
  ``<table>``, and the chapters of the paper's experiments have their tables;
* every control of every explorer (ratio slider, regime buttons) changes the numbers and the
  image shown.
"""
from __future__ import annotations

import base64
import hashlib
import mimetypes
import os
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("SPADE_BOOK_HTML", ROOT / "_build" / "html"))
VENDOR = Path(os.environ.get("SPADE_WEB_VENDOR", ROOT / "_build" / "web-vendor"))
CHROMIUM = os.environ.get("SPADE_CHROMIUM", "/usr/bin/chromium")
ORIGIN = "https://book.spade.test"
#: seen on every page of a Jupyter Book 1 build, harmless: sphinx-thebe declares a constant
#: twice; the theme logs that no colour mode was stored yet and takes "auto"; and a failed
#: request is reported by the route handler with its URL (the console line has none)
ALLOWED_ERRORS = ("Identifier 'THEBE_JS_URL' has already been declared",
                  "Got invalid theme mode: . Resetting to auto.",
                  "console error: Failed to load resource")
#: requests the pages make that no server of the book answers (on the published site as
#: here): the icon fonts that ipywidgets' CSS names relative to the page. Reported, not failed:
#: the widgets work without them.
MISSING_OK = ("font",)
#: chapters whose results must be HTML tables: the paper's tables in its layout (Chapter 6:
#: Tables 1, 2, 5 and 3; Chapter 7: Tables 4 and 6) and the claims checked
RESULTS_PAGES = {"book/06_cs_mri.html": 5, "book/07_super_resolution.html": 3}
RESULTS_TABLES = "table.spade-results, table.spade-claims"
MARKDOWN_TABLE = re.compile(r"\|\s*:?-{3,}:?\s*\|")
#: what tqdm prints when its bar goes to a notebook's stderr ("12/40 [00:03<00:08, 3.4it/s]")
PROGRESS_TEXT = re.compile(r"\d+/\d+ \[\d\d:\d\d<|\d(?:it|s)/(?:s|it)\]")


def pages() -> list[str]:
    if not HTML.is_dir():
        return ["<no build>"]
    return sorted(str(p.relative_to(HTML)) for p in HTML.glob("book/*.html"))


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    assert HTML.is_dir(), f"{HTML} does not exist: build the book first (jupyter-book build .)"
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} not found: apt-get install chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def _serve(route, problems: list[str]) -> None:
    url = route.request.url
    u = urlparse(url)
    if url.startswith(ORIGIN + "/"):
        path = HTML / unquote(u.path).lstrip("/")
        cors = {}
    else:
        path = VENDOR / u.netloc / unquote(u.path).lstrip("/")
        cors = {"Access-Control-Allow-Origin": "*"}
    if path.is_dir():
        path = path / "index.html"
    if not path.is_file():
        if route.request.resource_type not in MISSING_OK:
            problems.append(f"not served (no file {path}): {url}")
        route.abort()
        return
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    route.fulfill(status=200, body=path.read_bytes(), headers={"Content-Type": kind, **cors})


def _open(browser, page_path: str):
    ctx = browser.new_context()
    problems: list[str] = []
    ctx.route("**/*", lambda route: _serve(route, problems))
    page = ctx.new_page()
    page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
    page.on("console", lambda msg: problems.append(f"console error: {msg.text}")
            if msg.type == "error" else None)
    page.goto(f"{ORIGIN}/{page_path}", wait_until="load")
    page.wait_for_load_state("networkidle")
    return ctx, page, problems


def _real(problems: list[str]) -> list[str]:
    return [p for p in problems if not any(a in p for a in ALLOWED_ERRORS)]


def test_vendored_require_js_meets_the_pages_integrity_hash():
    assert HTML.is_dir(), f"{HTML} does not exist: build the book first"
    seen = 0
    for page in HTML.rglob("*.html"):
        for tag in re.findall(r"<script\b[^>]*\bintegrity=[^>]*>", page.read_text()):
            src = re.search(r'src="([^"]+)"', tag).group(1)
            algo, digest = re.search(r'integrity="(\w+)-([^"]+)"', tag).groups()
            u = urlparse(src)
            data = (VENDOR / u.netloc / u.path.lstrip("/")).read_bytes()
            assert base64.b64encode(hashlib.new(algo, data).digest()).decode() == digest, src
            seen += 1
    assert seen, "no script with an integrity hash: has myst-nb stopped embedding widgets?"


@pytest.mark.parametrize("page_path", pages())
def test_page_loads_without_errors_and_renders_its_widgets(browser, page_path):
    ctx, page, problems = _open(browser, page_path)
    try:
        views = page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count()
        if views:
            page.wait_for_selector(".jupyter-widgets", timeout=60_000)
            page.wait_for_load_state("networkidle")
        assert not _real(problems), "\n".join(_real(problems))
        # results tables are tables: no Markdown table text left in the page's prose
        prose = page.evaluate("""() => Array.from(document.querySelectorAll('p, li, div'))
            .filter(e => !e.closest('pre, code, script, .highlight') && e.children.length === 0)
            .map(e => e.textContent)""")
        bad = [t for t in prose if MARKDOWN_TABLE.search(t)]
        assert not bad, f"Markdown tables shown as text: {bad[:2]}"
        # no progress bar in the book: none among the saved widgets, no tqdm text in outputs
        state = page.evaluate("""() => Array.from(document.querySelectorAll(
            'script[type="application/vnd.jupyter.widget-state+json"]')).map(s => s.textContent)""")
        widget = r'"_model_name":\s*"(\w*Progress\w*)"'
        bars = [m for text in state for m in re.findall(widget, text)]
        assert not bars, f"{page_path}: progress-bar widgets saved in the page: {bars}"
        outputs = page.evaluate("""() => Array.from(document.querySelectorAll(
            '.cell_output pre, .output pre')).map(e => e.textContent)""")
        littered = [t for t in outputs if PROGRESS_TEXT.search(t)]
        assert not littered, f"{page_path}: progress-bar text in an output: {littered[0][:200]!r}"
        wanted = RESULTS_PAGES.get(page_path, 0)
        tables = page.locator(RESULTS_TABLES).count()
        assert tables >= wanted, f"{page_path}: {tables} results tables, expected {wanted}"
    finally:
        ctx.close()


_DIGEST = """async (img) => {
    const data = await (await fetch(img.src)).arrayBuffer();
    const hash = await crypto.subtle.digest("SHA-256", data);
    return Array.from(new Uint8Array(hash)).map(b => b.toString(16).padStart(2, "0")).join("");
}"""


def _shown(explorer) -> tuple[str, tuple[str, ...]]:
    """The numbers and the images (SHA-256 of their bytes: every view has its own blob URL,
    so the URLs differ even for equal pictures) the explorer shows now."""
    numbers = " | ".join(t.inner_text() for t in explorer.locator(".spade-explorer-numbers").all()
                         if t.is_visible())
    images = tuple(i.evaluate(_DIGEST) for i in explorer.locator("img").all() if i.is_visible())
    return numbers, images


def test_every_explorer_control_changes_the_numbers_and_the_image(browser):
    explorers = 0
    for page_path in pages():
        ctx, page, problems = _open(browser, page_path)
        try:
            boxes = page.locator(".spade-explorer")
            if not boxes.count():
                continue
            page.wait_for_selector(".spade-explorer .noUi-handle", timeout=60_000)
            for k in range(boxes.count()):
                box = boxes.nth(k)
                explorers += 1
                start = _shown(box)
                assert start[0] and start[1], f"{page_path} explorer {k}: nothing shown"
                handle = box.locator(".noUi-handle").first
                handle.focus()
                handle.press("End")
                moved = _shown(box)
                assert moved[0] != start[0], f"{page_path} explorer {k}: the slider does not " \
                                             "change the numbers"
                assert moved[1] != start[1], f"{page_path} explorer {k}: the slider does not " \
                                             "change the image"
                buttons = box.locator("button.widget-toggle-button")
                for b in range(1, buttons.count()):
                    before = _shown(box)
                    buttons.nth(b).click()
                    after = _shown(box)
                    assert after[0] != before[0] and after[1] != before[1], \
                        f"{page_path} explorer {k}: regime button {b} changes nothing shown"
            assert not _real(problems), "\n".join(_real(problems))
        finally:
            ctx.close()
    assert explorers, "no explorer in the built book (Chapters 6 and 7 have one each at least)"
