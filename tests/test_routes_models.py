"""The model routes: catalog, custom entries, downloads with progress and cancel, errors in the one shape."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from ainfluencer.sidecar.http.routes.models import register as register_model_routes
from ainfluencer.sidecar.models.catalog import ModelEntry, load_curated
from ainfluencer.sidecar.models.service import ModelsService
from aiohttp import web
from sqlalchemy import text
from test_downloader_server import ModelServer, safetensors_bytes, serve_models, sha256

V1 = "/ainfluencer/v1"
TOKEN = "hf_routeTOKEN0987654321abc"


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    """A local HTTP model server on 127.0.0.1."""
    yield from serve_models()


@pytest.fixture
def payload(model_server: ModelServer) -> bytes:
    """A valid safetensors file served at /test.safetensors (and slowly at /slow.safetensors)."""
    data = safetensors_bytes(n_floats=50_000)
    model_server.add("/test.safetensors", body=data)
    model_server.add("/slow.safetensors", body=data, delay_per_chunk=0.1)
    return data


@pytest.fixture
def models_root(tmp_path: Path) -> Path:
    """The ComfyUI models folder the service installs into."""
    return tmp_path / "models"


@pytest.fixture
def service(sidecar, model_server, payload, models_root) -> ModelsService:
    """The sidecar's models service: the shipped catalog plus two local test entries."""
    local = [
        ModelEntry(
            id=f"test-{name}",
            name=f"Test {name}",
            type="upscaler",
            license="apache-2.0",
            url=model_server.url(f"/{name}.safetensors"),
            filename=f"{name}.safetensors",
            sha256=sha256(payload),
            size_bytes=len(payload),
            verified=True,
        )
        for name in ("test", "slow")
    ]
    service = ModelsService(
        sidecar.store.engine, lambda kind: [models_root / kind], curated=[*load_curated(), *local]
    )
    sidecar.models_service = service
    return service


@pytest.fixture
async def mclient(aiohttp_client, sidecar, service):
    """A test client serving the model routes."""
    routes = web.RouteTableDef()
    register_model_routes(routes, lambda: sidecar)
    app = web.Application()
    app.add_routes(routes)
    return await aiohttp_client(app)


@pytest.fixture
def local_ok(monkeypatch):
    """Local sources enabled."""
    monkeypatch.setenv("AINFLUENCER_ALLOW_LOCAL_DOWNLOADS", "1")


def _assert_error(body: dict, code: str) -> None:
    assert set(body) == {"error", "message", "remediation", "detail", "job_id"}
    assert body["error"] == code and body["message"] and body["remediation"]


async def _until_done(client, download_id: str) -> dict:
    for _ in range(600):
        status = await (await client.get(f"{V1}/downloads/{download_id}")).json()
        if status["state"] not in ("queued", "running"):
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"download {download_id} did not finish")


def _custom_body(**fields) -> dict:
    body = {
        "name": "My LoRA",
        "type": "lora",
        "url": "https://example.com/lora.safetensors",
        "filename": "lora.safetensors",
        "license": "mit",
        "sha256": "b" * 64,
    }
    body.update(fields)
    return body


async def test_the_catalog_lists_curated_and_custom_entries_with_installed_status(mclient, models_root):
    (models_root / "checkpoints").mkdir(parents=True)
    (models_root / "checkpoints" / "sd_xl_base_1.0.safetensors").write_bytes(b"x")
    added = await (await mclient.post(f"{V1}/models/custom", json=_custom_body())).json()
    models = {m["id"]: m for m in (await (await mclient.get(f"{V1}/models/catalog")).json())["models"]}
    assert models["sdxl-base-1.0"]["installed"] is True
    assert models["realesrgan-x4plus"]["installed"] is False and models["realesrgan-x4plus"]["pickle"]
    assert models[added["id"]]["custom"] is True
    for model in models.values():
        assert {"id", "name", "type", "size_mb", "license", "source", "url", "filename", "sha256", "tier",
                "tags", "recommended_use", "hardware_notes", "folder", "installed"} <= set(model)  # fmt: skip


async def test_a_custom_entry_answers_its_id_and_is_listed(mclient):
    resp = await mclient.post(f"{V1}/models/custom", json=_custom_body())
    assert resp.status == 201
    body = await resp.json()
    assert body["id"].startswith("custom-") and body["model"]["id"] == body["id"]
    listed = (await (await mclient.get(f"{V1}/models/custom")).json())["models"]
    assert [m["id"] for m in listed] == [body["id"]]


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"surprise": True}, 422, "VALIDATION_ERROR"),
        ({"url": "ftp://example.com/x.safetensors"}, 422, "VALIDATION_ERROR"),
        ({"filename": "../../custom_nodes/x.py"}, 422, "VALIDATION_ERROR"),
        ({"filename": "lora.ckpt"}, 422, "VALIDATION_ERROR"),
        ({"license": "whatever"}, 422, "VALIDATION_ERROR"),
        ({"license": "unknown"}, 409, "LICENSE_UNKNOWN"),
        ({"sha256": None}, 409, "CHECKSUM_MISSING"),
        ({"sha256": None, "license": "other", "acknowledge_missing_checksum": True}, 409, "LICENSE_UNKNOWN"),
    ],
)
async def test_bad_custom_entries_are_refused_in_the_error_shape(mclient, fields, status, code):
    resp = await mclient.post(f"{V1}/models/custom", json=_custom_body(**fields))
    assert resp.status == status
    _assert_error(await resp.json(), code)
    assert (await (await mclient.get(f"{V1}/models/custom")).json())["models"] == []


