"""Money and keys inside the real embedded ComfyUI 0.3.75: concurrent runs never overspend the budget, a
kill -9 between reserve and post is settled on restart (jobs failed with remediation, reservations voided
once, balance exact), and no key leaks."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from ainfluencer.sidecar.cli.client import SidecarClient
from conftest import CANARY, EXAMPLES, PAID_PRESET, start_test_server, wait_for_job, write_cost_table

pytestmark = pytest.mark.integration
JOB_TIMEOUT_S = 900


def _ledger(client: SidecarClient) -> list[dict]:
    return client._call("GET", "/credits/ledger", params={"limit": 1000})["transfers"]


def test_a_crash_between_reserve_and_post_is_voided_once_on_restart(tmp_path):
    base = tmp_path / "base"
    write_cost_table(base / "user", 1.0)  # this preset costs 1 credit per run in this install
    server = start_test_server(base, "first.log")
    try:
        client = SidecarClient(server.url, timeout=120)
        assert client.set_budget(3)["available"] == 3.0
        name = client.upload(EXAMPLES / "portrait_push_in.mp4")["name"]
        body = {"inputs": {"video": name}, "quality_level": "low"}
        assert client.estimate(PAID_PRESET, body)["credits"] == 1.0
        run_url = f"{server.url}/ainfluencer/v1/presets/{PAID_PRESET}/run"
        done = wait_for_job(client, client.run(PAID_PRESET, body)["job_id"])
        assert done["status"] == "completed" and done["credit_cost"] == 1.0
        long_clip = client.upload(EXAMPLES / "portrait_talking_source.mp4")["name"]
        slow = {"inputs": {"video": long_clip}, "quality_level": "pro"}  # still running when the crash comes
        with ThreadPoolExecutor(max_workers=12) as pool:  # 12 concurrent runs against the 2 credits left
            answers = list(pool.map(lambda _: httpx.post(run_url, json=slow, timeout=120), range(12)))
        assert sorted(a.status_code for a in answers) == [202] * 2 + [402] * 10
        assert all(a.json()["error"] == "INSUFFICIENT_FUNDS" for a in answers if a.status_code == 402)
        crashed = [a.json()["job_id"] for a in answers if a.status_code == 202]
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while not any(client.job(j)["status"] == "running" for j in crashed):  # the first of the two runs
            assert time.monotonic() < deadline
            time.sleep(0.3)
        assert (client.credits()["available"], client.credits()["pending"]) == (0.0, 2.0)
        connect = httpx.post(
            f"{server.url}/ainfluencer/v1/providers/provider_fal/connect",
            json={"api_key": CANARY},
            timeout=30,
        )
        # fal is unreachable from tests (its base URL is a closed loopback port): a clear error, never a 500
        assert connect.status_code != 500 and connect.json()["error"] and CANARY not in connect.text
        history = httpx.get(f"{server.url}/history", timeout=30).text
        assert CANARY not in history
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
        client.close()
    finally:
        server.stop()
    server = start_test_server(base, "second.log")
    try:
        client = SidecarClient(server.url, timeout=120)
        for job_id in crashed:  # one was running, one still queued: both died with the process
            failed = client.job(job_id)
            assert failed["status"] == "failed" and failed["error_detail"]["error"] == "JOB_INTERRUPTED"
            assert failed["error_detail"]["remediation"] and failed["credit_cost"] == 0.0
        credits = client.credits()
        assert (credits["available"], credits["pending"]) == (2.0, 0.0)
        assert credits["spent_by_provider"] == {"local_comfy": 1.0}
        transfers = _ledger(client)
        for job_id in crashed:
            kinds = sorted(t["kind"] for t in transfers if t["job_id"] == job_id)
            assert kinds == ["pending", "void"]  # voided exactly once
        assert [t["kind"] for t in transfers].count("pending") == 3  # the 10 refused runs reserved nothing
        providers = {p["id"]: p for p in client.providers()}
        assert providers["provider_fal"]["key"] == "…" + CANARY[-4:]  # the env key, shown as last4 only
        client.close()
    finally:
        server.stop()
    for path in base.rglob("*"):
        if path.is_file() and not path.is_symlink() and "custom_nodes" not in path.parts:
            assert CANARY.encode() not in path.read_bytes(), path
    for log in tmp_path.glob("*.log"):
        assert CANARY.encode() not in log.read_bytes(), log
