"""Every route refuses a rebound host, reads included; broken uploads and loose money are refused."""

from __future__ import annotations

import pytest
from ainfluencer.sidecar.http.helpers import PREFIX
from ainfluencer.sidecar.http.openapi import documented_routes
from ainfluencer.sidecar.http.routes import register_routes
from aiohttp import web

V1 = PREFIX


def every_route() -> list[tuple[str, str]]:
    """(method, concrete path) of every documented route, path parameters filled with a harmless id."""
    routes = web.RouteTableDef()
    register_routes(routes, lambda: None)
    found = []
    for method, path, _doc in documented_routes(routes):
        concrete = "/".join("x1" if seg.startswith("{") else seg for seg in path.split("/"))
        found.append((method.upper(), V1 + concrete))
    return found


ROUTES = every_route()


def test_the_route_list_covers_reads_and_state_changes():
    methods = {m for m, _ in ROUTES}
    assert methods == {"GET", "POST", "DELETE"} and len(ROUTES) >= 39


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
async def test_a_rebound_host_is_refused_on_every_route(paid_client, method, path):
    """A page on attacker.example re-pointed at 127.0.0.1 is same-origin to the browser; reads leak too."""
    rebound = {"Host": "attacker.example:8188"}
    kwargs = {"json": {}} if method == "POST" else {}
    resp = await paid_client.request(method, path, headers=rebound, **kwargs)
    body = await resp.json()
    assert resp.status == 403 and body["error"] == "CROSS_SITE_REFUSED", (path, body)
    assert "DNS rebinding" in body["message"] and body["remediation"]


async def test_reads_still_answer_under_an_ip_or_localhost(paid_client):
    for host in ("127.0.0.1:8188", "localhost:8188", "[::1]:8188"):
        resp = await paid_client.get(f"{V1}/jobs", headers={"Host": host})
        assert resp.status == 200, host


async def test_an_allowed_host_name_is_accepted_on_reads(paid_client, monkeypatch):
    monkeypatch.setenv("AINFLUENCER_ALLOWED_HOSTS", "studio.lan")
    resp = await paid_client.get(f"{V1}/providers", headers={"Host": "studio.lan:8188"})
    assert resp.status == 200


async def test_a_multipart_upload_without_its_boundary_is_a_validation_error(paid_client):
    resp = await paid_client.post(
        f"{V1}/uploads",
        data=b"--x\r\n\r\nhello\r\n--x--\r\n",
        headers={"Content-Type": "multipart/form-data"},
    )
    body = await resp.json()
    assert resp.status == 422 and body["error"] == "VALIDATION_ERROR"
    assert "multipart body could not be read" in body["message"]


async def test_a_nul_in_an_uploaded_file_name_is_a_validation_error(paid_client):
    payload = (
        b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="a\x00b.png"\r\n'
        b"Content-Type: image/png\r\n\r\nxx\r\n--b0undary--\r\n"
    )
    resp = await paid_client.post(
        f"{V1}/uploads", data=payload, headers={"Content-Type": "multipart/form-data; boundary=b0undary"}
    )
    body = await resp.json()
    assert resp.status == 422 and body["error"] == "VALIDATION_ERROR", body


@pytest.mark.parametrize("amount", [True, False, "5", None, [5], {"v": 5}])
async def test_a_budget_must_be_a_plain_number(paid_client, paid_sidecar, amount):
    before = paid_sidecar.ledger.balance()["available"]
    resp = await paid_client.post(f"{V1}/credits/budget", json={"credits": amount})
    body = await resp.json()
    assert body["error"] == "VALIDATION_ERROR" and paid_sidecar.ledger.balance()["available"] == before


async def test_a_whole_number_budget_is_a_budget(paid_client):
    resp = await paid_client.post(f"{V1}/credits/budget", json={"credits": 7})
    assert resp.status == 200 and (await resp.json())["available"] == 7
