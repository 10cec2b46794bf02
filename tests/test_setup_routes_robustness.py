"""Every route against hostile input (malformed JSON, wrong types, unknown fields, huge bodies): no 500,
and a canary key connected through the route appears in no file, log, diagnostics or response."""

from __future__ import annotations

import json
import logging
import re
import shutil

from conftest import CANARY, EXAMPLES, PAID_PRESET

V1 = "/ainfluencer/v1"
HOSTILE_BODIES: list[tuple[bytes, str]] = [
    (b"{not json", "application/json"),
    (b"\xff\xfe\x00garbage", "application/json"),
    (b"[1, 2, 3]", "application/json"),
    (b'"a string"', "application/json"),
    (b"42", "application/json"),
    (b"null", "application/json"),
    (b'{"credits": NaN, "api_key": Infinity}', "application/json"),
    (b'{"credits": 1e999}', "application/json"),
    (b'{"unknown_field": 1, "api_key": 5, "name": [], "credits": "ten", "inputs": "x"}', "application/json"),
    (b"[" * 50_000 + b"]" * 50_000, "application/json"),
    (b'{"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}', "application/json"),
    (b"api_key=abc", "application/x-www-form-urlencoded"),
    (b"api_key=abc", "text/plain"),
]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "zz_nope", path)


async def test_no_route_answers_500_to_hostile_input(paid_client, paid_sidecar):
    routes = [
        (r.method, r.resource.canonical)
        for r in paid_client.app.router.routes()
        if r.resource.canonical.startswith(V1) and r.method in ("GET", "POST")
    ]
    assert len(routes) >= 25
    checked = 0
    for method, path in routes:
        for concrete in {
            _concrete(path),
            path.replace("{provider_id}", "provider_fal").replace("{preset_id}", PAID_PRESET),
        }:
            concrete = _concrete(concrete)
            if method == "GET":
                for query in ("", "?limit=-1", "?limit=abc&offset=%00", "?download=1&status=" + "x" * 5000):
                    resp = await paid_client.get(concrete + query)
                    assert resp.status < 500, (concrete, query, resp.status)
                    checked += 1
                continue
            for data, content_type in HOSTILE_BODIES:
                resp = await paid_client.post(concrete, data=data, headers={"Content-Type": content_type})
                assert resp.status < 500, (concrete, data[:40], resp.status, await resp.text())
                body = await resp.json()
                assert body["error"] and body["remediation"], body
                checked += 1
    assert checked > 300
    assert paid_sidecar.registry.vault.stored() == [] and paid_sidecar.store.list()["total"] == 0


async def test_the_canary_key_never_reaches_a_file_a_log_or_a_response(
    paid_client, paid_sidecar, host, tmp_path
):
    logging.getLogger("ainfluencer").setLevel(logging.DEBUG)
    texts: list[str] = []

    async def call(method: str, path: str, **kwargs) -> dict:
        resp = await getattr(paid_client, method)(f"{V1}{path}", **kwargs)
        texts.append(await resp.text())
        texts.append(json.dumps(dict(resp.headers)))
        return json.loads(texts[-2])

    connected = await call("post", "/providers/provider_fal/connect", json={"api_key": CANARY})
    assert connected["ok"] and connected["key"] == "…" + CANARY[-4:]
    await call("post", "/providers/provider_fal/connect", json={"api_key": CANARY, "extra": CANARY})
    await call("post", "/providers/provider_kling/connect", json={"api_key": CANARY})  # refused there
    await call("post", "/providers/provider_fal/test", json={})
    logging.getLogger("ainfluencer").warning("provider said: bad key %s (Key %s)", CANARY, CANARY)
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / "a.mp4")
    await call("post", "/credits/budget", json={"credits": 5})
    for body in (
        {"inputs": {"video": "a.mp4"}, "api_key": CANARY},
        {"inputs": {"video": CANARY}},
        {"inputs": {"video": "a.mp4", "style": CANARY}},
        {"inputs": {"video": "a.mp4"}},
    ):
        await call("post", f"/presets/{PAID_PRESET}/run", json=body)
    (item,) = host.queued
    paid_sidecar.tracker.on_queued(item["prompt_id"], item["prompt"], {})
    error = (
        "execution_error",
        {
            "node_id": "4",
            "node_type": "X",
            "exception_message": f"401 for {CANARY}",
            "traceback": [f"Authorization: Key {CANARY}"],
        },
    )
    paid_sidecar.tracker.on_done(item["prompt_id"], {}, {"status_str": "error", "messages": [error]})
    made = await call(
        "post", "/characters", json={"name": "Mia", "metadata": {"api_key": CANARY, "n": CANARY}}
    )
    jobs = await call("get", "/jobs")
    for job in jobs["jobs"]:
        await call("get", f"/jobs/{job['job_id']}")
        await call("get", f"/jobs/{job['job_id']}/logs")
    for path in (
        "/providers",
        "/credits",
        "/credits/ledger",
        "/setup/healthcheck",
        "/setup/diagnostics?download=1",
        "/analytics/summary",
        f"/characters/{made['id']}",
        "/characters",
        "/openapi.json",
    ):
        await call("get", path)
    diagnostics = json.loads(next(t for t in texts if '"logs"' in t and '"system"' in t))
    assert any("provider said: bad key" in line for line in diagnostics["logs"])
    for text in texts:
        assert CANARY not in text
    scanned = 0
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path
            scanned += 1
    assert (tmp_path / "user" / "__ainfluencer" / "secrets.json").is_file() and scanned > 5
    assert paid_sidecar.registry.vault.get("provider_fal") == (CANARY, "vault")
