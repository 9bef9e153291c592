"""The built site checked the way a reader uses it: served on 127.0.0.1 and opened in headless Chromium.

Playwright drives the system's Chromium (Debian's `chromium` package; `make browser` installs it). Every
page must load with no console error, no failed or off-site request, every image decoded (natural width
above 0) and every internal link (and its `#anchor`) resolving; search must find a page.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from labkit.workbook import book

BROWSER_ENV = "LABKIT_CHROMIUM"
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Flags for a machine without a network or a screen: nothing tries to reach Google's services.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
_IMAGES_JS = """async () => {
  const images = Array.from(document.images);
  for (const img of images) img.loading = "eager";
  await Promise.all(images.map((img) => img.decode().catch(() => null)));
  return images.map((img) => [img.currentSrc || img.src, img.naturalWidth]);
}"""
_LINKS_JS = "() => Array.from(document.querySelectorAll('a[href]')).map((a) => a.href)"
_IDS_JS = "() => Array.from(document.querySelectorAll('[id], a[name]')).map((e) => e.id || e.name)"


class BrowserMissing(FileNotFoundError):
    """No Chromium to drive; the message says how to install one."""


@dataclass
class PageResult:
    """What one page did in the browser: its problems, none when it is fine."""

    page: str
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    broken_images: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)

    def problems(self) -> list[str]:
        """Every problem of the page but its links (checked across pages by `broken_links`)."""
        return [
            *(f"console error: {e}" for e in self.console_errors),
            *(f"request failed: {r}" for r in self.failed_requests),
            *(f"image not shown: {i}" for i in self.broken_images),
        ]


def browser_path() -> str:
    """The Chromium executable: $LABKIT_CHROMIUM, else one on PATH; BrowserMissing says how to get one."""
    wanted = os.environ.get(BROWSER_ENV)
    if wanted:
        if shutil.which(wanted):
            return str(shutil.which(wanted))
        raise BrowserMissing(f"{BROWSER_ENV}={wanted} is not an executable; point it at Chromium or Chrome.")
    for name in _CANDIDATES:
        if found := shutil.which(name):
            return found
    raise BrowserMissing(
        "no Chromium found to check the site in: install it with `make browser` (apt-get install chromium), "
        f"or set {BROWSER_ENV} to a Chromium or Chrome executable."
    )


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        return None


@contextmanager
def serve(site: Path) -> Iterator[str]:
    """Serve `site` on 127.0.0.1 (a free port) for the block; yield its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium driven by Playwright, closed after the block."""
    try:
        from playwright.sync_api import sync_playwright
    except ModuleNotFoundError:
        raise BrowserMissing(f"Playwright is not installed; {book.INSTALL_HINT}") from None

    from playwright.sync_api import Error as PlaywrightError

    executable = browser_path()
    with sync_playwright() as driver:
        try:
            browser = driver.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        except PlaywrightError as error:
            first = str(error).strip().splitlines()[0]
            raise BrowserMissing(f"{executable} did not start as headless Chromium ({first}).") from None
        try:
            yield browser
        finally:
            browser.close()


def _collect_errors(page: Any, errors: list[str]) -> None:
    """Append the page's console errors and uncaught exceptions to `errors` as they happen."""
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))


def visit(browser: Any, url: str, page_name: str) -> PageResult:
    """Open one page and record its console errors, failed requests, undecoded images, links and ids."""
    result = PageResult(page_name)
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    page = context.new_page()

    def offsite(route: Any) -> None:
        result.failed_requests.append(f"{route.request.url} (off-site: the site must work offline)")
        route.abort()

    page.route(lambda u: not u.startswith(origin), offsite)
    _collect_errors(page, result.console_errors)
    page.on(
        "response",
        lambda r: result.failed_requests.append(f"{r.url} ({r.status})") if r.status >= 400 else None,
    )
    try:
        page.goto(url, wait_until="load")
        result.broken_images = [src for src, width in page.evaluate(_IMAGES_JS) if width <= 0]
        result.links = [link for link in page.evaluate(_LINKS_JS) if link.startswith(origin)]
        result.ids = set(page.evaluate(_IDS_JS))
    finally:
        context.close()
    return result


def broken_links(results: list[PageResult], site: Path) -> list[str]:
    """Internal links whose file is missing, or whose `#anchor` names no element of the target page."""
    ids = {r.page: r.ids for r in results}
    broken = []
    for result in results:
        for link in result.links:
            parts = urlsplit(link)
            target = unquote(parts.path).lstrip("/") or "index.html"
            if target.endswith("/"):
                target += "index.html"
            if not (site / target).is_file():
                broken.append(f"{result.page} -> {link} (no such file)")
            elif parts.fragment and target in ids and unquote(parts.fragment) not in ids[target]:
                broken.append(f"{result.page} -> {link} (no element #{parts.fragment})")
    return broken


def search_hits(browser: Any, base: str, query: str) -> tuple[list[str], list[str]]:
    """The pages Sphinx's search page lists for `query`, and the console errors it logged meanwhile."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = browser.new_page(viewport=VIEWPORTS["desktop"])
    errors: list[str] = []
    _collect_errors(page, errors)
    try:
        page.goto(f"{base}search.html?q={query}", wait_until="load")
        try:
            page.wait_for_selector("#search-results ul.search li a", timeout=20_000)
        except PlaywrightTimeout:
            return [], errors  # nothing listed within 20 s
        links = page.eval_on_selector_all("#search-results ul.search li a", "links => links.map(a => a.href)")
        return [unquote(urlsplit(link).path) for link in links], errors
    finally:
        page.close()


def screenshots(browser: Any, base: str, *, pages: list[str], folder: Path) -> list[Path]:
    """Screenshots of `pages` at desktop and phone widths, saved in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    for width_name, viewport in VIEWPORTS.items():
        context = browser.new_context(viewport=viewport, is_mobile=width_name == "phone")
        try:
            page = context.new_page()
            for name in pages:
                page.goto(base + name, wait_until="load")
                target = folder / f"{Path(name).stem}-{width_name}.png"
                page.screenshot(path=str(target))
                saved.append(target)
        finally:
            context.close()
    return saved


SCREENSHOT_PAGES = ["index.html", "notebooks/03_quantization.html", "docs/report.html"]
SEARCH = ("quantization", "/notebooks/03_quantization.html")


def verify(site: Path, shots: Path) -> tuple[int, list[str], list[Path]]:
    """Every check on a built site: pages checked, problems (empty when all is well), screenshots saved."""
    with serve(site) as base, chromium() as browser:
        results, problems = check_site(site, browser, base)
        query, expected = SEARCH
        hits, errors = search_hits(browser, base, query)
        if expected not in hits:
            problems.append(f"search for {query!r} lists {hits}, not {expected}")
        problems += [f"search.html?q={query}: console error: {error}" for error in errors]
        saved = screenshots(browser, base, pages=SCREENSHOT_PAGES, folder=shots)
    return len(results), problems, saved


def check_site(site: Path, browser: Any, base: str) -> tuple[list[PageResult], list[str]]:
    """Visit every page of `site`; return each page's result and every problem found, named by page."""
    names = [str(p.relative_to(site)) for p in book.pages(site)]
    results = [visit(browser, base + name, name) for name in names]
    problems = [f"{r.page}: {p}" for r in results for p in r.problems()]
    return results, problems + broken_links(results, site)
