"""The preset opens in the real editor from the template route and runs from there (Queue button path)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from browser_oracle import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.integration]
PRESET = "color_grade_film_grain_v1"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-artifacts"

_GRAPH_TYPES_JS = "() => window.app.graph._nodes.map((n) => n.type)"


def _open_template_and_queue(comfy_url: str) -> list[str]:
    """Click Templates → ainfluencer → the preset's card, then the Run button, as a person would."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(comfy_url)
            page.wait_for_function("() => !!(window.app && window.app.graph && window.app.vueAppReady)")
            # a fresh user directory opens the template browser by itself on first load (the editor's
            # first-run tutorial); a person then picks from it instead of clicking Templates
            category = page.get_by_text("ainfluencer", exact=True).first
            page.wait_for_timeout(2000)
            if not category.is_visible():
                page.get_by_text("Templates", exact=True).first.click()
            category.click()
            SCREENSHOTS.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "template_browser.png"))
            page.get_by_text(PRESET, exact=True).first.click()
            page.wait_for_function(f"() => ({_GRAPH_TYPES_JS})().includes('AInfluencerFilmGrainVideo')")
            page.wait_for_timeout(500)
            page.screenshot(path=str(SCREENSHOTS / f"editor_{PRESET}.png"))
            types = page.evaluate(_GRAPH_TYPES_JS)
            page.get_by_role("button", name="Run", exact=True).first.click()
            page.wait_for_function(
                "async () => (await (await fetch('/queue')).json()).queue_pending.length "
                "+ (await (await fetch('/queue')).json()).queue_running.length > 0 "
                "|| (await (await fetch('/history')).text()).length > 2"
            )
            return types
        finally:
            browser.close()


def test_the_template_opens_in_the_editor_and_its_queue_button_run_is_recorded(comfy_url):
    before = {j["job_id"] for j in httpx.get(f"{comfy_url}/ainfluencer/v1/jobs?limit=500").json()["jobs"]}
    with ThreadPoolExecutor(max_workers=1) as pool:  # Playwright's sync API wants a loop-free thread
        types = pool.submit(_open_template_and_queue, comfy_url).result()
    assert {"AInfluencerColorGradeVideo", "AInfluencerFilmGrainVideo", "AInfluencerSaveVideo"} <= set(types)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        jobs = httpx.get(f"{comfy_url}/ainfluencer/v1/jobs?limit=500").json()["jobs"]
        new = [j for j in jobs if j["job_id"] not in before]
        if new and new[0]["status"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.5)
    (job,) = new
    assert (job["source"], job["preset_id"], job["status"]) == ("editor", PRESET, "completed"), job["error"]
    assert job["artifacts"] and job["artifacts"][0]["kind"] == "video"
