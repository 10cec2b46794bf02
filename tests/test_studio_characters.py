"""The Studio's Characters section: its checklist records every answer the consent route requires, and in the
browser a creator creates a character, adds the sample portrait, records consent and deletes it again."""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from ainfluencer.sidecar.jobs.characters import ConsentChecklist
from conftest import EXAMPLES
from studio_browser import section_checks, studio_browser

CHARACTERS_JS = Path(__file__).resolve().parent.parent / "web" / "studio" / "sections" / "characters.js"
V1 = "/ainfluencer/v1"


def test_the_consent_checklist_asks_every_answer_the_consent_route_records():
    text = CHARACTERS_JS.read_text(encoding="utf-8")
    block = re.search(r"export const CONSENT_ITEMS = \[(.*?)\n\];", text, re.S)
    assert block
    keys = re.findall(r'\["(\w+)",', block.group(1))
    assert sorted(keys) == sorted(ConsentChecklist.model_fields)
    assert "I have permission to use this face/identity for generation" in block.group(1)  # spec §9.5's label


def _create_add_consent(base_url: str, name: str) -> dict:
    with studio_browser(base_url) as browser:
        page, watch = browser.open_full("characters")
        page.get_by_label("Name", exact=True).fill(name)
        page.get_by_label("Description (optional)").fill("travel host")
        page.get_by_role("button", name="Create character").click()
        card = page.locator("li.ainf-characters-card", has_text=name)
        card.get_by_label(f"Add a reference photo of {name}").set_input_files(str(EXAMPLES / "portrait.png"))
        card.get_by_role("img", name=re.compile("^Preview of portrait")).wait_for()
        card.get_by_role("button", name="Add this photo").click()
        card = page.locator("li.ainf-characters-card", has_text=name)
        reference = card.get_by_role("img", name=f"Reference photo 1 of {name}")
        reference.wait_for()
        page.wait_for_function(
            "(img) => img.complete && img.naturalWidth > 0", arg=reference.element_handle()
        )
        card.locator("summary").click()
        record = card.get_by_role("button", name="Record consent")
        card.get_by_label("Confirmed by (your name)").fill("Ana (creator)")
        boxes = card.locator(".ainf-checklist input[type=checkbox]")
        steps = {"boxes": boxes.count()}
        for i in range(boxes.count() - 1):
            boxes.nth(i).check()
        steps["disabled_with_one_box_open"] = record.is_disabled()
        boxes.nth(boxes.count() - 1).check()
        record.click()
        page.locator("li.ainf-characters-card", has_text=name).get_by_text(
            "Consent recorded by Ana (creator)"
        ).wait_for()
        steps["problems"] = section_checks(page, watch, "characters")
        listed = httpx.get(f"{base_url}{V1}/characters?limit=500").json()["characters"]
        steps["record"] = next(c for c in listed if c["name"] == name)
        card = page.locator("li.ainf-characters-card", has_text=name)
        card.get_by_role("button", name=f"Delete {name}").click()
        dialog = page.get_by_role("dialog", name=f"Delete {name}?")
        steps["kept_after_keep_it"] = _keep_then_delete(page, dialog, name)
        steps["problems"] += watch.problems()
        return steps


def _keep_then_delete(page, dialog, name: str) -> bool:
    dialog.get_by_role("button", name="Keep it").click()
    kept = page.locator("li.ainf-characters-card", has_text=name).count() == 1
    page.locator("li.ainf-characters-card", has_text=name).get_by_role(
        "button", name=f"Delete {name}"
    ).click()
    page.get_by_role("dialog", name=f"Delete {name}?").get_by_role(
        "button", name="Delete", exact=True
    ).click()
    page.locator("li.ainf-characters-card", has_text=name).wait_for(state="detached")
    return kept


@pytest.mark.integration
@pytest.mark.browser
def test_a_character_is_created_given_the_sample_portrait_and_consent_then_deleted(comfy_url):
    name = f"Mia {uuid.uuid4().hex[:6]}"
    with ThreadPoolExecutor(max_workers=1) as pool:  # Playwright's sync API wants a loop-free thread
        steps = pool.submit(_create_add_consent, comfy_url, name).result()
    record = steps.pop("record")
    assert steps == {
        "boxes": 5,
        "disabled_with_one_box_open": True,
        "kept_after_keep_it": True,
        "problems": [],
    }
    assert record["description"] == "travel host" and len(record["references"]) == 1
    assert len(record["references"][0]["sha256"]) == 64
    (consent,) = record["consents"]
    assert consent["confirmed_by"] == "Ana (creator)" and set(consent["checklist"].values()) == {True}
    listed = httpx.get(f"{comfy_url}{V1}/characters?limit=500").json()["characters"]
    assert name not in [c["name"] for c in listed]
