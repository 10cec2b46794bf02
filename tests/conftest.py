"""Shared fixtures: a sidecar on a fake host for fast route tests, and the real embedded ComfyUI."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ainfluencer.sidecar.core.redact import register_secret
from ainfluencer.sidecar.host import runtime
from ainfluencer.sidecar.host.app import Sidecar, build_sidecar
from ainfluencer.sidecar.http.routes import register_routes
from aiohttp import web
from fakes import FakeComfyHost

# No test may reach a real provider: every provider's base URL points at a closed loopback port unless a
# test points it at its own emulator. Embedded test servers inherit this environment.
UNREACHABLE_PROVIDER = "http://127.0.0.1:9"
for _name in ("FAL", "KLING", "RUNWARE", "SYNCLABS"):
    os.environ.setdefault(f"AINFLUENCER_PROVIDER_{_name}_BASE_URL", UNREACHABLE_PROVIDER)

CANARY = "sk-canary-7f3d1c9e2b4a6f80d5e1"
REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "assets" / "examples"


@pytest.fixture
def canary() -> str:
    """A secret registered the way provider keys are, to be searched for in everything written."""
    register_secret(CANARY)
    return CANARY


@pytest.fixture
def host(tmp_path: Path) -> FakeComfyHost:
    """A fake ComfyUI host with empty input/output folders."""
    (tmp_path / "input").mkdir()
    (tmp_path / "output").mkdir()
    return FakeComfyHost(tmp_path / "input", tmp_path / "output")


@pytest.fixture
def sidecar(tmp_path: Path, host: FakeComfyHost) -> Sidecar:
    """The real sidecar services over the fake host, with data under tmp_path/user."""
    return build_sidecar(host, tmp_path / "user", host.resolve_output)


@pytest.fixture
async def client(aiohttp_client, sidecar: Sidecar):
    """An aiohttp test client serving the sidecar routes."""
    routes = web.RouteTableDef()
    register_routes(routes, lambda: sidecar)
    app = web.Application()
    app.add_routes(routes)
    return await aiohttp_client(app)


def wait_for_job(
    client, job_id: str, until=("completed", "failed", "cancelled"), timeout_s: float = 900
) -> dict:
    """Poll a job through the sidecar client until it reaches one of `until`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.job(job_id)
        if job["status"] in until:
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not reach {until}: {job}")


def start_test_server(base_dir: Path, log_name: str = "comfyui.log") -> runtime.ComfyServer:
    """Start the embedded ComfyUI on a free port with the canary registered as a provider key."""
    runtime.install()
    return runtime.start_server(
        runtime.free_port(),
        base_dir=base_dir,
        log_path=base_dir.parent / log_name,
        env={"AINFLUENCER_PROVIDER_FAL_API_KEY": CANARY},
    )


@pytest.fixture(scope="session")
def comfy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[runtime.ComfyServer | str]:
    """The real ComfyUI with the pack, shared by the integration tests (AINF_TEST_COMFY_URL reuses one)."""
    url = os.environ.get("AINF_TEST_COMFY_URL")
    if url:
        yield url
        return
    server = start_test_server(tmp_path_factory.mktemp("comfy") / "base")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def comfy_url(comfy_server: runtime.ComfyServer | str) -> str:
    """Base URL of the running ComfyUI with the pack."""
    return comfy_server if isinstance(comfy_server, str) else comfy_server.url


LEDGER_WORKFLOWS = REPO / "tests" / "data" / "ledger_workflows"
PAID_PRESET = "color_grade_film_grain_v1"
CONSENT_PRESET = "consented_grade_v1"


def write_cost_table(user_dir: Path, credits: float) -> None:
    """Price every run of the test presets on the local engine at `credits` (a user cost-table override)."""
    import json

    folder = user_dir / "__ainfluencer"
    folder.mkdir(parents=True, exist_ok=True)
    entries = [
        {"engine": "local_comfy", "operation": f"preset:{pid}", "credits": credits, "assumed": False,
         "source": "test price"}
        for pid in (PAID_PRESET, CONSENT_PRESET)
    ]  # fmt: skip
    (folder / "cost_table.json").write_text(json.dumps({"entries": entries}), encoding="utf-8")


@pytest.fixture
def fake_adapters():
    """Test adapters for the four keyed providers (Sync has no balance API, like the real one)."""
    from fake_providers import FakeAdapter

    return [
        FakeAdapter("provider_fal", accepted=(CANARY,)),
        FakeAdapter("provider_kling"),
        FakeAdapter("provider_runware"),
        FakeAdapter("provider_synclabs", balance=None),
    ]


@pytest.fixture
def paid_sidecar(tmp_path: Path, host: FakeComfyHost, fake_adapters, monkeypatch) -> Sidecar:
    """A sidecar over the fake host whose test presets cost 1 credit per run, with test adapters."""
    for name in ("KLING", "FAL", "RUNWARE", "SYNCLABS"):
        monkeypatch.delenv(f"AINFLUENCER_PROVIDER_{name}_API_KEY", raising=False)
    write_cost_table(tmp_path / "user", 1.0)
    return build_sidecar(
        host, tmp_path / "user", host.resolve_output, workflows_dir=LEDGER_WORKFLOWS, adapters=fake_adapters
    )


@pytest.fixture
async def paid_client(aiohttp_client, paid_sidecar: Sidecar):
    """An aiohttp test client serving the routes of `paid_sidecar`."""
    routes = web.RouteTableDef()
    register_routes(routes, lambda: paid_sidecar)
    app = web.Application()
    app.add_routes(routes)
    return await aiohttp_client(app)


FAL_TEST_KEY = "fal-key-id-7a1c:fal-key-secret-55e0b2c1"


@pytest.fixture
async def fal_emulator():
    """The strict fal.ai emulator on a free loopback port, accepting FAL_TEST_KEY."""
    from emulators.fal import FalEmulator

    emulator = FalEmulator(key=FAL_TEST_KEY)
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
def fal_adapter(fal_emulator):
    """The fal.ai adapter pointed at the emulator, polling fast."""
    from ainfluencer.sidecar.remote.adapters.fal import FalAdapter
    from emulators.fast import fast_settings

    return FalAdapter(fal_emulator.base_url, **fast_settings([], 3))
