"""Open the AInfluencer Studio in headless Debian chromium (full page or the editor's sidebar tab) and check
what a user would meet: console errors, failed requests, broken links, axe-core violations, screenshots."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from browser_oracle import CHROMIUM, CHROMIUM_ARGS

REPO = Path(__file__).resolve().parent.parent
AXE_DIR = REPO / "tests" / "vendor" / "axe-core"
AXE_VERSION = "4.10.3"  # npm axe-core, vendored with its licence (MPL-2.0)
AXE_SHA256 = "880970c081707360e64f34cea25ff91892f5bc95675b0776925b9709dd8a68bb"
ARTIFACTS = REPO / "test-artifacts" / "ui"
STUDIO_ROOT = ".ainf-studio"
VIEWPORT = {"width": 1280, "height": 800}
THEMES = ("light", "dark")

_EDITOR_READY_JS = "() => !!(window.app && window.app.graph && window.app.vueAppReady)"
_SECTION_READY_JS = """
(id) => {
  const main = document.querySelector('.ainf-studio .ainf-main')
  return !!main && main.getAttribute('aria-busy') === 'false' && !!main.querySelector('.ainf-section-' + id)
}
"""


def axe_source() -> str:
    """The vendored axe-core script, refused when it is not the pinned file."""
    data = (AXE_DIR / "axe.min.js").read_bytes()
    if hashlib.sha256(data).hexdigest() != AXE_SHA256:
        raise AssertionError("tests/vendor/axe-core/axe.min.js is not the pinned axe-core file")
    return data.decode("utf-8")


@dataclass
class PageWatch:
    """What went wrong on a page while it was open: console errors, uncaught exceptions, failed requests."""

    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Everything recorded, one line each."""
        return [*self.console_errors, *self.failed_requests]

    def clear(self) -> None:
        """Forget what was recorded so far (to check one step at a time)."""
        self.console_errors.clear()
        self.failed_requests.clear()


