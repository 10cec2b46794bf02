"""A client written from the product spec (§6 data contracts, §8.1 run history) gets the spec's shapes.

The spec's models are written here as the spec gives them (`extra = "forbid"` as pydantic 2's `ConfigDict`)
and real answers of the routes are validated against them; the spec's own example bodies are sent.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from typing import Any, Literal

import pytest
from ainfluencer.sidecar.models.service import ModelsService
from conftest import EXAMPLES, PAID_PRESET
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import create_engine

V1 = "/ainfluencer/v1"
SHA = "a" * 64


# -- the spec's models -------------------------------------------------------------------------------
class CreateCharacterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=1000)
    avatar_url: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class CharacterResponse(BaseModel):
    id: str
    name: str
    description: str | None
    avatar_url: str | None
    created_at: datetime
    updated_at: datetime


class AnalyticsResponse(BaseModel):
    ok: bool
    data: dict[str, Any] | None = None
    error: str | None = None
    message: str | None = None


class AddCustomModelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, max_length=200)
    type: Literal["checkpoint", "lora", "embedding", "controlnet", "other"]
    url: str = Field(..., pattern=r"^https?://")
    filename: str = Field(..., min_length=1)
    license: Literal["MIT", "Apache 2.0", "CC0", "Custom", "Unknown"]
    sha256: str | None = Field(default=None, pattern=r"^[a-fA-F0-9]{64}$")
    tags: list[str] = Field(default_factory=list)
    notes: str | None = Field(default=None, max_length=1000)


class JobHistory(BaseModel):
    job_id: str
    preset_id: str
    user_id: str | None
    status: Literal["queued", "running", "completed", "failed", "cancelled"]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    engine_used: str | None
    quality_level: str
    credit_cost: int
    error: str | None
    error_code: str | None
    remediation: list[str] | None
    logs: list[str] = []


# -- helpers -----------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def models_folder(paid_sidecar, tmp_path):
    """The models service of the sidecar, installing under tmp_path/models."""
    paid_sidecar.models_service = ModelsService(paid_sidecar.store.engine, lambda kind: [tmp_path / kind])


def utc(text: str) -> datetime:
    """An answer's time: ISO 8601 with an explicit UTC offset (a float or a naive time fails)."""
    assert isinstance(text, str), text
    parsed = datetime.fromisoformat(text)
    assert parsed.utcoffset() == timedelta(0), text
    return parsed


def times_in(value: Any, key: str = "") -> list[tuple[str, Any]]:
    """Every (key, value) of an answer whose key names a time."""
    if isinstance(value, dict):
        return [found for k, v in value.items() for found in times_in(v, k)]
    if isinstance(value, list):
        return [found for item in value for found in times_in(item, key)]
    is_time = key.endswith("_at") or key in ("last_check", "ts")
    return [(key, value)] if is_time and value is not None else []


def custom_model_body(**changes: Any) -> dict[str, Any]:
    """The spec's example body of `POST /api/models/custom` (§4.4), checked against its model."""
    body = {
        "name": "My LoRA",
        "type": "lora",
        "url": "https://example.com/files/my_lora.safetensors",
        "filename": "my_lora.safetensors",
        "license": "MIT",
        "sha256": SHA,
        "tags": ["style"],
        "notes": "trained on my own photos",
        **changes,
    }
    return AddCustomModelRequest.model_validate(body).model_dump(exclude_none=True)


async def run_paid_jobs(client, sidecar, host) -> tuple[str, str]:
    """One completed job with an output file and one failed job, both through the real routes."""
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / "a.mp4")
    await client.post(f"{V1}/credits/budget", json={"credits": 5})
    ids = []
    for _ in range(2):
        resp = await client.post(f"{V1}/presets/{PAID_PRESET}/run", json={"inputs": {"video": "a.mp4"}})
        ids.append((await resp.json())["job_id"])
    done, failed = host.queued
    folder = host.output_dir / "ainfluencer" / ids[0]
    folder.mkdir(parents=True)
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", folder / "out_00001_.mp4")
    video = {"filename": "out_00001_.mp4", "subfolder": f"ainfluencer/{ids[0]}", "type": "output"}
    error = (
        "execution_error",
        {"node_id": "4", "node_type": "AInfluencerFilmGrain", "exception_message": "x"},
    )
    for item, outputs, status in (
        (done, {"6": {"images": [video]}}, {"status_str": "success", "messages": []}),
        (failed, {}, {"status_str": "error", "messages": [error]}),
    ):
        sidecar.tracker.on_queued(item["prompt_id"], item["prompt"], {})
        sidecar.tracker.on_started(item["prompt_id"])
        sidecar.tracker.on_done(item["prompt_id"], outputs, status)
    return ids[0], ids[1]


