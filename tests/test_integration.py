"""The pack inside the real embedded ComfyUI 0.3.75: nodes load, presets run from the route, the CLI and
the editor's /prompt, history survives a restart, a crash mid-run is reconciled, and no secret leaks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import httpx
import pytest
from ainfluencer.sidecar.cli.client import SidecarClient
from ainfluencer.sidecar.core.paths import WORKFLOWS_DIR
from ainfluencer.sidecar.graph.convert import ui_to_api
from conftest import CANARY, EXAMPLES, start_test_server, wait_for_job

pytestmark = pytest.mark.integration
PRESET = "color_grade_film_grain_v1"
JOB_TIMEOUT_S = 900


def _probe(path: Path) -> dict:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        return {
            "frames": frames,
            "duration": float(container.duration) / 1_000_000,
            "size": (video.codec_context.width, video.codec_context.height),
            "codec": video.codec_context.name,
            "audio": [(a.codec_context.name, a.codec_context.sample_rate) for a in container.streams.audio],
        }


@pytest.fixture(scope="module")
def api(comfy_url):
    client = SidecarClient(comfy_url, timeout=120)
    yield client
    client.close()


def test_the_pack_nodes_and_routes_are_live_in_comfyui(comfy_url):
    info = httpx.get(f"{comfy_url}/object_info", timeout=30).json()
    assert {"AInfluencerColorGrade", "AInfluencerFilmGrain"} <= set(info)
    assert info["AInfluencerFilmGrain"]["category"].startswith("AInfluencer")
    version = httpx.get(f"{comfy_url}/api/ainfluencer/v1/version", timeout=10).json()  # mirrored under /api
    assert version["comfyui_version"] == "0.3.75"
    templates = httpx.get(f"{comfy_url}/workflow_templates", timeout=10).json()
    assert PRESET in templates["ainfluencer"]
    template = httpx.get(f"{comfy_url}/api/workflow_templates/ainfluencer/{PRESET}.json", timeout=10)
    assert template.status_code == 200 and template.json()["extra"]["ainfluencer"]["id"] == PRESET


def test_the_preset_runs_through_the_route_keeping_frames_duration_and_audio(api):
    source = EXAMPLES / "portrait_talking_source.mp4"
    name = api.upload(source)["name"]
    started = api.run(PRESET, {"inputs": {"video": name, "style": "cinematic"}, "quality_level": "standard"})
    job = wait_for_job(api, started["job_id"])
    assert job["status"] == "completed", job["error"]
    assert job["progress"] == 1.0 and job["source"] == "cli"  # SidecarClient identifies itself as the CLI
    (artifact,) = job["artifacts"]
    out = Path(artifact["path"])
    assert out.suffix == ".mp4" and f"ainfluencer/{job['job_id']}" in out.as_posix()
    assert artifact["size_bytes"] == out.stat().st_size
    src, got = _probe(source), _probe(out)
    assert got["frames"] == src["frames"] and got["size"] == src["size"] and got["codec"] == "h264"
    assert abs(got["duration"] - src["duration"]) < 0.1
    assert got["audio"] and got["audio"][0][0] == "aac"
    listed = [j["job_id"] for j in api.jobs(limit=50)["jobs"]]
    assert job["job_id"] in listed
    messages = [line["message"] for line in api.logs(job["job_id"])]
    assert messages[0] == "job queued" and "artifact saved" in messages and messages[-1] == "job completed"


def test_the_cli_runs_the_preset_against_a_server_with_json_lines(comfy_url):
    cmd = [
        sys.executable,
        "-m",
        "ainfluencer.sidecar.cli.main",
        "run",
        PRESET,
        "--server",
        comfy_url,
        "--json",
    ]
    cmd += [
        "--quality",
        "low",
        "--input",
        f"video={EXAMPLES / 'portrait_push_in.mp4'}",
        "--input",
        "style=warm",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=JOB_TIMEOUT_S)
    assert done.returncode == 0, done.stderr + done.stdout
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["event"] for e in events[:2]] == ["estimate", "queued"] and events[-1]["event"] == "finished"
    assert events[0]["time_basis"] in ("measured", "manifest default")
    assert events[-1]["status"] == "completed" and events[-1]["quality_level"] == "low"
    out = Path(events[-1]["artifacts"][0]["path"])
    assert _probe(out)["frames"] == _probe(EXAMPLES / "portrait_push_in.mp4")["frames"]


def test_editor_prompts_holding_pack_nodes_are_recorded_as_jobs(comfy_url, api):
    graph = json.loads((WORKFLOWS_DIR / f"{PRESET}.json").read_text())
    defs = httpx.get(f"{comfy_url}/object_info", timeout=30).json()
    prompt = ui_to_api(graph, defs)
    prompt["1"]["inputs"]["file"] = "portrait_push_in.mp4"  # copied into input/ by the runtime
    resp = httpx.post(
        f"{comfy_url}/prompt", json={"prompt": prompt, "extra_data": {"extra_pnginfo": {"workflow": graph}}}
    )
    assert resp.status_code == 200, resp.text
    prompt_id = resp.json()["prompt_id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        match = [j for j in api.jobs(limit=50)["jobs"] if j["prompt_id"] == prompt_id]
        if match:
            break
        time.sleep(0.2)
    (job,) = match
    assert job["source"] == "editor" and job["preset_id"] == PRESET
    assert wait_for_job(api, job["job_id"])["status"] == "completed"


def test_cancelling_a_running_job_interrupts_it(api):
    name = api.upload(EXAMPLES / "portrait_talking_source.mp4")["name"]
    job_id = api.run(PRESET, {"inputs": {"video": name}, "quality_level": "pro"})["job_id"]
    wait_for_job(api, job_id, until=("running", "completed", "failed"))
    cancelled = api.cancel(job_id)
    assert cancelled["job_id"] == job_id
    assert wait_for_job(api, job_id)["status"] == "cancelled"


def test_history_survives_a_restart_and_a_crash_mid_run_is_reconciled(tmp_path):
    base = tmp_path / "base"
    server = start_test_server(base, "first.log")
    try:
        client = SidecarClient(server.url, timeout=120)
        name = client.upload(EXAMPLES / "portrait_push_in.mp4")["name"]
        finished = wait_for_job(
            client, client.run(PRESET, {"inputs": {"video": name}, "quality_level": "low"})["job_id"]
        )
        assert finished["status"] == "completed"
        crashed = client.run(PRESET, {"inputs": {"video": name}, "quality_level": "low"})["job_id"]
        wait_for_job(client, crashed, until=("running",))
        os.kill(server.process.pid, signal.SIGKILL)  # a crash, not a shutdown
        server.process.wait()
        client.close()
    finally:
        server.stop()
    server = start_test_server(base, "second.log")
    try:
        client = SidecarClient(server.url, timeout=120)
        kept = client.job(finished["job_id"])
        assert kept["status"] == "completed" and kept["artifacts"] == finished["artifacts"]
        failed = client.job(crashed)
        assert failed["status"] == "failed" and failed["error_detail"]["error"] == "JOB_INTERRUPTED"
        assert failed["error_detail"]["remediation"]
        client.close()
    finally:
        server.stop()


def test_the_canary_key_appears_in_no_file_the_runs_wrote(comfy_server, api):
    if isinstance(comfy_server, str):
        pytest.fail("the canary scan needs the suite's own server (unset AINF_TEST_COMFY_URL)")
    for body in ({"inputs": {"video": "x.mp4", CANARY: 1}}, {"inputs": {"video": CANARY}}):
        with pytest.raises(Exception) as info:
            api.run(PRESET, body)
        assert CANARY not in str(info.value.to_dict())
    scanned = 0
    for path in [comfy_server.log_path, *comfy_server.base_dir.rglob("*")]:
        if path.is_file() and not path.is_symlink() and "custom_nodes" not in path.parts:
            assert CANARY.encode() not in path.read_bytes(), path
            scanned += 1
    assert scanned > 5
