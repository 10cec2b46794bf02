"""A fuzzer driven by the OpenAPI document finds no 5xx on any route, and every failure in the error shape.

Schemathesis (https://schemathesis.readthedocs.io) generates valid and invalid requests for every operation
the document lists: bodies that break the schema, odd path and query parameters, huge and unicode values.
A second pass sends every state-changing route wrong content types, broken JSON and oversized bodies by
hand. The server is the real route table over a sidecar on a fake ComfyUI host; the fuzzer runs
derandomized, so every run sees the same cases.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from ainfluencer.sidecar.host.app import build_sidecar
from ainfluencer.sidecar.http.helpers import PREFIX
from ainfluencer.sidecar.http.openapi import documented_routes, openapi_document
from ainfluencer.sidecar.http.routes import register_routes
from aiohttp import web
from conftest import LEDGER_WORKFLOWS, write_cost_table
from fake_providers import FakeAdapter
from fakes import FakeComfyHost
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

EXAMPLES_PER_OPERATION = 25
ERROR_KEYS = {"error", "message", "remediation", "detail", "job_id"}


def _documented() -> list[tuple[str, str, object]]:
    routes = web.RouteTableDef()
    register_routes(routes, lambda: None)
    return documented_routes(routes)


DOCUMENT = openapi_document(PREFIX, "fuzz", _documented())
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
LABELS = [f"{method.upper()} {PREFIX}{path}" for method, path, _doc in _documented()]
# a negative case needs something to break: a body or a query parameter (any path segment is a string)
MUTABLE = [f"{method.upper()} {PREFIX}{path}" for method, path, doc in _documented() if doc.body or doc.query]
CASES = [(label, GenerationMode.POSITIVE) for label in LABELS] + [
    (label, GenerationMode.NEGATIVE) for label in MUTABLE
]
POSTS = [PREFIX + path for method, path, _doc in _documented() if method == "post"]


class _Server(threading.Thread):
    """The sidecar's routes served on a loopback port from a thread of their own."""

    def __init__(self, app: web.Application) -> None:
        super().__init__(daemon=True)
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.runner = web.AppRunner(self.app)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
        self.ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


def _loopback_only(real):
    """getaddrinfo that refuses every name but loopback, so no fuzzed URL can reach outside this machine."""

    def resolve(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost", "::1", None):
            raise socket.gaierror(socket.EAI_NONAME, "the fuzzer resolves loopback names only")
        return real(host, *args, **kwargs)

    return resolve


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root: Path = tmp_path_factory.mktemp("fuzz")
    (root / "input").mkdir()
    (root / "output").mkdir()
    host = FakeComfyHost(root / "input", root / "output")
    write_cost_table(root / "user", 1.0)
    adapters = [
        FakeAdapter(p) for p in ("provider_fal", "provider_kling", "provider_runware", "provider_synclabs")
    ]
    sidecar = build_sidecar(
        host, root / "user", host.resolve_output, workflows_dir=LEDGER_WORKFLOWS, adapters=adapters
    )
    routes = web.RouteTableDef()
    register_routes(routes, lambda: sidecar)
    app = web.Application()
    app.add_routes(routes)
    server = _Server(app)
    real = socket.getaddrinfo
    socket.getaddrinfo = _loopback_only(real)
    server.start()
    server.ready.wait(10)
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()
        socket.getaddrinfo = real


def _assert_error_shape(response: requests.Response, what: str) -> None:
    assert response.status_code < 500, f"{what} → {response.status_code}: {response.text[:300]}"
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == ERROR_KEYS and body["remediation"], f"{what} answered {body}"


@pytest.mark.parametrize(("label", "mode"), CASES, ids=[f"{label} {mode.value}" for label, mode in CASES])
def test_fuzzed_requests_never_get_a_server_error(base_url, label, mode):
    operation = SCHEMA.find_operation_by_label(label)
    assert operation is not None, label

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(operation.as_strategy(generation_mode=mode))
    def check(case) -> None:
        response = case.call(base_url=base_url, timeout=30)
        _assert_error_shape(response, f"{label} {case.path_parameters} {str(case.body)[:200]}")

    check()


WRONG_BODIES = [
    ("text/plain", b"hello"),
    ("application/x-www-form-urlencoded", b"a=1&b=2"),
    ("multipart/form-data", b"--x\r\n\r\nbody\r\n--x--\r\n"),
    ("application/json", b"{not json"),
    ("application/json", b"[1, 2, 3]"),
    ("application/json", b'{"a": ' * 5000 + b"1" + b"}" * 5000),
    ("application/json", b'{"x": "' + b"a" * (2 * 1024 * 1024) + b'"}'),
    ("application/json", b"\xff\xfe\x00garbage"),
    ("application/json", b'{"credits": NaN, "inputs": Infinity}'),
]


@pytest.mark.parametrize("path", POSTS)
def test_wrong_content_types_and_broken_bodies_are_refused_in_the_error_shape(base_url, path):
    concrete = "/".join("x" * 5000 if seg.startswith("{") else seg for seg in path.split("/"))
    for url in (base_url + path.replace("{", "").replace("}", ""), base_url + concrete):
        for content_type, data in WRONG_BODIES:
            response = requests.post(url, data=data, headers={"Content-Type": content_type}, timeout=30)
            _assert_error_shape(response, f"{url[:120]} {content_type} {data[:40]!r}")


@pytest.mark.parametrize("route", ["run", "estimate"])
@pytest.mark.parametrize(
    "name", ["v" * 5000 + ".mp4", "\ud800.mp4"], ids=["5000 characters", "lone surrogate"]
)
def test_a_file_input_name_no_file_system_holds_is_a_validation_error(base_url, route, name):
    body = {"inputs": {"video": name}}
    response = requests.post(
        f"{base_url}{PREFIX}/presets/color_grade_film_grain_v1/{route}", json=body, timeout=30
    )
    _assert_error_shape(response, route)
    assert response.status_code == 422 and "longer than 255 bytes" in response.json()["message"]
