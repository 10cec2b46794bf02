"""Bring your own key: connect verifies before storing, answers only …last4, refuses other sites."""

from __future__ import annotations

from ainfluencer.sidecar.core.errors import AInfError
from ainfluencer.sidecar.remote.adapters.base import EngineAdapter
from ainfluencer.sidecar.remote.engines import ENGINE_IDS
from ainfluencer.sidecar.remote.registry import ProviderRegistry
from ainfluencer.sidecar.remote.vault import KeyVault
from fake_providers import FakeAdapter

V1 = "/ainfluencer/v1"
GOOD = "good-fal-id:fal-secret-31c4e8"
GOOD2 = "good-fal-id:fal-secret-rotated-77aa"


def _assert_error(body: dict, code: str) -> None:
    assert set(body) == {"error", "message", "remediation", "detail", "job_id"}
    assert body["error"] == code and body["remediation"]


async def _providers(client) -> dict[str, dict]:
    body = await (await client.get(f"{V1}/providers")).json()
    return {p["id"]: p for p in body["providers"]}


async def test_every_engine_is_listed_with_status_and_no_key(paid_client):
    listed = await _providers(paid_client)
    assert list(listed) == list(ENGINE_IDS)
    assert listed["local_comfy"]["status"] == "running"
    assert all(listed[p]["status"] == "not_connected" for p in ENGINE_IDS[1:])
    # LivePortrait takes no key: its detector is installed, and it is "not connected" until the pack is
    assert listed["provider_liveportrait"]["adapter_installed"] is True
    assert listed["provider_liveportrait"]["key"] is None and listed["provider_liveportrait"]["message"]


async def test_connect_verifies_stores_and_answers_only_last4(paid_client, paid_sidecar, fake_adapters):
    resp = await paid_client.post(f"{V1}/providers/provider_fal/connect", json={"api_key": GOOD})
    body = await resp.json()
    assert resp.status == 200
    assert body == {"ok": True, "balance": 12.5, "message": "Connected to provider_fal.", "key": "…c4e8"}
    assert fake_adapters[0].seen_keys == [GOOD, GOOD]  # identity, then balance
    fal = (await _providers(paid_client))["provider_fal"]
    assert (fal["status"], fal["key"], fal["key_source"], fal["balance"]) == (
        "connected",
        "…c4e8",
        "vault",
        12.5,
    )
    assert paid_sidecar.registry.vault.get("provider_fal") == (GOOD, "vault")
    assert paid_sidecar.registry.availability("provider_fal") == (True, "provider_fal connected")


async def test_a_refused_key_is_auth_failed_and_never_stored(paid_client, paid_sidecar):
    resp = await paid_client.post(f"{V1}/providers/provider_fal/connect", json={"api_key": "bad-key-123456"})
    assert resp.status == 401
    body = await resp.json()
    _assert_error(body, "AUTH_FAILED")
    assert "bad-key-123456" not in await resp.text()
    assert paid_sidecar.registry.vault.get("provider_fal") is None
    assert (await _providers(paid_client))["provider_fal"]["status"] == "not_connected"


async def test_rotation_replaces_the_key_and_disconnect_forgets_it(paid_client, paid_sidecar):
    await paid_client.post(f"{V1}/providers/provider_fal/connect", json={"api_key": GOOD})
    await paid_client.post(f"{V1}/providers/provider_fal/connect", json={"api_key": GOOD2})
    assert paid_sidecar.registry.vault.get("provider_fal") == (GOOD2, "vault")
    tested = await (await paid_client.post(f"{V1}/providers/provider_fal/test", json={})).json()
    assert tested["ok"] and tested["key"] == "…77aa"
    gone = await (await paid_client.post(f"{V1}/providers/provider_fal/disconnect", json={})).json()
    assert gone["removed"] and gone["status"] == "not_connected"
    assert paid_sidecar.registry.vault.get("provider_fal") is None
    tested = await (await paid_client.post(f"{V1}/providers/provider_fal/test", json={})).json()
    assert tested == {
        "ok": False,
        "status": "not_connected",
        "message": "No key is set.",
        "balance": None,
        "key": None,
    }


async def test_a_key_that_stops_working_shows_as_error_with_the_reason(paid_client, fake_adapters):
    await paid_client.post(f"{V1}/providers/provider_kling/connect", json={"api_key": "good-ak:sk-0001"})
    fake_adapters[1].accepted = ()
    fake_adapters[1]._check = lambda key: (_ for _ in ()).throw(AInfError("AUTH_FAILED"))
    tested = await (await paid_client.post(f"{V1}/providers/provider_kling/test", json={})).json()
    assert not tested["ok"] and tested["error"]["error"] == "AUTH_FAILED"
    kling = (await _providers(paid_client))["provider_kling"]
    assert kling["status"] == "error" and kling["error"]["error"] == "AUTH_FAILED"


async def test_a_provider_without_balance_api_connects_with_balance_none(paid_client):
    resp = await paid_client.post(
        f"{V1}/providers/provider_synclabs/connect", json={"api_key": "good-sync-9"}
    )
    assert (await resp.json())["balance"] is None


