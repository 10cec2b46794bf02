"""Characters and consent: the v1 contract, checked references, and no identity run without consent."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta

from ainfluencer.sidecar.core.storage import character_references, consents
from conftest import CONSENT_PRESET, EXAMPLES
from sqlalchemy import select

V1 = "/ainfluencer/v1"
CHECKLIST = {"is_adult": True, "person_consented": True, "may_withdraw": True, "no_deception": True}


def _assert_error(body: dict, code: str) -> None:
    assert set(body) == {"error", "message", "remediation", "detail", "job_id"}
    assert body["error"] == code and body["remediation"]


async def _character(client, **extra) -> dict:
    resp = await client.post(f"{V1}/characters", json={"name": "Mia", "description": "travel host", **extra})
    assert resp.status == 201
    return await resp.json()


async def test_a_character_is_created_listed_and_fetched(paid_client):
    made = await _character(paid_client, avatar_url="https://example.com/mia.png", metadata={"lang": "en"})
    assert made["id"].startswith("chr_") and made["references"] == [] and made["consents"] == []
    listed = await (await paid_client.get(f"{V1}/characters")).json()
    assert [c["id"] for c in listed["characters"]] == [made["id"]] and listed["total"] == 1
    fetched = await (await paid_client.get(f"{V1}/characters/{made['id']}")).json()
    assert fetched["metadata"] == {"lang": "en"} and fetched["avatar_url"] == "https://example.com/mia.png"


async def test_the_seed_contract_is_enforced(paid_client, paid_sidecar):
    bad = [
        {"name": ""},
        {"name": "x" * 101},
        {"name": "Mia", "description": "d" * 1001},
        {"name": "Mia", "nickname": "m"},
        {"name": "Mia", "avatar_url": "javascript:alert(1)"},
        {"name": 5},
        {"name": "Mia", "metadata": {"blob": "x" * 20_000}},
    ]
    for body in bad:
        resp = await paid_client.post(f"{V1}/characters", json=body)
        assert resp.status == 422, body
        _assert_error(await resp.json(), "VALIDATION_ERROR")
    assert paid_sidecar.characters.list()["total"] == 0
    resp = await paid_client.get(f"{V1}/characters/chr_nope")
    assert resp.status == 404
    _assert_error(await resp.json(), "CHARACTER_NOT_FOUND")


async def test_references_must_be_uploaded_images_inside_the_input_folder(paid_client, host):
    made = await _character(paid_client)
    url = f"{V1}/characters/{made['id']}/references"
    shutil.copy(EXAMPLES / "portrait.png", host.input_dir / "face.png")
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / "clip.mp4")
    ok = await (await paid_client.post(url, json={"image": "face.png"})).json()
    assert [r["image"] for r in ok["references"]] == ["face.png"] and len(ok["references"][0]["sha256"]) == 64
    for name, code in [
        ("ghost.png", "FILE_NOT_FOUND"),
        ("../user/x.png", "VALIDATION_ERROR"),
        ("clip.mp4", "INVALID_MEDIA"),
    ]:
        _assert_error(await (await paid_client.post(url, json={"image": name})).json(), code)


async def test_consent_records_who_when_and_every_checklist_answer(paid_client):
    made = await _character(paid_client)
    url = f"{V1}/characters/{made['id']}/consent"
    refused = await paid_client.post(
        url, json={"confirmed_by": "me", "checklist": {**CHECKLIST, "is_adult": False}}
    )
    assert refused.status == 403
    body = await refused.json()
    _assert_error(body, "CONSENT_MISSING")
    assert body["detail"] == {"unconfirmed": ["is_adult"]}
    resp = await paid_client.post(url, json={"confirmed_by": "Ana (creator)", "checklist": CHECKLIST})
    (record,) = (await resp.json())["consents"]
    assert record["confirmed_by"] == "Ana (creator)" and record["checklist"] == CHECKLIST
    assert datetime.fromisoformat(record["confirmed_at"]).utcoffset() == timedelta(0)


async def test_an_identity_run_without_consent_is_refused_before_anything_is_queued_or_charged(
    paid_client, paid_sidecar, host
):
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / "a.mp4")
    await paid_client.post(f"{V1}/credits/budget", json={"credits": 5})
    resp = await paid_client.post(f"{V1}/presets/{CONSENT_PRESET}/run", json={"inputs": {"video": "a.mp4"}})
    assert resp.status == 403
    _assert_error(await resp.json(), "CONSENT_MISSING")
    assert host.queued == [] and paid_sidecar.store.list()["total"] == 0
    credits = await (await paid_client.get(f"{V1}/credits")).json()
    assert (credits["available"], credits["pending"]) == (5.0, 0.0)


async def test_consent_given_is_stored_with_the_job_and_linked_to_the_character(paid_client, host):
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / "a.mp4")
    await paid_client.post(f"{V1}/credits/budget", json={"credits": 5})
    made = await _character(paid_client)
    await paid_client.post(
        f"{V1}/characters/{made['id']}/consent", json={"confirmed_by": "Ana", "checklist": CHECKLIST}
    )
    character = await (await paid_client.get(f"{V1}/characters/{made['id']}")).json()
    body = {"inputs": {"video": "a.mp4"}, "consent_given": True, "character_id": made["id"]}
    job = await (await paid_client.post(f"{V1}/presets/{CONSENT_PRESET}/run", json=body)).json()
    audit = await (await paid_client.get(f"{V1}/jobs/{job['job_id']}/consent")).json()
    (record,) = audit["records"]
    assert audit["consent_given"] is True and record["job_id"] == job["job_id"]
    assert record["character_id"] == made["id"] and record["source"] == "run"
    assert record["checklist"]["character_consent_id"] == character["consents"][0]["consent_id"]
    stored = await (await paid_client.get(f"{V1}/jobs/{job['job_id']}")).json()
    assert stored["inputs"]["consent_id"] == record["consent_id"]


async def test_a_run_naming_an_unknown_character_is_refused_before_queueing(paid_client, host):
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / "a.mp4")
    body = {"inputs": {"video": "a.mp4"}, "consent_given": True, "character_id": "chr_ghost"}
    resp = await paid_client.post(f"{V1}/presets/{CONSENT_PRESET}/run", json=body)
    assert resp.status == 404
    _assert_error(await resp.json(), "CHARACTER_NOT_FOUND")
    assert host.queued == []


async def test_a_deleted_character_is_gone_but_its_consent_records_stay_for_the_audit(
    paid_client, paid_sidecar, host
):
    made = await _character(paid_client)
    shutil.copy(EXAMPLES / "portrait.png", host.input_dir / "face.png")
    await paid_client.post(f"{V1}/characters/{made['id']}/references", json={"image": "face.png"})
    await paid_client.post(
        f"{V1}/characters/{made['id']}/consent", json={"confirmed_by": "Ana", "checklist": CHECKLIST}
    )
    resp = await paid_client.delete(f"{V1}/characters/{made['id']}")
    assert resp.status == 200 and await resp.json() == {"id": made["id"], "deleted": True}
    assert (await (await paid_client.get(f"{V1}/characters")).json())["total"] == 0
    _assert_error(
        await (await paid_client.get(f"{V1}/characters/{made['id']}")).json(), "CHARACTER_NOT_FOUND"
    )
    again = await paid_client.delete(f"{V1}/characters/{made['id']}")
    assert again.status == 404
    with paid_sidecar.store.engine.connect() as conn:
        kept = conn.execute(select(consents.c.character_id)).scalars().all()
        refs = conn.execute(select(character_references.c.id)).all()
    assert kept == [made["id"]] and refs == []
    assert (host.input_dir / "face.png").is_file()


async def test_deleting_a_character_from_another_site_is_refused(paid_client):
    made = await _character(paid_client)
    resp = await paid_client.delete(
        f"{V1}/characters/{made['id']}", headers={"Origin": "https://evil.example"}
    )
    assert resp.status == 403
    _assert_error(await resp.json(), "CROSS_SITE_REFUSED")
    assert (await (await paid_client.get(f"{V1}/characters")).json())["total"] == 1
