"""The preset opens in the real editor from the template route and runs from there (Queue button path)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from editor_session import in_editor

pytestmark = [pytest.mark.browser, pytest.mark.integration]
PRESET = "color_grade_film_grain_v1"
# the card shows the manifest's name, not the file name
_GRAPH = json.loads(
    (Path(__file__).resolve().parents[1] / "workflows" / f"{PRESET}.json").read_text(encoding="utf-8")
)
CARD_TITLE = _GRAPH["extra"]["ainfluencer"]["name"]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-artifacts"

_GRAPH_TYPES_JS = "() => window.app.graph._nodes.map((n) => n.type)"


def _open_template_and_queue(page) -> list[str]:
    """Click Templates → ainfluencer → the preset's card, then the Run button, as a person would."""
    # a fresh user directory opens the template browser by itself on first load (the editor's
    # first-run tutorial); a person then picks from it instead of clicking Templates
    category = page.get_by_text("ainfluencer", exact=True).first
    page.wait_for_timeout(2000)
    if not category.is_visible():
        page.get_by_text("Templates", exact=True).first.click()
    category.click()
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "template_browser.png"))
    page.get_by_text(CARD_TITLE, exact=True).first.click()
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


def test_the_template_opens_in_the_editor_and_its_queue_button_run_is_recorded(comfy_url):
    before = {j["job_id"] for j in httpx.get(f"{comfy_url}/ainfluencer/v1/jobs?limit=500").json()["jobs"]}
    types = in_editor(comfy_url, _open_template_and_queue)
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
