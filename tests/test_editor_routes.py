"""The graph editor's routes: a remote node's price before Run, and what each preset's template card says."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from ainfluencer.sidecar.core.paths import WORKFLOWS_DIR
from ainfluencer.sidecar.graph.convert import ui_to_api
from ainfluencer.sidecar.host.app import Sidecar, build_sidecar
from conftest import CANARY, EXAMPLES

V1 = "/ainfluencer/v1"


@pytest.fixture
def sidecar(tmp_path: Path, host, fake_adapters, monkeypatch) -> Sidecar:
    """The shipped presets over the fake host with test adapters, no key connected (`client` serves it)."""
    for name in ("KLING", "FAL", "RUNWARE", "SYNCLABS"):
        monkeypatch.delenv(f"AINFLUENCER_PROVIDER_{name}_API_KEY", raising=False)
    shutil.copy(EXAMPLES / "portrait.png", host.input_dir / "portrait.png")
    return build_sidecar(host, tmp_path / "user", host.resolve_output, adapters=fake_adapters)


def _widget_inputs(sidecar: Sidecar, graph_file: Path, node_id: str) -> tuple[str, dict]:
    """A node's type and its widget values by input name, as the editor holds them (links left out)."""
    graph = json.loads(graph_file.read_text(encoding="utf-8"))
    node = ui_to_api(graph, sidecar.host.node_definitions())[node_id]
    widgets = {k: v for k, v in node["inputs"].items() if not isinstance(v, list)}
    return node["class_type"], widgets


async def _node_price(client, node_type: str, inputs: dict) -> dict:
    resp = await client.post(f"{V1}/nodes/price", json={"node_type": node_type, "inputs": inputs})
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_a_remote_nodes_price_is_what_the_run_of_its_graph_would_reserve(client, sidecar):
    sidecar.registry.vault.set("provider_fal", CANARY)
    graph_file = WORKFLOWS_DIR / "variants" / "image_to_video_v1@provider_fal.json"
    node_type, widgets = _widget_inputs(sidecar, graph_file, "2")
    price = await _node_price(client, node_type, widgets)
    body = {"inputs": {"image": "portrait.png"}, "engine": "provider_fal"}
    estimate = await (await client.post(f"{V1}/presets/image_to_video_v1/estimate", json=body)).json()
    assert [step["credits"] for step in estimate["steps"]] == [price["credits"]] and price["credits"] > 0
    assert (price["engine"], price["engine_connected"]) == ("provider_fal", True)


async def test_the_price_follows_the_widgets_a_longer_clip_costs_more(client, sidecar):
    graph_file = WORKFLOWS_DIR / "variants" / "image_to_video_v1@provider_fal.json"
    node_type, widgets = _widget_inputs(sidecar, graph_file, "2")
    model = "fal-ai/minimax/hailuo-02/standard/image-to-video"
    short = await _node_price(client, node_type, {**widgets, "model": model, "duration": "6"})
    long = await _node_price(client, node_type, {**widgets, "model": model, "duration": "10"})
    assert long["credits"] > short["credits"] > 0


async def test_an_auto_node_without_a_connected_engine_is_priced_on_the_first_engine_that_offers_it(client):
    price = await _node_price(client, "AInfluencerImageToVideo", {"engine": "auto", "duration": "short"})
    assert (price["engine"], price["engine_connected"]) == ("provider_kling", False) and price["credits"] > 0


async def test_a_value_the_model_refuses_is_a_validation_error_naming_it(client):
    resp = await client.post(
        f"{V1}/nodes/price",
        json={
            "node_type": "AInfluencerFalImageToVideo",
            "inputs": {"model": "fal-ai/minimax/hailuo-02/pro/image-to-video", "duration": "10"},
        },
    )
    body = await resp.json()
    assert resp.status == 422 and body["error"] == "VALIDATION_ERROR"


async def test_a_local_node_has_no_price_route_answer(client):
    resp = await client.post(f"{V1}/nodes/price", json={"node_type": "AInfluencerFilmGrain", "inputs": {}})
    assert resp.status == 422 and (await resp.json())["error"] == "VALIDATION_ERROR"


async def test_the_price_route_is_in_the_openapi_document(client):
    doc = await (await client.get(f"{V1}/openapi.json")).json()
    assert "post" in doc["paths"][f"{V1}/nodes/price"] and "get" in doc["paths"][f"{V1}/templates"]


async def test_each_preset_card_has_a_human_title_a_one_line_summary_and_what_it_needs(client):
    cards = {c["id"]: c for c in (await (await client.get(f"{V1}/templates")).json())["templates"]}
    assert set(cards) == {p.stem for p in WORKFLOWS_DIR.glob("*.json")}  # one card per top-level graph
    for card in cards.values():
        assert card["title"] != card["id"] and "_" not in card["title"]
        assert 0 < len(card["summary"]) <= 100 and "\n" not in card["summary"]
    needs = {pid: {(n["kind"], n["label"], n["optional"]) for n in c["needs"]} for pid, c in cards.items()}
    assert needs["image_to_video_v1"] == {("key", "Kling key", False), ("key", "fal.ai key", True)}
    assert ("node_pack", "LivePortrait nodes", True) in needs["talking_clip_v1"]
    assert ("key", "Sync Labs key", False) in needs["talking_clip_v1"]
    assert ("model", "sdxl-base-1.0", True) in needs["photoreal_portrait_v1"]
    assert ("model", "sdxl-base-1.0", False) in needs["hybrid_portrait_v1"]
    assert ("key", "fal.ai key", True) in needs["hybrid_portrait_v1"]
    assert needs["upscale_denoise_image_v1"] == {("key", "Runware key", True)}
    assert needs["cinematic_finish_v1"] == set()


def test_a_manifest_summary_reads_the_same_on_the_card_no_hyphens_or_underscores():
    # the template browser shows a description's "-" and "_" as spaces (getTemplateDescription)
    for path in sorted(WORKFLOWS_DIR.glob("*.json")) + sorted((WORKFLOWS_DIR / "variants").glob("*.json")):
        summary = json.loads(path.read_text(encoding="utf-8"))["extra"]["ainfluencer"].get("summary", "")
        assert not set(summary) & set("-_\n"), (path.name, summary)
