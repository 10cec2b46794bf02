"""Kill -9 of ComfyUI while a remote job polls: after the restart the same provider request is polled again.

The emulator counts exactly one submit, the job completes with the provider's output, and the step is
charged once (one reservation, one post).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from ainfluencer.sidecar.cli.client import SidecarClient
from ainfluencer.sidecar.host import runtime
from conftest import EXAMPLES, wait_for_job
from emulators.kling import KlingEmulator
from emulators.threaded import ThreadedEmulator

pytestmark = pytest.mark.integration

AK, SK = "kling-restart-access-91c4", "kling-restart-secret-5e0b77d2"


def _start(base: Path, kling: ThreadedEmulator, log: str) -> runtime.ComfyServer:
    env = {
        "AINFLUENCER_PROVIDER_KLING_BASE_URL": kling.base_url,
        "AINFLUENCER_PROVIDER_KLING_API_KEY": f"{AK}:{SK}",
        "AINFLUENCER_REMOTE_POLL_S": "0.2",
    }
    return runtime.start_server(runtime.free_port(), base_dir=base, log_path=base.parent / log, env=env)


KLING_PRICE = 0.315  # the preset's kling-v2-5-turbo, pro (its only mode), 5 s: 2.5 units at ~$0.126


def test_a_restart_re_polls_the_recorded_request_and_charges_once(tmp_path):
    runtime.install()
    kling = ThreadedEmulator(KlingEmulator(AK, SK))
    kling.emulator.queue_s, kling.emulator.run_s = 0.2, 6.0  # still running when ComfyUI dies
    base = tmp_path / "base"
    try:
        server = _start(base, kling, "first.log")
        try:
            client = SidecarClient(server.url, timeout=120)
            client.set_budget(5)
            client.upload(EXAMPLES / "portrait.png")
            job_id = client.run("image_to_video_v1", {"inputs": {"image": "portrait.png", "prompt": "x"}})[
                "job_id"
            ]
            deadline = time.monotonic() + 120
            while not any(line["message"] == "remote request submitted" for line in client.logs(job_id)):
                assert time.monotonic() < deadline, client.job(job_id)
                time.sleep(0.2)
            assert client.credits()["pending"] == pytest.approx(KLING_PRICE)
            os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait()
            client.close()
        finally:
            server.stop()
        assert len(kling.emulator.submits) == 1

        server = _start(base, kling, "second.log")
        try:
            client = SidecarClient(server.url, timeout=120)
            done = wait_for_job(client, job_id, timeout_s=240)
            assert done["status"] == "completed", done
            assert len(kling.emulator.submits) == 1  # re-polled, never submitted (and paid) twice
            assert [a["kind"] for a in done["artifacts"] if not a["metadata"].get("remote")] == ["video"]
            messages = [line["message"] for line in client.logs(job_id)]
            assert "re-polling the recorded remote request" in messages
            transfers = client._call("GET", "/credits/ledger", params={"limit": 100})["transfers"]
            kinds = sorted(t["kind"] for t in transfers if t["job_id"] == job_id)
            assert kinds == ["pending", "post"]
            credits = client.credits()
            assert (credits["available"], credits["pending"]) == (pytest.approx(5 - KLING_PRICE), 0.0)
            assert done["credit_cost"] == pytest.approx(KLING_PRICE)
            client.close()
        finally:
            server.stop()
    finally:
        kling.stop()
