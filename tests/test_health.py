"""Health matrix, diagnostics, analytics and the OpenAPI document."""

from __future__ import annotations

import shutil
import sys
from types import SimpleNamespace

from conftest import EXAMPLES, PAID_PRESET

V1 = "/ainfluencer/v1"


async def test_the_healthcheck_reports_every_engine_disk_gpu_and_data_dir_permission(paid_client):
    await paid_client.post(f"{V1}/providers/provider_fal/connect", json={"api_key": "good-fal:abc123"})
    health = await (await paid_client.get(f"{V1}/setup/healthcheck")).json()
    engines = {e["id"]: e for e in health["engines"]}
    assert engines["local_comfy"]["status"] == "running"
    assert engines["provider_fal"]["status"] == "connected" and engines["provider_fal"]["balance"] == 12.5
    assert engines["provider_kling"]["status"] == "not_connected"
    assert health["data_dir"]["ok"] is True and health["data_dir"]["message"] == "writable"
    assert {d["label"] for d in health["disk"]} == {"data", "output"}
    assert all("free_bytes" in d for d in health["disk"])
    assert set(health["gpu"]) >= {"ok", "available", "message"}


async def test_an_unwritable_data_dir_is_reported_not_raised(paid_client, paid_sidecar, tmp_path):
    paid_sidecar.data_dir = tmp_path / "missing-folder"
    health = await (await paid_client.get(f"{V1}/setup/healthcheck")).json()
    assert health["ok"] is False and health["data_dir"]["ok"] is False


async def test_diagnostics_are_downloadable_json_with_system_engines_models_and_logs(paid_client):
    resp = await paid_client.get(f"{V1}/setup/diagnostics?download=1")
    assert resp.status == 200 and resp.content_type == "application/json"
    assert resp.headers["Content-Disposition"].startswith('attachment; filename="ainfluencer-diagnostics-')
    bundle = await resp.json()
    assert set(bundle) >= {"system", "health", "providers", "models", "logs", "credits"}
    assert bundle["system"]["pack"]["name"] == "comfyui-ainfluencer"
    assert bundle["models"] == {"ok": False, "message": "Not configured"}  # the fake host lists no models


async def test_analytics_summarise_jobs_success_and_credits(paid_client, paid_sidecar, host):
    answer = await (await paid_client.get(f"{V1}/analytics/summary")).json()
    empty = answer["data"]
    assert answer["ok"] and empty["jobs_total"] == 0 and empty["success_rate"] is None
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / "a.mp4")
    await paid_client.post(f"{V1}/credits/budget", json={"credits": 3})
    for _ in range(3):
        await paid_client.post(f"{V1}/presets/{PAID_PRESET}/run", json={"inputs": {"video": "a.mp4"}})
    for item, status in zip(host.queued, ("success", "success", "error"), strict=True):
        paid_sidecar.tracker.on_queued(item["prompt_id"], item["prompt"], {})
        paid_sidecar.tracker.on_started(item["prompt_id"])
        paid_sidecar.tracker.on_done(item["prompt_id"], {}, {"status_str": status, "messages": []})
    summary = (await (await paid_client.get(f"{V1}/analytics/summary")).json())["data"]
    preset = summary["per_preset"][PAID_PRESET]
    assert (preset["jobs"], preset["completed"], preset["failed"]) == (3, 2, 1)
    assert preset["success_rate"] == round(2 / 3, 4) and preset["median_duration_seconds"] >= 0
    assert summary["credits"] == {"ok": True, "by_provider": {"local_comfy": 2.0}}


async def test_analytics_say_not_configured_when_there_is_no_ledger(paid_client, paid_sidecar):
    paid_sidecar.ledger = None
    resp = await paid_client.get(f"{V1}/analytics/summary")
    assert resp.status == 200
    assert (await resp.json())["data"]["credits"] == {"ok": False, "message": "Not configured"}


async def test_openapi_describes_every_registered_route_with_pydantic_schemas(paid_client):
    doc = await (await paid_client.get(f"{V1}/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    registered = {
        (r.method, r.resource.canonical)
        for r in paid_client.app.router.routes()
        if r.method in ("GET", "POST") and r.resource.canonical.startswith(V1)
    }
    assert registered <= documented
    connect = doc["paths"][f"{V1}/providers/{{provider_id}}/connect"]["post"]
    assert connect["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ConnectBody")
    run_schema = doc["components"]["schemas"]["RunRequest"]
    assert run_schema["additionalProperties"] is False and "consent_given" in run_schema["properties"]
    assert doc["components"]["schemas"]["CharacterCreate"]["properties"]["name"]["maxLength"] == 100


def test_the_gpu_is_described_from_the_torch_comfyui_already_loaded(monkeypatch):
    from ainfluencer.sidecar.host.health import gpu_info

    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert gpu_info()["available"] is None  # never imports torch itself
    cuda = SimpleNamespace(
        is_available=lambda: True,
        current_device=lambda: 0,
        mem_get_info=lambda i: (40 * 2**30, 80 * 2**30),
        get_device_name=lambda i: "Test GPU",
    )
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=cuda, backends=SimpleNamespace()))
    info = gpu_info()
    assert (info["available"], info["name"], info["free_bytes"]) == (True, "Test GPU", 40 * 2**30)
    cpu_only = SimpleNamespace(is_available=lambda: False)
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=cpu_only, backends=SimpleNamespace()))
    assert gpu_info()["available"] is False
