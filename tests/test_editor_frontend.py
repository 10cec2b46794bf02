"""What a creator sees in the graph editor: preset cards with titles, summaries, needs and real thumbnails,
remote nodes priced before Run, and job toasts that name the output and link to the job in the Studio."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import EXAMPLES
from editor_session import in_editor

pytestmark = [pytest.mark.browser, pytest.mark.integration]
V1 = "/ainfluencer/v1"
WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"
# a card is the nearest ancestor of its title that also holds its thumbnail
_CARD_JS = """(h) => {
  let card = h.parentElement
  while (card && !card.querySelector('img')) card = card.parentElement
  const images = card ? Array.from(card.querySelectorAll('img')) : []
  const canvas = Object.assign(document.createElement('canvas'), { width: 8, height: 8 })
  const small = (i) => {  // the picture drawn, shrunk to 8×8 RGB to compare with the files
    const ctx = canvas.getContext('2d')
    ctx.drawImage(i, 0, 0, 8, 8)
    return Array.from(ctx.getImageData(0, 0, 8, 8).data).filter((_, k) => k % 4 !== 3)
  }
  return { title: h.textContent.trim(), text: card ? card.innerText : '',
           images: images.filter((i) => i.naturalWidth > 0).map(small) }
}"""


def _open_pack_templates(page) -> list[dict]:
    page.wait_for_timeout(2000)  # a fresh user directory opens the template browser by itself
    category = page.get_by_text("ainfluencer", exact=True).first
    if not category.is_visible():
        page.get_by_text("Templates", exact=True).first.click()
    category.click()
    page.wait_for_timeout(1000)
    cards = []
    for heading in page.locator("h3").all():
        heading.scroll_into_view_if_needed()
        page.wait_for_timeout(300)  # thumbnails load as they scroll into view
        cards.append(heading.evaluate(_CARD_JS))
    return cards


def _closest_thumbnail(drawn: list[int]) -> str:
    """The preset whose thumbnail file looks most like the drawn picture (8×8 RGB, mean difference)."""
    from PIL import Image

    def distance(path: Path) -> float:
        with Image.open(path) as image:
            pixels = [
                v for rgb in image.convert("RGB").resize((8, 8), Image.Resampling.BOX).getdata() for v in rgb
            ]
        return sum(abs(a - b) for a, b in zip(pixels, drawn, strict=True)) / len(pixels)

    return min(sorted(WORKFLOWS.glob("*.jpg")), key=distance).stem


def test_each_preset_card_shows_its_title_summary_needs_and_its_own_thumbnail(comfy_url):
    cards = httpx.get(f"{comfy_url}{V1}/templates").json()["templates"]
    shown = {c["title"]: c for c in in_editor(comfy_url, _open_pack_templates)}
    for card in cards:
        assert card["title"] in shown, f"no card titled {card['title']!r}: {sorted(shown)}"
        seen = shown[card["title"]]
        assert card["summary"][:40].replace("-", " ") in seen["text"]
        for need in card["needs"]:
            assert need["label"] in seen["text"], (card["id"], need)
        assert seen["images"], f"{card['id']}: no thumbnail drawn"
        assert _closest_thumbnail(seen["images"][0]) == card["id"], f"{card['id']}: another preset's picture"
    assert not {c["id"] for c in cards} & set(shown), "a card is titled with its file name"
    assert not any("@" in title for title in shown), "an engine variant is offered as its own card"


def test_thumbnails_are_distinct_pictures_one_per_card():
    import hashlib

    from PIL import Image

    digests = {}
    for graph in sorted(WORKFLOWS.glob("*.json")):
        thumbnail = graph.with_suffix(".jpg")
        with Image.open(thumbnail) as image:
            assert image.size == (512, 512) and len(np.unique(np.asarray(image.convert("L")))) > 64, (
                thumbnail.name
            )
        digests[hashlib.sha256(thumbnail.read_bytes()).hexdigest()] = thumbnail.name
    assert len(digests) == len(list(WORKFLOWS.glob("*.json")))


def _price_on_load(page) -> list[dict]:
    graph = json.loads((WORKFLOWS / "variants" / "image_to_video_v1@provider_fal.json").read_text())
    page.evaluate(
        "(g) => window.app.loadGraphData(g, true, true, null, {showMissingNodesDialog: false})", graph
    )
    node = "window.app.graph._nodes.find((n) => n.type === 'AInfluencerFalImageToVideo')"
    page.wait_for_function(f"() => !!{node}.ainfluencerPrice")
    first = page.evaluate(f"() => ({{...{node}.ainfluencerPrice, badge: {node}.ainfluencerPriceBadge.text}})")
    page.evaluate(
        f"""() => {{ const n = {node}
                     const w = n.widgets.find((w) => w.name === 'duration')
                     n.ainfluencerPrice = null
                     w.value = '10'; w.callback(w.value) }}"""
    )
    page.wait_for_function(f"() => !!{node}.ainfluencerPrice")
    second = page.evaluate(
        f"() => ({{...{node}.ainfluencerPrice, badge: {node}.ainfluencerPriceBadge.text}})"
    )
    return [first, second]


def test_a_remote_node_shows_its_price_before_run_and_the_price_follows_its_widgets(comfy_url):
    graph = json.loads((WORKFLOWS / "variants" / "image_to_video_v1@provider_fal.json").read_text())
    widgets = next(n for n in graph["nodes"] if n["type"] == "AInfluencerFalImageToVideo")["widgets_values"]
    first, second = in_editor(comfy_url, _price_on_load)
    assert first["engine"] == "provider_fal" and first["credits"] > 0, first
    assert f"{first['credits']:g}" in first["badge"] and "credits" in first["badge"]
    assert second["credits"] > first["credits"], (widgets, first, second)


def _toast_for_a_run(comfy_url: str):
    def steps(page):
        with httpx.Client(base_url=comfy_url, timeout=60) as client:
            upload = client.post(
                f"{V1}/uploads", files={"file": ("portrait.png", (EXAMPLES / "portrait.png").read_bytes())}
            )
            body = {"inputs": {"image": upload.json()["name"]}, "quality_level": "low"}
            job_id = client.post(f"{V1}/presets/upscale_denoise_image_v1/run", json=body).json()["job_id"]
            deadline = time.monotonic() + 300
            while client.get(f"{V1}/jobs/{job_id}").json()["status"] not in ("completed", "failed"):
                assert time.monotonic() < deadline
                time.sleep(0.5)
            job = client.get(f"{V1}/jobs/{job_id}").json()
        link = page.locator(f'a[href="/ainfluencer/#/jobs/{job_id}"]')
        link.wait_for()
        return job, link.evaluate("(a) => a.closest('.p-toast-message').innerText")

    return in_editor(comfy_url, steps)


def test_a_finished_jobs_toast_names_its_output_and_links_to_the_job_in_the_studio(comfy_url):
    job, toast = _toast_for_a_run(comfy_url)
    assert job["status"] == "completed", job["error"]
    assert "AInfluencer job finished" in toast
    assert job["artifacts"][0]["filename"] in toast
    assert f"/ainfluencer/#/jobs/{job['job_id']}" in toast


def test_comfyui_lists_one_template_per_preset_and_no_engine_variant(comfy_url):
    listed = httpx.get(f"{comfy_url}/workflow_templates").json()
    ours = next(names for module, names in listed.items() if "cinematic_finish_v1" in names)
    assert sorted(ours) == sorted(p.stem for p in WORKFLOWS.glob("*.json"))
    assert not any("@" in name for name in ours)
