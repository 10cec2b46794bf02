"""An unreachable provider is ENGINE_OFFLINE on connect; a key may be stored unchecked on request."""

from __future__ import annotations

import httpx
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode

V1 = "/ainfluencer/v1"
KEY = "good-fal-id:fal-secret-unreached-5150"


def _unreachable(error: BaseException):
    def check(api_key: str) -> None:
        raise error

    return check


async def _fal(client) -> dict:
    listed = (await (await client.get(f"{V1}/providers")).json())["providers"]
    return next(p for p in listed if p["id"] == "provider_fal")


async def test_an_unreachable_provider_is_engine_offline_not_a_refused_key(
    paid_client, paid_sidecar, fake_adapters
):
    fake_adapters[0]._check = _unreachable(AInfError(ErrorCode.ENGINE_OFFLINE, detail={"provider": "fal"}))
    resp = await paid_client.post(f"{V1}/providers/provider_fal/connect", json={"api_key": KEY})
    body = await resp.json()
    assert body["error"] == "ENGINE_OFFLINE" and "fal.ai could not be reached" in body["message"]
    assert any('"verify": false' in step and "--no-verify" in step for step in body["remediation"])
    assert paid_sidecar.registry.vault.get("provider_fal") is None and KEY not in await resp.text()


async def test_a_dropped_connection_while_verifying_is_engine_offline(
    paid_client, paid_sidecar, fake_adapters
):
    fake_adapters[0]._check = _unreachable(httpx.ConnectError("connection refused"))
    body = await (
        await paid_client.post(f"{V1}/providers/provider_fal/connect", json={"api_key": KEY})
    ).json()
    assert body["error"] == "ENGINE_OFFLINE" and paid_sidecar.registry.vault.get("provider_fal") is None


async def test_a_key_stored_without_a_check_is_usable_and_marked_unverified(
    paid_client, paid_sidecar, fake_adapters
):
    fake_adapters[0]._check = _unreachable(AssertionError("the provider must not be called"))
    resp = await paid_client.post(
        f"{V1}/providers/provider_fal/connect", json={"api_key": KEY, "verify": False}
    )
    body = await resp.json()
    assert resp.status == 200 and body["verified"] is False and body["key"] == "…5150"
    assert "Test" in body["message"]
    fal = await _fal(paid_client)
    assert (fal["status"], fal["verified"], fal["last_check"]) == ("connected", False, None)
    assert paid_sidecar.registry.availability("provider_fal")[0] is True


async def test_a_successful_test_marks_an_unchecked_key_verified(paid_client, fake_adapters):
    await paid_client.post(f"{V1}/providers/provider_fal/connect", json={"api_key": KEY, "verify": False})
    tested = await (await paid_client.post(f"{V1}/providers/provider_fal/test", json={})).json()
    assert tested["ok"] is True
    assert (await _fal(paid_client))["verified"] is True


async def test_keyless_engines_have_no_verification_state(paid_client):
    listed = (await (await paid_client.get(f"{V1}/providers")).json())["providers"]
    assert {p["id"]: p["verified"] for p in listed if p["key"] is None and p["kind"] != "remote"} == {
        "local_comfy": None,
        "provider_liveportrait": None,
        "provider_identity_nodes": None,
    }