async def test_state_changing_model_routes_take_json_only(mclient):
    for path in (f"{V1}/models/custom", f"{V1}/models/test-test/download", f"{V1}/downloads/x/cancel"):
        resp = await mclient.post(path, data={"name": "x"})
        assert resp.status == 422
        _assert_error(await resp.json(), "VALIDATION_ERROR")


async def test_a_download_reports_progress_and_installs_the_file(mclient, models_root, payload, local_ok):
    resp = await mclient.post(f"{V1}/models/test-test/download", json={})
    assert resp.status == 202
    started = await resp.json()
    assert started["state"] in ("queued", "running", "completed") and started["download_id"]
    done = await _until_done(mclient, started["download_id"])
    assert done["state"] == "completed" and done["progress"] == 1.0
    assert done["bytes"] == len(payload) and done["speed_bps"] > 0
    assert (models_root / "upscale_models" / "test.safetensors").read_bytes() == payload
    models = {m["id"]: m for m in (await (await mclient.get(f"{V1}/models/catalog")).json())["models"]}
    assert models["test-test"]["installed"] is True


async def test_a_running_download_can_be_cancelled(mclient, models_root, local_ok):
    started = await (await mclient.post(f"{V1}/models/test-slow/download", json={})).json()
    resp = await mclient.post(f"{V1}/downloads/{started['download_id']}/cancel", json={})
    assert resp.status == 200
    assert (await _until_done(mclient, started["download_id"]))["state"] == "cancelled"
    assert not any((models_root / "upscale_models").iterdir())


async def test_a_refused_download_fails_with_its_reason_and_leaves_nothing(mclient, models_root, monkeypatch):
    monkeypatch.delenv("AINFLUENCER_ALLOW_LOCAL_DOWNLOADS", raising=False)
    started = await (await mclient.post(f"{V1}/models/test-test/download", json={})).json()
    done = await _until_done(mclient, started["download_id"])
    assert done["state"] == "failed" and done["error"]["error"] == "VALIDATION_ERROR"
    assert "private" in done["error"]["message"]
    assert not any((models_root / "upscale_models").iterdir())


async def test_risky_curated_entries_need_acknowledgments_to_download(mclient):
    resp = await mclient.post(
        f"{V1}/models/example-4x-ultrasharp/download", json={"acknowledge_pickle": True}
    )
    assert resp.status == 409
    _assert_error(await resp.json(), "CHECKSUM_MISSING")
    resp = await mclient.post(f"{V1}/models/realesrgan-x4plus/download", json={})
    assert resp.status == 422
    assert (await resp.json())["detail"]["format"] == "pickle"
    resp = await mclient.post(f"{V1}/models/realesrgan-x4plus/download", json={"acknowledge": True})
    _assert_error(await resp.json(), "VALIDATION_ERROR")


async def test_unknown_models_and_downloads_are_404_in_the_error_shape(mclient):
    resp = await mclient.post(f"{V1}/models/nope/download", json={})
    assert resp.status == 404
    _assert_error(await resp.json(), "MODEL_NOT_FOUND")
    resp = await mclient.get(f"{V1}/downloads/nope")
    assert resp.status == 404
    _assert_error(await resp.json(), "DOWNLOAD_NOT_FOUND")
    resp = await mclient.post(f"{V1}/downloads/nope/cancel", json={})
    _assert_error(await resp.json(), "DOWNLOAD_NOT_FOUND")


async def test_a_finished_download_is_answered_from_the_store_after_a_restart(
    mclient, sidecar, models_root, local_ok
):
    started = await (await mclient.post(f"{V1}/models/test-test/download", json={})).json()
    await _until_done(mclient, started["download_id"])
    fresh = ModelsService(sidecar.store.engine, lambda kind: [models_root / kind])
    status = fresh.download_status(started["download_id"])
    assert status["state"] == "completed" and status["model_id"] == "test-test"


async def test_url_tokens_stay_out_of_answers_download_records_and_logs(
    mclient, sidecar, model_server, payload, local_ok, caplog
):
    url = model_server.url("/test.safetensors") + f"?token={TOKEN}"
    body = _custom_body(url=url, filename="tok.safetensors", type="upscaler", sha256=sha256(payload))
    with caplog.at_level("DEBUG", logger="ainfluencer"):
        added = await (await mclient.post(f"{V1}/models/custom", json=body)).json()
        started = await (await mclient.post(f"{V1}/models/{added['id']}/download", json={})).json()
        done = await _until_done(mclient, started["download_id"])
        listed = await (await mclient.get(f"{V1}/models/catalog")).text()
    assert done["state"] == "completed"
    assert TOKEN not in json.dumps([added, started, done]) and TOKEN not in listed
    assert TOKEN not in caplog.text
    with sidecar.store.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM ainf_model_downloads")).fetchall()
    assert rows and TOKEN not in repr(rows)


async def test_another_sites_page_cannot_start_a_download(mclient, models_root, local_ok):
    headers = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
    resp = await mclient.post(f"{V1}/models/test-test/download", json={}, headers=headers)
    assert resp.status == 403
    _assert_error(await resp.json(), "CROSS_SITE_REFUSED")
    assert not (models_root / "upscale_models").exists()
