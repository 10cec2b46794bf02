"""The spec's smoke-test matrix (§11), one test per row, named after the row.

Rows run against the sidecar on a fake ComfyUI (the shipped presets; test provider adapters where a row
connects a key), except "Output Appears", which runs a preset through the real embedded ComfyUI.
"""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import CANARY, EXAMPLES, wait_for_job
from test_routes_models import _custom_body, mclient, model_server, models_root, payload, service  # noqa: F401

V1 = "/ainfluencer/v1"
GOOD_FAL_KEY = "good-fal:abc123"


def _friendly(body: dict, code: str) -> None:
    assert body["error"] == code and body["message"] and body["remediation"]
    assert "Traceback" not in json.dumps(body)


# 11.1 Setup ----------------------------------------------------------------------------------------------
async def test_11_1_engine_detection_comfyui_is_detected_or_a_clear_cta_is_shown(paid_client):
    health = await (await paid_client.get(f"{V1}/setup/healthcheck")).json()
    local = next(e for e in health["engines"] if e["id"] == "local_comfy")
    assert local["status"] == "running"


async def test_11_1_provider_connect_adding_a_key_shows_the_balance_from_the_api(paid_client):
    resp = await paid_client.post(f"{V1}/providers/provider_fal/connect", json={"api_key": GOOD_FAL_KEY})
    assert resp.status == 200 and (await resp.json())["balance"] == 12.5
    listed = {p["id"]: p for p in (await (await paid_client.get(f"{V1}/providers")).json())["providers"]}
    assert listed["provider_fal"]["balance"] == 12.5


async def test_11_1_healthcheck_every_engine_shows_a_status(paid_client):
    health = await (await paid_client.get(f"{V1}/setup/healthcheck")).json()
    assert health["engines"] and all(e["status"] for e in health["engines"])


# 11.2 Create ---------------------------------------------------------------------------------------------
async def test_11_2_create_character_works_without_a_random_401(paid_client):
    for name in ("Mia", "Noor", "Ada"):
        resp = await paid_client.post(f"{V1}/characters", json={"name": name})
        assert resp.status == 201
    listed = await (await paid_client.get(f"{V1}/characters")).json()
    assert listed["total"] == 3


async def test_11_2_add_custom_model_is_added_with_safety_warnings(mclient):  # noqa: F811
    added = await mclient.post(f"{V1}/models/custom", json=_custom_body())
    assert added.status == 201
    unknown = await mclient.post(f"{V1}/models/custom", json=_custom_body(license="unknown"))
    assert unknown.status == 409
    _friendly(await unknown.json(), "LICENSE_UNKNOWN")
    acknowledged = _custom_body(license="unknown", acknowledge_unknown_license=True)
    assert (await mclient.post(f"{V1}/models/custom", json=acknowledged)).status == 201


# 11.3 Generate -------------------------------------------------------------------------------------------
async def test_11_3_no_422_errors_the_documented_bodies_validate(client, host):
    shutil.copy(EXAMPLES / "portrait.png", host.input_dir / "portrait.png")
    run = {"inputs": {"image": "portrait.png"}, "quality_level": "low", "engine": None, "seed": None,
           "consent_given": False}  # fmt: skip
    assert (await client.post(f"{V1}/presets/cinematic_finish_v1/run", json=run)).status == 202
    estimate = await client.post(f"{V1}/presets/cinematic_finish_v1/estimate", json=run)
    assert estimate.status == 200


async def test_11_3_engine_missing_blocks_with_a_cta_not_a_server_error(client, host):
    shutil.copy(EXAMPLES / "portrait.png", host.input_dir / "portrait.png")
    resp = await client.post(
        f"{V1}/presets/image_to_video_v1/run", json={"inputs": {"image": "portrait.png"}}
    )
    assert 400 <= resp.status < 500 or resp.status == 503
    body = await resp.json()
    _friendly(body, "ENGINE_OFFLINE")
    assert any("Setup" in step for step in body["remediation"])