# -- §6.5 add custom model ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("label", "stored"), [("MIT", "mit"), ("Apache 2.0", "apache-2.0"), ("CC0", "cc0-1.0")]
)
async def test_the_specs_custom_model_body_is_accepted_with_its_licence_label_mapped(
    paid_client, label, stored
):
    resp = await paid_client.post(f"{V1}/models/custom", json=custom_model_body(license=label, type="other"))
    assert resp.status == 201, await resp.text()
    answer = await resp.json()
    entry = answer["model"]
    assert (entry["license"], entry["type"], entry["notes"]) == (stored, "other", "trained on my own photos")
    assert answer["id"].startswith("custom-") and entry["commercial_use"] is True


@pytest.mark.parametrize("label", ["Custom", "Unknown"])
async def test_a_licence_we_cannot_judge_asks_for_the_acknowledgment_instead_of_refusing_the_label(
    paid_client, label
):
    refused = await paid_client.post(f"{V1}/models/custom", json=custom_model_body(license=label))
    assert refused.status != 422 and (await refused.json())["error"] == "LICENSE_UNKNOWN"
    body = {**custom_model_body(license=label), "acknowledge_unknown_license": True}
    accepted = await paid_client.post(f"{V1}/models/custom", json=body)
    assert accepted.status == 201 and (await accepted.json())["model"]["license_flags"] == ["license-unknown"]


async def test_the_richer_licence_ids_are_still_accepted_and_unknown_fields_still_refused(paid_client):
    richer_body = {**custom_model_body(), "license": "cc-by-nc-4.0"}
    richer = await paid_client.post(f"{V1}/models/custom", json=richer_body)
    assert richer.status == 201 and (await richer.json())["model"]["commercial_use"] is False
    extra = await paid_client.post(f"{V1}/models/custom", json={**custom_model_body(), "colour": "red"})
    assert extra.status == 422 and (await extra.json())["error"] == "VALIDATION_ERROR"


async def test_a_store_made_before_notes_existed_gains_the_column(tmp_path):
    from ainfluencer.sidecar.models.catalog import AddCustomModelRequest as Request
    from ainfluencer.sidecar.models.catalog import ModelCatalog

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE ainf_custom_models (id VARCHAR(120) PRIMARY KEY, name VARCHAR(200) NOT NULL,"
            " type VARCHAR(32) NOT NULL, fetch_url TEXT NOT NULL, url TEXT NOT NULL,"
            " filename VARCHAR(200) NOT NULL, license VARCHAR(64) NOT NULL, sha256 VARCHAR(64),"
            " size_mb FLOAT, tags_json TEXT NOT NULL, recommended_use TEXT NOT NULL,"
            " hardware_notes TEXT NOT NULL, acknowledge_unknown_license BOOLEAN NOT NULL,"
            " acknowledge_missing_checksum BOOLEAN NOT NULL, acknowledge_pickle BOOLEAN NOT NULL,"
            " created_at FLOAT NOT NULL)"
        )
        conn.exec_driver_sql(
            "INSERT INTO ainf_custom_models VALUES ('custom-old', 'Old', 'lora', 'https://e.com/o.safetensors',"
            " 'https://e.com/o.safetensors', 'o.safetensors', 'mit', NULL, NULL, '[]', '', '', 0, 1, 0, 1.0)"
        )
    catalog = ModelCatalog(engine, lambda _folder: [], curated=[])
    assert catalog.get("custom-old").notes == ""
    added = catalog.add_custom(Request.model_validate(custom_model_body()))
    assert added.notes == "trained on my own photos"


# -- §6.2 characters ---------------------------------------------------------------------------------
async def test_creating_a_character_from_the_spec_request_answers_a_character_response(paid_client):
    body = CreateCharacterRequest(
        name="Mia",
        description="Travel creator",
        avatar_url="https://example.com/mia.png",
        metadata={"tone": "warm"},
    ).model_dump()
    resp = await paid_client.post(f"{V1}/characters", json=body)
    assert resp.status == 201, await resp.text()
    answer = await resp.json()
    character = CharacterResponse.model_validate(answer)
    assert (character.name, character.avatar_url, answer["metadata"]) == (
        "Mia",
        "https://example.com/mia.png",
        {"tone": "warm"},
    )
    assert utc(answer["created_at"]) == utc(answer["updated_at"])
    listed = await (await paid_client.get(f"{V1}/characters")).json()
    CharacterResponse.model_validate(listed["characters"][0])


async def test_a_character_with_only_a_name_and_a_null_description_is_created(paid_client):
    resp = await paid_client.post(f"{V1}/characters", json={"name": "Leo", "description": None})
    assert resp.status == 201
    CharacterResponse.model_validate(await resp.json())


async def test_recording_consent_moves_a_characters_updated_at(paid_client):
    made = await (await paid_client.post(f"{V1}/characters", json={"name": "Ana"})).json()
    checklist = {"is_adult": True, "person_consented": True, "may_withdraw": True, "no_deception": True}
    url = f"{V1}/characters/{made['id']}/consent"
    after = await (await paid_client.post(url, json={"confirmed_by": "Ana", "checklist": checklist})).json()
    assert utc(after["updated_at"]) >= utc(after["created_at"])
    assert utc(after["updated_at"]) == utc(after["consents"][0]["confirmed_at"])