def watch_page(page: Any, ignore: tuple[str, ...] = ()) -> PageWatch:
    """Record console errors, page errors and failed or 4xx/5xx requests of `page`."""
    watch = PageWatch()
    # the editor asks api.comfy.org for release notes; a machine without that network is not the Studio's
    # failure, and the browser echoes each such lookup to the console
    ignore = (*ignore, "net::ERR_NAME_NOT_RESOLVED")

    def on_console(msg: Any) -> None:
        if msg.type == "error" and not any(part in msg.text for part in ignore):
            watch.console_errors.append(f"console: {msg.text}")

    def on_response(response: Any) -> None:
        if response.status >= 400 and not any(part in response.url for part in ignore):
            watch.failed_requests.append(f"{response.status} {response.request.method} {response.url}")

    def on_failed(request: Any) -> None:
        failure = request.failure or ""
        # a navigation away aborts in-flight media and polling requests: not a failure the user sees
        skipped = any(part in request.url or part in failure for part in ignore)
        if "ERR_ABORTED" not in failure and not skipped:
            watch.failed_requests.append(f"failed {request.method} {request.url}: {failure}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: watch.console_errors.append(f"pageerror: {exc}"))
    page.on("response", on_response)
    page.on("requestfailed", on_failed)
    return watch


@dataclass
class StudioBrowser:
    """One chromium for a test module; `page()` opens pages on the ComfyUI at `base_url`."""

    base_url: str
    browser: Any
    context: Any

    def page(self, color_scheme: str = "dark") -> tuple[Any, PageWatch]:
        """A new page (1280×800) with its watch."""
        page = self.context.new_page()
        page.emulate_media(color_scheme=color_scheme)
        page.set_default_timeout(30_000)
        return page, watch_page(page)

    def open_full(
        self, section: str = "setup", tail: str = "", color_scheme: str = "dark"
    ) -> tuple[Any, PageWatch]:
        """The full-page Studio at /ainfluencer/#/<section><tail>, waited until the section has rendered."""
        page, watch = self.page(color_scheme)
        page.goto(f"{self.base_url}/ainfluencer/#/{section}{tail}")
        wait_section(page, section)
        return page, watch

    def open_sidebar(self, color_scheme: str = "dark") -> tuple[Any, PageWatch]:
        """The graph editor with the AInfluencer sidebar tab opened (Setup shown)."""
        page, watch = self.page(color_scheme)
        page.goto(self.base_url + "/")
        page.wait_for_function(_EDITOR_READY_JS, timeout=120_000)
        watch.clear()  # the editor's own start-up (user.css, api.comfy.org lookups) is not the Studio's
        open_sidebar_tab(page)
        return page, watch


@contextmanager
def studio_browser(base_url: str) -> Iterator[StudioBrowser]:
    """Launch Debian chromium with clipboard access for `base_url` (Copy details is read back in tests)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
            yield StudioBrowser(base_url.rstrip("/"), browser, context)
        finally:
            browser.close()


_DIALOG_CLOSE = ".p-dialog button:has(i.pi-times)"  # the template dialog's close button has no label


def open_sidebar_tab(page: Any) -> None:
    """Click the AInfluencer icon of the editor's sidebar and wait for the Studio inside it.

    A fresh ComfyUI greets a new user with its template dialog a moment after start-up; it is closed
    with its own close button, as a user would, whenever it is in the way.
    """
    for _ in range(10):
        try:
            page.locator(".ainfluencer-tab-button").first.click(timeout=3_000)
            break
        except Exception:  # playwright's TimeoutError: something covers the sidebar
            close = page.locator(_DIALOG_CLOSE)
            if close.count():
                close.last.click()
    page.wait_for_selector(f"{STUDIO_ROOT}.ainf-embedded .ainf-main[aria-busy='false']")
    while page.locator(_DIALOG_CLOSE).count():
        page.locator(_DIALOG_CLOSE).last.click()
        page.wait_for_timeout(300)


def wait_section(page: Any, section: str, timeout_ms: float = 30_000) -> None:
    """Wait until the Studio shows `section` fully rendered."""
    page.wait_for_function(_SECTION_READY_JS, arg=section, timeout=timeout_ms)


def go_to(page: Any, section: str) -> None:
    """Click a section in the Studio's nav and wait for it."""
    page.locator(f"{STUDIO_ROOT} .ainf-nav").get_by_text(_TITLES[section], exact=True).click()
    wait_section(page, section)


_TITLES = {
    "setup": "Setup",
    "create": "Create",
    "jobs": "Gallery",
    "models": "Models",
    "budget": "Budget",
    "characters": "Characters",
}


def axe_violations(page: Any, selector: str = STUDIO_ROOT) -> list[str]:
    """Serious and critical axe-core violations inside `selector`, one line each (rule, impact, nodes)."""
    if not page.evaluate("() => !!window.axe"):
        # evaluated through the devtools protocol, which the page's content security policy does not govern
        page.evaluate(axe_source() + "\n;undefined")
    result = page.evaluate(
        """async (selector) => {
          const r = await window.axe.run(document.querySelector(selector), { resultTypes: ['violations'] })
          return JSON.stringify(r.violations)
        }""",
        selector,
    )
    lines = []
    for violation in json.loads(result):
        if violation["impact"] in ("serious", "critical"):
            targets = [", ".join(map(str, node["target"])) for node in violation["nodes"][:5]]
            lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} at {targets}")
    return lines


def broken_links(page: Any, selector: str = STUDIO_ROOT) -> list[str]:
    """Links inside `selector` whose same-site target answers 4xx/5xx (hash links are the Studio's routes)."""
    hrefs = page.evaluate(
        """(selector) => [...document.querySelectorAll(selector + ' a[href]')]
              .map((a) => a.href).filter((h) => h.startsWith(location.origin))""",
        selector,
    )
    broken = []
    for href in sorted(set(hrefs)):
        target = href.split("#", 1)[0]
        try:
            with urllib.request.urlopen(target, timeout=30) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        if status >= 400:
            broken.append(f"{status} {href}")
    return broken


def set_editor_theme(page: Any, theme: str) -> None:
    """Switch the editor's colour palette ("light" or "dark") as its settings dialog would."""
    page.evaluate("(theme) => window.app.extensionManager.setting.set('Comfy.ColorPalette', theme)", theme)
    page.wait_for_timeout(300)


def screenshot_themes(page: Any, name: str, embedded: bool = False) -> list[Path]:
    """Screenshots of the page in light and dark into test-artifacts/ui/<name>-<theme>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    paths = []
    for theme in THEMES:
        if embedded:
            set_editor_theme(page, theme)
        else:
            page.emulate_media(color_scheme=theme)
            page.wait_for_function("(t) => document.documentElement.dataset.theme === t", arg=theme)
        path = ARTIFACTS / f"{name}-{theme}.png"
        page.screenshot(path=str(path), full_page=not embedded)
        paths.append(path)
    return paths


def section_checks(page: Any, watch: PageWatch, name: str, embedded: bool = False) -> list[str]:
    """Every check of the issue for one rendered section: console, requests, links, axe (both themes)."""
    problems = [*watch.problems(), *broken_links(page)]
    for path in screenshot_themes(page, name, embedded):
        problems += [f"{path.stem}: {line}" for line in axe_violations(page)]
    return problems
