"""The remote presets end to end through the real ComfyUI, against the four provider emulators.

Each run: output decodable, job completed, the provider request recorded, the ledger posted with the right
amount (the provider-reported cost where the API gives one, else the cost-table price). Plus: ten runs in one
batch are in flight at the provider together, and a failing provider fails the job with its own error code.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import av
import pytest
from ainfluencer.sidecar.cli.client import SidecarClient
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.host import runtime
from conftest import EXAMPLES, REPO, wait_for_job
from emulators.fal import FalEmulator
from emulators.kling import KlingEmulator
from emulators.runware import RunwareEmulator
from emulators.synclabs import SyncLabsEmulator
from emulators.threaded import ThreadedEmulator
from PIL import Image

pytestmark = pytest.mark.integration

FAL_KEY = "fal-int-id-61c2:fal-int-secret-90ab3f"
KLING_AK, KLING_SK = "kling-int-access-4d2e", "kling-int-secret-77f1a0c3"
RUNWARE_KEY = "runware-int-key-3b9d51e0aa"
SYNC_KEY = "sync-int-key-c0ffee5512"
BUDGET = 50.0


@pytest.fixture(scope="module")
def emulators() -> Iterator[dict[str, ThreadedEmulator]]:
    """The four emulators on loopback, each on its own loop in a thread, with short job latencies."""
    started = {
        "fal": ThreadedEmulator(FalEmulator(key=FAL_KEY, queue_s=0.05, run_s=0.3)),
        "kling": ThreadedEmulator(KlingEmulator(KLING_AK, KLING_SK)),
        "runware": ThreadedEmulator(RunwareEmulator(RUNWARE_KEY, queue_s=0.05, run_s=0.3)),
        "sync": ThreadedEmulator(SyncLabsEmulator(SYNC_KEY, queue_s=0.05, run_s=0.3)),
    }
    started["kling"].emulator.queue_s, started["kling"].emulator.run_s = 0.05, 0.3
    yield started
    for emulator in started.values():
        emulator.stop()


def provider_env(emulators: dict[str, ThreadedEmulator]) -> dict[str, str]:
    """Base URLs pointing at the emulators and polling fast enough for tests."""
    return {
        "AINFLUENCER_PROVIDER_FAL_BASE_URL": emulators["fal"].base_url,
        "AINFLUENCER_PROVIDER_KLING_BASE_URL": emulators["kling"].base_url,
        "AINFLUENCER_PROVIDER_RUNWARE_BASE_URL": emulators["runware"].base_url,
        "AINFLUENCER_PROVIDER_SYNCLABS_BASE_URL": emulators["sync"].base_url,
        "AINFLUENCER_REMOTE_POLL_S": "0.2",
    }


@pytest.fixture(scope="module")
def server(emulators, tmp_path_factory) -> Iterator[runtime.ComfyServer]:
    """A real ComfyUI whose providers are the emulators (keys connected through the route below)."""
    runtime.install()
    base = tmp_path_factory.mktemp("remote") / "base"
    started = runtime.start_server(
        runtime.free_port(), base_dir=base, log_path=base.parent / "comfyui.log", env=provider_env(emulators)
    )
    yield started
    started.stop()


@pytest.fixture(scope="module")
def client(server) -> Iterator[SidecarClient]:
    """A client with every provider connected (verified by its emulator) and a credit budget."""
    api = SidecarClient(server.url, timeout=120)
    assert api.connect("provider_fal", FAL_KEY)["ok"]
    assert api.connect("provider_kling", f"{KLING_AK}:{KLING_SK}")["ok"]
    assert api.connect("provider_runware", RUNWARE_KEY)["ok"]
    assert api.connect("provider_synclabs", SYNC_KEY)["ok"]
    api.set_budget(BUDGET)
    for name in ("portrait.png", "portrait_talking_source.mp4", "speech.wav"):
        api.upload(EXAMPLES / name)
    yield api
    api.close()


def _decodable(path: Path) -> bool:
    if path.suffix == ".mp4":
        with av.open(str(path)) as container:
            return next(container.decode(video=0), None) is not None
    with Image.open(path) as img:
        img.load()
        return img.width > 0


def _posted(client: SidecarClient, job_id: str) -> list[dict]:
    transfers = client._call("GET", "/credits/ledger", params={"limit": 500})["transfers"]
    return [t for t in transfers if t["job_id"] == job_id and t["kind"] in ("post", "void")]


def _run_and_check(client, server, preset, body, kind, submits_before, emulator, expected_cost):
    job = client.run(preset, body)
    done = wait_for_job(client, job["job_id"], timeout_s=240)
    assert done["status"] == "completed", done
    finals = [a for a in done["artifacts"] if not a["metadata"].get("remote")]
    remote = [a for a in done["artifacts"] if a["metadata"].get("remote")]
    assert finals and remote, done["artifacts"]
    assert all(_decodable(Path(a["path"])) for a in done["artifacts"])
    assert finals[-1]["kind"] == kind
    assert len(emulator.emulator.submits) == submits_before + 1
    assert remote[0]["metadata"]["request_id"]
    settled = _posted(client, job["job_id"])
    assert [t["kind"] for t in settled] == ["post"], settled
    assert settled[0]["credits"] == pytest.approx(expected_cost) and done["credit_cost"] == pytest.approx(
        expected_cost
    )
    return done


def test_image_to_video_runs_on_kling_and_posts_the_cost_table_price(client, server, emulators):
    before = len(emulators["kling"].emulator.submits)
    body = {"inputs": {"image": "portrait.png", "prompt": "she smiles"}}
    assert client.estimate("image_to_video_v1", body)["engine"] == "provider_kling"
    # Kling reports units, not money: the post is the reserved price, v2.5-turbo pro 5 s (2.5 units)
    _run_and_check(client, server, "image_to_video_v1", body, "video", before, emulators["kling"], 0.315)


def test_image_to_video_fal_fallback_posts_fal_reported_units_times_unit_price(client, server, emulators):
    before = len(emulators["fal"].emulator.submits)
    body = {"inputs": {"image": "portrait.png", "prompt": "she smiles"}, "engine": "provider_fal"}
    # the emulator bills 1 unit at 0.04 USD: less than the 0.27 reserved, and exactly that is charged
    _run_and_check(client, server, "image_to_video_v1", body, "video", before, emulators["fal"], 0.04)


def test_talking_clip_runs_on_sync_with_consent_and_posts_sync_recorded_cost(client, server, emulators):
    before = len(emulators["sync"].emulator.submits)
    body = {
        "inputs": {"video": "portrait_talking_source.mp4", "audio": "speech.wav"},
        "consent_given": True,
    }
    with pytest.raises(AInfError) as refused:
        client.run("talking_clip_v1", {**body, "consent_given": False})
    assert refused.value.code == ErrorCode.CONSENT_MISSING
    # Sync records 0.05 USD/s for the emulator's 4 s output: 0.20 of the 0.83 held for lipsync-2-pro
    done = _run_and_check(client, server, "talking_clip_v1", body, "video", before, emulators["sync"], 0.2)
    assert client._call("GET", f"/jobs/{done['job_id']}/consent")["records"]


def test_photoreal_portrait_without_sdxl_runs_the_fal_variant_and_adds_local_grain(client, server, emulators):
    before = len(emulators["fal"].emulator.submits)
    body = {"inputs": {"prompt": "a portrait by a window"}}
    assert client.estimate("photoreal_portrait_v1", body)["engine"] == "provider_fal"
    done = _run_and_check(
        client, server, "photoreal_portrait_v1", body, "image", before, emulators["fal"], 0.04
    )
    final = [a for a in done["artifacts"] if not a["metadata"].get("remote")][-1]
    remote = next(a for a in done["artifacts"] if a["metadata"].get("remote"))
    assert final["sha256"] != remote["sha256"]  # the local grain pass changed the remote image


def test_upscale_runs_on_runware_when_named_and_posts_runware_reported_cost(client, server, emulators):
    before = len(emulators["runware"].emulator.submits)
    body = {"inputs": {"image": "portrait.png"}, "engine": "provider_runware"}
    done = _run_and_check(
        client, server, "upscale_denoise_image_v1", body, "image", before, emulators["runware"], 0.002
    )
    final = [a for a in done["artifacts"] if not a["metadata"].get("remote")][-1]
    with Image.open(final["path"]) as img:
        assert img.width == 1024  # 512 px portrait, 2x


def test_the_hybrid_example_needs_sdxl_and_says_how_to_get_it(client):
    with pytest.raises(AInfError) as missing:
        client.run("hybrid_portrait_v1", {"inputs": {"prompt": "a portrait"}})
    assert missing.value.code == ErrorCode.DEPENDENCY_MISSING
    assert "ainfluencer models download sdxl-base-1.0" in " ".join(missing.value.remediation)


def test_a_provider_refusal_fails_the_job_with_its_own_code_and_voids_the_reservation(client, emulators):
    emulators["kling"].emulator.fault = "moderation_task"
    try:
        job = client.run("image_to_video_v1", {"inputs": {"image": "portrait.png", "prompt": "x"}})
        done = wait_for_job(client, job["job_id"], timeout_s=240)
    finally:
        emulators["kling"].emulator.fault = None
    assert done["status"] == "failed" and done["error_detail"]["error"] == "SAFETY_FILTER", done["error"]
    assert [t["kind"] for t in _posted(client, job["job_id"])] == ["void"]
    assert done["credit_cost"] == 0


def test_ten_batched_runs_are_in_flight_at_the_provider_together(client, emulators):
    kling = emulators["kling"].emulator
    kling.queue_s, kling.run_s, kling.peak_concurrency = 0.1, 3.0, 0
    try:
        runs = [{"inputs": {"image": "portrait.png", "prompt": f"take {i}"}} for i in range(10)]
        started = time.monotonic()
        job = client.batch("image_to_video_v1", runs)
        done = wait_for_job(client, job["job_id"], timeout_s=300)
        elapsed = time.monotonic() - started
    finally:
        kling.queue_s, kling.run_s = 0.05, 0.3
    assert done["status"] == "completed", done
    assert kling.peak_concurrency == 10
    videos = [a for a in done["artifacts"] if not a["metadata"].get("remote") and a["kind"] == "video"]
    assert len(videos) == 10 and len({a["node_id"] for a in videos}) == 10
    assert done["credit_cost"] == pytest.approx(10 * 0.315)  # kling-v2-5-turbo, pro, 5 s each
    assert elapsed > 0  # timing is reported by `make bench`, never asserted


def test_generate_video_maps_the_seed_contract_onto_a_video_preset(client, emulators):
    answer = client.generate(
        "video",
        {"preset_id": "image_to_video_v1", "prompt": "she smiles", "identity_reference": ["portrait.png"],
         "consent_given": True},
    )  # fmt: skip
    assert set(answer) == {"job_id", "status", "preset_id", "estimated_time_seconds", "output_url", "error"}
    done = wait_for_job(client, answer["job_id"], timeout_s=240)
    assert done["status"] == "completed"
    final = client._call("GET", f"/generate/{answer['job_id']}")
    assert final["status"] == "completed" and final["output_url"].startswith("/view?filename=")
    assert io.BytesIO(client.http.get(final["output_url"]).content).getbuffer().nbytes > 0


def test_cancelling_a_running_remote_job_cancels_it_at_fal_and_voids_the_hold(client, emulators):
    fal = emulators["fal"].emulator
    fal.run_s = 60.0
    try:
        body = {"inputs": {"image": "portrait.png", "prompt": "cancel me"}, "engine": "provider_fal"}
        job_id = client.run("image_to_video_v1", body)["job_id"]
        deadline = time.monotonic() + 120
        while not any(line["message"] == "remote request submitted" for line in client.logs(job_id)):
            assert time.monotonic() < deadline, client.job(job_id)
            time.sleep(0.2)
        client.cancel(job_id)
        done = wait_for_job(client, job_id, timeout_s=60)
    finally:
        fal.run_s = 0.3
    assert done["status"] == "cancelled", done
    assert fal.cancels, "the remote job was not cancelled at fal"
    assert [t["kind"] for t in _posted(client, job_id)] == ["void"]


def test_the_node_shows_live_status_text_while_the_remote_job_runs(client, server, emulators):
    """ComfyUI's binary TEXT messages (event 3: node id length, node id, text) reach the editor's sockets."""
    import asyncio
    import struct

    import aiohttp

    async def watch() -> tuple[list[str], dict]:
        texts: list[str] = []
        ws_url = server.url.replace("http://", "ws://") + "/ws?clientId=status-test"
        async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
            body = {"inputs": {"image": "portrait.png", "prompt": "status please"}, "engine": "provider_fal"}
            job = await asyncio.to_thread(client.run, "image_to_video_v1", body)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    message = await ws.receive(timeout=0.5)
                except TimeoutError:
                    message = None
                if message is not None and message.type == aiohttp.WSMsgType.BINARY:
                    event, length = struct.unpack(">II", message.data[:8])
                    if event == 3:
                        texts.append(message.data[8 + length :].decode("utf-8"))
                done = await asyncio.to_thread(client.job, job["job_id"])
                if done["status"] in ("completed", "failed", "cancelled"):
                    return texts, done
        raise AssertionError("the run did not finish")

    texts, done = asyncio.run(watch())
    assert done["status"] == "completed", done
    assert any(t.startswith("provider_fal: submitting") for t in texts), texts
    assert any(t.startswith("fal.ai: ") for t in texts), texts  # the provider's own queue states
    assert any(t.startswith("provider_fal: done (provider cost") for t in texts), texts


def test_the_hybrid_chain_after_generation_runs_from_the_editor_with_auto_upscale_on_fal(
    client, server, emulators
):
    """The hybrid example's remote upscale (auto → fal first) and local grain, queued as an editor prompt.

    Its SDXL generation needs a 6.9 GB checkpoint tests may not download, so the image comes from LoadImage;
    an editor run has no pipeline hold, so the remote node reserves its step itself when it executes.
    """
    import httpx

    hybrid = json.loads((REPO / "workflows" / "hybrid_portrait_v1.json").read_text(encoding="utf-8"))
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "portrait.png"}},
        "7": {"class_type": "AInfluencerUpscale",
              "inputs": {"images": ["1", 0], "scale": "2x", "engine": "auto"}},
        "8": {"class_type": "AInfluencerFilmGrain",
              "inputs": {"images": ["7", 0], "strength": 0.12, "size": 1.0, "chroma": 0.0, "seed": 0,
                         "look": "35mm fine"}},
        "9": {"class_type": "SaveImage",
              "inputs": {"images": ["8", 0], "filename_prefix": "ainfluencer/hybrid"}},
    }  # fmt: skip
    before = len(emulators["fal"].emulator.submits)
    resp = httpx.post(
        f"{server.url}/prompt",
        json={"prompt": prompt, "extra_data": {"extra_pnginfo": {"workflow": hybrid}}},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    prompt_id = resp.json()["prompt_id"]
    deadline = time.monotonic() + 60
    while not (jobs := [j for j in client.jobs(limit=50)["jobs"] if j["prompt_id"] == prompt_id]):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    done = wait_for_job(client, jobs[0]["job_id"], timeout_s=240)
    assert done["status"] == "completed" and done["source"] == "editor", done
    assert len(emulators["fal"].emulator.submits) == before + 1
    assert emulators["fal"].emulator.submits[-1][0] == "fal-ai/clarity-upscaler"
    remote = next(a for a in done["artifacts"] if a["metadata"].get("remote"))
    assert remote["metadata"]["engine"] == "provider_fal"
    final = [a for a in done["artifacts"] if not a["metadata"].get("remote")][-1]
    assert _decodable(Path(final["path"])) and final["sha256"] != remote["sha256"]
    # reserved at execution from the request (a 2x of the portrait at $0.03 per output megapixel), posted
    # at fal's reported billable megapixels × its unit price: the same amount, never more than the hold
    (post,) = _posted(client, done["job_id"])
    assert post["kind"] == "post" and post["credits"] == 0.032