# -- §6.4 analytics ----------------------------------------------------------------------------------
async def test_analytics_answer_an_analytics_response_with_the_summary_in_data(paid_client):
    resp = await paid_client.get(f"{V1}/analytics/summary")
    answer = AnalyticsResponse.model_validate(await resp.json())
    assert resp.status == 200 and answer.ok and answer.data is not None
    assert answer.data["jobs_total"] == 0 and answer.error is None


async def test_unavailable_analytics_answer_200_with_ok_false_and_the_message(
    paid_client, paid_sidecar, tmp_path
):
    paid_sidecar.store.engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'gone.db'}")
    resp = await paid_client.get(f"{V1}/analytics/summary")
    answer = AnalyticsResponse.model_validate(await resp.json())
    assert resp.status == 200 and answer.ok is False and answer.data is None
    assert answer.message and "not available" in answer.message


# -- §8.1 run history --------------------------------------------------------------------------------
async def test_one_job_and_the_job_list_answer_the_specs_job_history(paid_client, paid_sidecar, host):
    done_id, failed_id = await run_paid_jobs(paid_client, paid_sidecar, host)
    done = await (await paid_client.get(f"{V1}/jobs/{done_id}")).json()
    history = JobHistory.model_validate(done)
    assert history.status == "completed" and history.user_id is None and history.credit_cost == 1
    assert history.engine_used == "local_comfy" and history.error is None
    (video,) = history.outputs["video"]
    assert video["url"] == f"/view?filename=out_00001_.mp4&subfolder=ainfluencer%2F{done_id}&type=output"
    assert any(line.endswith("job completed") for line in history.logs)
    assert done["artifacts"][0]["sha256"] and done["progress"] == 1.0  # the richer fields stay
    failed = JobHistory.model_validate(await (await paid_client.get(f"{V1}/jobs/{failed_id}")).json())
    assert (
        failed.error_code == "EXECUTION_FAILED"
        and failed.remediation
        and "AInfluencerFilmGrain" in failed.error
    )
    listed = await (await paid_client.get(f"{V1}/jobs")).json()
    assert {JobHistory.model_validate(job).job_id for job in listed["jobs"]} == {done_id, failed_id}


async def test_every_time_in_the_answers_is_iso_8601_utc_with_its_offset(paid_client, paid_sidecar, host):
    done_id, _ = await run_paid_jobs(paid_client, paid_sidecar, host)
    await paid_client.post(f"{V1}/providers/provider_fal/connect", json={"api_key": "good-fal:abc123"})
    made = await (await paid_client.post(f"{V1}/characters", json={"name": "Mia"})).json()
    checklist = {"is_adult": True, "person_consented": True, "may_withdraw": True, "no_deception": True}
    await paid_client.post(
        f"{V1}/characters/{made['id']}/consent", json={"confirmed_by": "Mia", "checklist": checklist}
    )
    seen: list[tuple[str, Any]] = []
    for path in (
        "/jobs",
        f"/jobs/{done_id}",
        f"/jobs/{done_id}/logs",
        f"/jobs/{done_id}/consent",
        "/characters",
        "/providers",
        "/credits",
        "/credits/ledger",
        "/setup/healthcheck",
    ):
        resp = await paid_client.get(f"{V1}{path}")
        assert resp.status == 200, (path, await resp.text())
        seen += times_in(await resp.json())
    keys = {key for key, _ in seen}
    assert {
        "created_at",
        "started_at",
        "finished_at",
        "ts",
        "last_check",
        "budget_set_at",
        "confirmed_at",
    } <= keys
    for _key, value in seen:
        utc(value)


async def test_the_openapi_document_names_answer_models_with_date_time_fields(paid_client):
    doc = await (await paid_client.get(f"{V1}/openapi.json")).json()
    schemas = doc["components"]["schemas"]

    def answer_of(path: str, method: str = "get") -> dict[str, Any]:
        responses = doc["paths"][f"{V1}{path}"][method]["responses"]
        ref = next(iter(responses.values()))["content"]["application/json"]["schema"]["$ref"]
        return schemas[ref.rsplit("/", 1)[1]]

    job = answer_of("/jobs/{job_id}")
    assert job["properties"]["created_at"]["format"] == "date-time"
    assert set(JobHistory.model_fields) <= set(job["properties"])
    character = answer_of("/characters", "post")
    assert character["properties"]["updated_at"]["format"] == "date-time"
    assert set(CharacterResponse.model_fields) <= set(character["properties"])
    assert set(answer_of("/analytics/summary")["properties"]) == set(AnalyticsResponse.model_fields)
    assert "date-time" in str(schemas["ProviderStatus"]["properties"]["last_check"])