@pytest.mark.integration
def test_11_3_output_appears_a_generated_image_is_in_the_history_within_the_timeout(comfy_url):
    from ainfluencer.sidecar.cli.client import SidecarClient

    client = SidecarClient(comfy_url, timeout=120)
    try:
        client.upload(EXAMPLES / "portrait.png")
        job = client.run("cinematic_finish_v1", {"inputs": {"image": "portrait.png"}, "quality_level": "low"})
        done = wait_for_job(client, job["job_id"], timeout_s=240)
        assert done["status"] == "completed", done
        assert done["outputs"]["image"]
        assert client.http.get(done["outputs"]["image"][0]["url"]).status_code == 200
    finally:
        client.close()


async def test_11_3_job_history_past_runs_are_visible(client, host):
    shutil.copy(EXAMPLES / "portrait.png", host.input_dir / "portrait.png")
    started = await (
        await client.post(f"{V1}/presets/cinematic_finish_v1/run", json={"inputs": {"image": "portrait.png"}})
    ).json()
    listed = await (await client.get(f"{V1}/jobs")).json()
    assert started["job_id"] in [j["job_id"] for j in listed["jobs"]]
    assert (await client.get(f"{V1}/jobs/{started['job_id']}")).status == 200


# 11.4 Analytics ------------------------------------------------------------------------------------------
async def test_11_4_never_hard_500s_unavailable_analytics_answer_not_configured(paid_client, paid_sidecar):
    paid_sidecar.ledger = None
    resp = await paid_client.get(f"{V1}/analytics/summary")
    assert resp.status == 200
    assert (await resp.json())["data"]["credits"] == {"ok": False, "message": "Not configured"}


async def test_11_4_graceful_degradation_the_answer_carries_a_message_instead_of_an_error(
    paid_client, paid_sidecar
):
    paid_sidecar.ledger = None
    body = await (await paid_client.get(f"{V1}/analytics/summary")).json()
    assert set(body) >= {"ok", "data", "message"} and body["data"]["credits"]["message"]


# 11.5 Navigation -----------------------------------------------------------------------------------------
async def test_11_5_no_broken_links_every_documented_page_without_parameters_answers(paid_client):
    doc = await (await paid_client.get(f"{V1}/openapi.json")).json()
    pages = [p for p, ops in doc["paths"].items() if "get" in ops and "{" not in p]
    assert pages
    for page in pages:
        resp = await paid_client.get(page)
        assert resp.status != 404 and resp.status < 500, page


async def test_11_5_setup_hub_accessible_and_shows_engine_status(paid_client):
    resp = await paid_client.get(f"{V1}/setup/healthcheck")
    assert resp.status == 200
    engines = (await resp.json())["engines"]
    assert {"local_comfy", "provider_fal", "provider_kling"} <= {e["id"] for e in engines}


# 11.6 Error handling -------------------------------------------------------------------------------------
async def test_11_6_user_friendly_messages_errors_show_remediation_not_stack_traces(paid_client):
    resp = await paid_client.post(f"{V1}/presets/no_such_preset/run", json={"inputs": {}})
    assert resp.status == 404
    _friendly(await resp.json(), "PRESET_NOT_FOUND")


async def test_11_6_copy_details_the_diagnostics_are_redacted(paid_client, canary, monkeypatch):
    monkeypatch.setenv("AINFLUENCER_PROVIDER_FAL_API_KEY", CANARY)
    resp = await paid_client.get(f"{V1}/setup/diagnostics")
    assert resp.status == 200
    assert canary not in await resp.text()


async def test_11_6_consent_validation_an_identity_workflow_without_consent_is_a_clear_error(client, host):
    shutil.copy(EXAMPLES / "portrait.png", host.input_dir / "portrait.png")
    body = {"inputs": {"prompt_template": "shot {shot_number}", "identity_reference": "portrait.png"}}
    resp = await client.post(f"{V1}/presets/storyboard_builder_v1/run", json=body)
    assert resp.status in (400, 403, 409, 422)
    _friendly(await resp.json(), "CONSENT_MISSING")