async def test_cross_site_attempts_to_connect_a_key_are_refused(paid_client, paid_sidecar):
    url = f"{V1}/providers/provider_fal/connect"
    attempts = [
        dict(data={"api_key": GOOD}),  # an HTML form post
        dict(data=f'{{"api_key": "{GOOD}"}}', headers={"Content-Type": "text/plain"}),
        dict(json={"api_key": GOOD}, headers={"Origin": "https://evil.example"}),
        dict(json={"api_key": GOOD}, headers={"Origin": "null"}),
        dict(json={"api_key": GOOD}, headers={"Sec-Fetch-Site": "cross-site"}),
    ]
    for attempt in attempts:
        resp = await paid_client.post(url, **attempt)
        assert resp.status in (403, 422), attempt
        assert (await resp.json())["error"] in ("CROSS_SITE_REFUSED", "VALIDATION_ERROR")
    same_site = await paid_client.post(
        url, json={"api_key": GOOD}, headers={"Origin": f"http://{paid_client.host}:{paid_client.port}"}
    )
    assert same_site.status == 200
    origin_refused = await paid_client.post(
        f"{V1}/providers/provider_fal/disconnect", json={}, headers={"Origin": "https://evil.example"}
    )
    assert origin_refused.status == 403
    _assert_error(await origin_refused.json(), "CROSS_SITE_REFUSED")
    assert paid_sidecar.registry.vault.get("provider_fal") == (GOOD, "vault")


async def test_a_dns_rebinding_page_cannot_connect_a_key(paid_client, paid_sidecar, monkeypatch):
    """attacker.example re-pointed at 127.0.0.1 is same-origin to the browser; its Host header is not."""
    url = f"{V1}/providers/provider_fal/connect"
    rebound = {"Host": "attacker.example:8188", "Origin": "http://attacker.example:8188"}
    resp = await paid_client.post(url, json={"api_key": GOOD}, headers=rebound)
    assert resp.status == 403
    refused = await resp.json()
    _assert_error(refused, "CROSS_SITE_REFUSED")
    assert "AINFLUENCER_ALLOWED_HOSTS" in " ".join(refused["remediation"])
    assert paid_sidecar.registry.vault.get("provider_fal") is None
    for host in ("localhost:8188", "127.0.0.1:8188", "[::1]:8188", "studio.localhost"):
        ok = await paid_client.post(url, json={"api_key": GOOD}, headers={"Host": host})
        assert ok.status == 200, host
    monkeypatch.setenv("AINFLUENCER_ALLOWED_HOSTS", "studio.lan, other.lan")
    named = await paid_client.post(url, json={"api_key": GOOD}, headers={"Host": "studio.lan:8188"})
    assert named.status == 200


async def test_unknown_unkeyed_and_adapterless_providers_answer_clearly(paid_client, paid_sidecar):
    resp = await paid_client.post(f"{V1}/providers/provider_nope/connect", json={"api_key": GOOD})
    assert resp.status == 404
    _assert_error(await resp.json(), "PROVIDER_NOT_FOUND")
    resp = await paid_client.post(f"{V1}/providers/local_comfy/connect", json={"api_key": GOOD})
    _assert_error(await resp.json(), "NOT_SUPPORTED")
    paid_sidecar.registry._adapters.pop("provider_runware")
    resp = await paid_client.post(f"{V1}/providers/provider_runware/connect", json={"api_key": GOOD})
    assert resp.status == 424
    _assert_error(await resp.json(), "DEPENDENCY_MISSING")


async def test_operations_an_adapter_does_not_offer_raise_not_supported():
    adapter = EngineAdapter()
    for call in (
        adapter.generate_image("k", {}),
        adapter.generate_video("k", {}),
        adapter.apply_lipsync("k", {}),
        adapter.upscale("k", {}),
        adapter.check_balance("k"),
    ):
        try:
            await call
        except AInfError as exc:
            assert exc.code == "NOT_SUPPORTED" and exc.status == 501
        else:
            raise AssertionError("an unsupported operation returned")


async def test_health_checks_run_concurrently_and_a_slow_provider_times_out(tmp_path, sidecar):
    vault = KeyVault(tmp_path / "vault")
    registry = ProviderRegistry(sidecar.store.engine, vault, timeout_s=0.3)
    for pid in ("provider_fal", "provider_kling", "provider_runware"):
        registry.register_provider(FakeAdapter(pid, health_delay_s=5.0 if pid == "provider_kling" else 0.0))
        vault.set(pid, f"good-{pid}-key")
    health = {h["id"]: h for h in await registry.health_all()}
    assert health["provider_kling"]["status"] == "error"
    assert health["provider_kling"]["error"]["error"] == "ENGINE_TIMEOUT"
    assert health["provider_fal"]["status"] == health["provider_runware"]["status"] == "connected"
    assert health["provider_synclabs"]["status"] == "not_connected"
