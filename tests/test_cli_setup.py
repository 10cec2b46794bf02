"""`ainfluencer keys`, `credits` and `doctor` against a served sidecar; keys come from stdin or env only."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from ainfluencer.sidecar.cli import main as cli
from ainfluencer.sidecar.http.routes import register_routes
from aiohttp import web

KEY = "good-fal-id:cli-secret-4242"


@pytest.fixture
async def server_url(aiohttp_server, paid_sidecar) -> str:
    routes = web.RouteTableDef()
    register_routes(routes, lambda: paid_sidecar)
    app = web.Application()
    app.add_routes(routes)
    server = await aiohttp_server(app)
    return str(server.make_url("")).rstrip("/")


async def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = await asyncio.to_thread(cli.main, argv)
    out, err = capsys.readouterr()
    return code, out, err


async def test_keys_set_reads_the_key_from_stdin_and_prints_only_last4(
    server_url, paid_sidecar, monkeypatch, capsys
):
    monkeypatch.setattr("sys.stdin", io.StringIO(KEY + "\n"))
    code, out, err = await _cli(["keys", "set", "fal", "--server", server_url], capsys)
    assert code == 0 and "connected (key …4242, balance 12.5)" in out
    assert KEY not in out + err
    assert paid_sidecar.registry.vault.get("provider_fal") == (KEY, "vault")
    code, out, _ = await _cli(["keys", "test", "provider_fal", "--server", server_url, "--json"], capsys)
    assert code == 0 and json.loads(out)["status"] == "connected"
    code, out, _ = await _cli(["keys", "rm", "FAL", "--server", server_url], capsys)
    assert code == 0 and "Key removed." in out
    assert paid_sidecar.registry.vault.get("provider_fal") is None


async def test_keys_set_from_env_and_a_refused_key_exit_non_zero(server_url, monkeypatch, capsys):
    monkeypatch.setenv("AINFLUENCER_PROVIDER_RUNWARE_API_KEY", "bad-runware-key-1")
    code, out, err = await _cli(["keys", "set", "runware", "--from-env", "--server", server_url], capsys)
    assert code == 2 and "AUTH_FAILED" in err and "bad-runware-key-1" not in out + err
    code, _, err = await _cli(["keys", "set", "openai", "--server", server_url], capsys)
    assert code == 2 and "Unknown provider" in err


def test_the_key_is_not_an_argument():
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["keys", "set", "fal", KEY])


async def test_credits_and_doctor_print_the_budget_and_the_health_matrix(server_url, capsys):
    code, out, _ = await _cli(["credits", "--budget", "7.5", "--server", server_url], capsys)
    assert code == 0 and out.startswith("available 7.5  pending 0.0")
    code, out, _ = await _cli(["doctor", "--server", server_url], capsys)
    lines = out.splitlines()
    assert lines[0].split() == ["ENGINE", "STATUS", "KEY", "BALANCE", "MESSAGE"]
    assert any(line.startswith("local_comfy") and "running" in line for line in lines)
    assert any(line.startswith("provider_fal") and "not_connected" in line for line in lines)
    assert any(line.startswith("data dir: ok") for line in lines) and code in (0, 1)


async def test_keys_set_no_verify_stores_the_key_unchecked_and_keys_list_shows_it(
    server_url, paid_sidecar, monkeypatch, capsys
):
    monkeypatch.setattr("sys.stdin", io.StringIO("unchecked-runware-key-9876\n"))
    code, out, _ = await _cli(["keys", "set", "runware", "--no-verify", "--server", server_url], capsys)
    assert code == 0 and "stored without a check (key …9876)" in out
    code, out, _ = await _cli(["keys", "list", "--server", server_url], capsys)
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["PROVIDER", "STATUS", "KEY", "SOURCE", "VERIFIED"]
    runware = next(line.split() for line in lines if line.startswith("runware"))
    assert runware[2:] == ["…9876", "vault", "no"] and "unchecked-runware-key-9876" not in out
    assert any(line.split()[:3] == ["fal", "not_connected", "-"] for line in lines)
