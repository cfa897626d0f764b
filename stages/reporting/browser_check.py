"""Open an HTML report in a real headless browser and check what a reader would see:
``python -m stages.reporting.browser_check results/report.html --shots docs/report`` (``make report-check``).

Playwright drives the system's Chromium (Debian's ``chromium``; ``--browser`` or ``SERVEBENCH_BROWSER`` for
another), offline: a request that leaves ``file://`` fails the check, as does any console error or uncaught
exception. Every section heading must be on the page and every Plotly figure drawn (its SVG present, with data);
screenshots of the top of the page and of a chosen figure are saved.
"""

from __future__ import annotations

import argparse
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from stages.common.errors import ServebenchError

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser(explicit: str | None = None) -> str | None:
    """The browser to drive: the option, ``SERVEBENCH_BROWSER``, else the first Chromium on PATH."""
    chosen = explicit or os.environ.get("SERVEBENCH_BROWSER")
    if chosen:
        return chosen
    return next((found for name in BROWSER_NAMES if (found := shutil.which(name))), None)


@dataclass
class PageCheck:
    """What the browser saw."""

    headings: list[str] = field(default_factory=list)
    figures: int = 0
    drawn: int = 0  # Plotly figures with their SVG and at least one trace drawn
    images: int = 0  # embedded PNGs that decoded
    console_errors: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)
    shots: list[Path] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        found = [f"console: {error}" for error in self.console_errors]
        found += [f"fetched from outside the file: {url}" for url in self.outside_requests]
        if self.drawn < self.figures:
            found.append(f"{self.figures - self.drawn} of {self.figures} interactive figures not drawn")
        return found


COUNT_DRAWN = """() => [...document.querySelectorAll('.plotly-graph-div')].filter(div =>
    div.querySelector('svg.main-svg') && div.data && div.data.length > 0 &&
    div.querySelectorAll('.scatterlayer .trace, .barlayer .trace').length > 0).length"""
COUNT_IMAGES = "() => [...document.images].filter(img => img.complete && img.naturalWidth > 0).length"


def inspect(page: Page, url: str, shots: Path | None, figure_shot: str | None) -> PageCheck:
    check = PageCheck()
    page.on("console", lambda message: check.console_errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: check.console_errors.append(str(error)))
    page.on("request", lambda request: None if request.url.startswith(("file:", "data:", "blob:", "about:"))
            else check.outside_requests.append(request.url))
    page.goto(url, wait_until="load")
    page.wait_for_function("() => typeof Plotly !== 'undefined'", timeout=30_000)
    page.wait_for_timeout(500)  # Plotly draws on the next frames
    check.headings = [text.strip() for text in page.locator("h1, h2, h3").all_inner_texts()]
    check.figures = page.locator(".plotly-graph-div").count()
    check.drawn = int(page.evaluate(COUNT_DRAWN))
    check.images = int(page.evaluate(COUNT_IMAGES))
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
        top = shots / "top.png"
        page.screenshot(path=str(top))
        check.shots.append(top)
        if figure_shot:
            target = page.locator("figure.report-figure", has_text=figure_shot).first
            if target.count():
                target.scroll_into_view_if_needed()
                path = shots / f"{figure_shot.replace(' ', '-')}.png"
                target.screenshot(path=str(path))
                check.shots.append(path)
    return check


def check_page(path: Path, shots: Path | None = None, figure_shot: str | None = None,
               browser: str | None = None) -> PageCheck:
    """Open ``path`` in headless Chromium (1280x900), with every request outside ``file://`` refused."""
    executable = find_browser(browser)
    if executable is None:
        raise ServebenchError("no Chromium found: install Debian's chromium (apt-get install chromium) or set "
                              "SERVEBENCH_BROWSER to a Chromium or Chrome binary")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = launched.new_page(viewport={"width": 1280, "height": 900})
            page.route("http*://**", lambda route: route.abort())
            return inspect(page, path.resolve().as_uri(), shots, figure_shot)
        finally:
            launched.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="+", type=Path)
    parser.add_argument("--shots", type=Path, help="folder for screenshots (one subfolder per page)")
    parser.add_argument("--figure", help="also screenshot the first figure whose caption contains this text")
    parser.add_argument("--browser", help="Chromium binary (default: SERVEBENCH_BROWSER, else chromium on PATH)")
    args = parser.parse_args()
    failed = 0
    for path in args.pages:
        check = check_page(path, args.shots / path.stem if args.shots else None, args.figure, args.browser)
        print(f"{path}: {len(check.headings)} headings, {check.drawn}/{check.figures} interactive figures drawn, "
              f"{check.images} images, {len(check.console_errors)} console errors, "
              f"{len(check.outside_requests)} outside requests; shots: {', '.join(map(str, check.shots)) or '-'}")
        for problem in check.problems:
            print(f"  problem: {problem}")
        failed += bool(check.problems)
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
