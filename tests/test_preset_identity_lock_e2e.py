"""The identity presets end to end through the real ComfyUI against the strict fal emulator.

Each run: consent enforced, the output decodable at the right shape, the ledger posted per remote step, and
the identity of the output measured against the reference and recorded on the job.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ainfluencer.sidecar.cli.client import SidecarClient
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.host import runtime
from conftest import EXAMPLES, wait_for_job
from emulators.fal import FalEmulator
from emulators.media import make_wav
from emulators.threaded import ThreadedEmulator
from face_samples import other_face_png
from PIL import Image

pytestmark = pytest.mark.integration

FAL_KEY = "fal-e2e-id-93b1:fal-e2e-secret-07c4d2"


@pytest.fixture(scope="module")
def fal() -> Iterator[ThreadedEmulator]:
    started = ThreadedEmulator(FalEmulator(key=FAL_KEY, queue_s=0.05, run_s=0.3))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def client(fal, tmp_path_factory) -> Iterator[SidecarClient]:
    """A real ComfyUI whose fal.ai is the emulator, with the key connected and a budget set."""
    runtime.install()
    base = tmp_path_factory.mktemp("identity") / "base"
    env = {"AINFLUENCER_PROVIDER_FAL_BASE_URL": fal.base_url, "AINFLUENCER_REMOTE_POLL_S": "0.2"}
    server = runtime.start_server(runtime.free_port(), base_dir=base, log_path=base.parent / "log", env=env)
    api = SidecarClient(server.url, timeout=120)
    try:
        assert api.connect("provider_fal", FAL_KEY)["ok"]
        api.set_budget(20.0)
        for name in ("portrait.png", "speech.wav"):
            api.upload(EXAMPLES / name)
        yield api
    finally:
        api.close()
        server.stop()


def _settled(client: SidecarClient, job_id: str) -> list[dict]:
    transfers = client._call("GET", "/credits/ledger", params={"limit": 500})["transfers"]
    return [t for t in transfers if t["job_id"] == job_id and t["kind"] in ("post", "void")]


def _final(job: dict) -> Path:
    return Path(next(a for a in job["artifacts"] if not a["metadata"].get("remote"))["path"])


IDENTITY_LOCK = {"inputs": {"identity_reference": "portrait.png", "prompt": "her on a rooftop at dusk"}}


def test_identity_lock_without_consent_is_refused_before_anything_is_sent(client, fal):
    before = len(fal.emulator.submits)
    with pytest.raises(AInfError) as refused:
        client.run("identity_lock_portrait_v1", IDENTITY_LOCK)
    assert refused.value.code == ErrorCode.CONSENT_MISSING and len(fal.emulator.submits) == before


def test_identity_lock_keeps_the_face_posts_fal_cost_and_records_the_identity(client, fal):
    job = client.run("identity_lock_portrait_v1", {**IDENTITY_LOCK, "consent_given": True})
    done = wait_for_job(client, job["job_id"], timeout_s=240)
    assert done["status"] == "completed", done["error_detail"]
    model, body = fal.emulator.submits[-1]
    assert model == "fal-ai/flux-pulid" and body["image_size"] == "portrait_4_3"
    with Image.open(_final(done)) as image:
        assert image.size == (768, 1024)
    # fal reports 1 megapixel at $0.0333; the ledger keeps thousandths, rounded up
    assert [(t["kind"], t["credits"]) for t in _settled(client, job["job_id"])] == [("post", 0.034)]
    (check,) = done["identity"]["checks"]
    assert check["subject"] == "shot" and check["worst"] < 0.6 and done["warnings"] == []


def test_an_output_with_another_face_makes_the_job_warn_of_identity_drift(client, fal):
    fal.emulator.pulid_render = other_face_png()
    try:
        body = {**IDENTITY_LOCK, "consent_given": True, "seed": 11}  # a new take, not the cached one
        job = client.run("identity_lock_portrait_v1", body)
        done = wait_for_job(client, job["job_id"], timeout_s=240)
    finally:
        fal.emulator.pulid_render = None
    assert done["status"] == "completed", done["error_detail"]
    assert done["warnings"] and done["warnings"][0].startswith("identity drift in shot 1")
    assert done["identity"]["checks"][0]["drifted"] == [1]


def test_a_rerun_served_from_comfyuis_cache_is_still_measured_on_its_own_job(client):
    body = {**IDENTITY_LOCK, "consent_given": True, "seed": 23}
    jobs = [wait_for_job(client, client.run("identity_lock_portrait_v1", body)["job_id"]) for _ in range(2)]
    assert [len(job["identity"]["checks"]) for job in jobs] == [1, 1]


HERO = {"inputs": {"image": "portrait.png", "audio": "speech.wav"}, "consent_given": True}
SPEECH_SECONDS = 7.607


def _clip_facts(path: Path) -> tuple[int, int, float, float]:
    """Width, height, duration and integrated loudness (LUFS) of a finished clip."""
    from ainfluencer.comfy_nodes.polish.loudness import integrated_loudness
    from ainfluencer.comfy_nodes.polish.video_audio import read_audio
    from ainfluencer.comfy_nodes.polish.video_probe import probe_video

    info = probe_video(path)
    audio = read_audio(path)
    assert audio is not None, "the clip lost its audio"
    return info.width, info.height, info.duration, integrated_loudness(audio, 48000)


def _hero_run(client, preset: str, body: dict) -> tuple[dict, tuple[int, int, float, float]]:
    with pytest.raises(AInfError) as refused:
        client.run(preset, {**body, "consent_given": False})
    assert refused.value.code == ErrorCode.CONSENT_MISSING
    job = client.run(preset, body)
    done = wait_for_job(client, job["job_id"], timeout_s=900)
    assert done["status"] == "completed", done["error_detail"]
    return done, _clip_facts(_final(done))


def test_hero_journey_one_photo_and_speech_become_a_9_16_clip_of_the_speech_at_minus_14_lufs(client, fal):
    done, (width, height, seconds, lufs) = _hero_run(client, "cinematic_talking_head_v1", HERO)
    assert fal.emulator.submits[-1][0] == "fal-ai/bytedance/omnihuman"
    assert (width, height) == (1080, 1920)
    assert seconds == pytest.approx(SPEECH_SECONDS, abs=0.25) and lufs == pytest.approx(-14.0, abs=1.0)
    # fal bills the 7.6 s clip at $0.14/s
    assert [(t["kind"], t["credits"]) for t in _settled(client, done["job_id"])] == [("post", 1.065)]
    (check,) = done["identity"]["checks"]
    assert check["subject"] == "frame" and len(check["labels"]) == 16 and done["warnings"] == []


def test_talking_clip_from_one_photo_is_the_fal_variant_and_follows_the_audio(client, fal, tmp_path):
    speech = tmp_path / "two_seconds.wav"
    speech.write_bytes(make_wav(seconds=2.0, rate=48000))
    client.upload(speech)
    body = {"inputs": {"image": "portrait.png", "audio": speech.name}, "consent_given": True,
            "engine": "provider_fal"}  # fmt: skip
    done, (width, height, seconds, lufs) = _hero_run(client, "talking_clip_v1", body)
    assert done["engine_used"] == "provider_fal"
    assert fal.emulator.submits[-1][0] == "fal-ai/bytedance/omnihuman"
    assert (width, height) == (1080, 1920)
    assert seconds == pytest.approx(2.0, abs=0.25) and lufs == pytest.approx(-14.0, abs=1.0)
    # a 2 s clip is held at the 10 s a talking head is planned at, and fal's 2 billed seconds are posted
    assert [(t["kind"], t["credits"]) for t in _settled(client, done["job_id"])] == [("post", 0.28)]


VIDEO_IDENTITY = {"inputs": {"video": "portrait_push_in.mp4", "identity_reference": "portrait.png"}}


def test_video_identity_pass_keeps_the_face_and_interpolates_at_pro(client, fal):
    with pytest.raises(AInfError) as refused:
        client.run("video_identity_consistency_v1", VIDEO_IDENTITY)
    assert refused.value.code == ErrorCode.CONSENT_MISSING
    body = {**VIDEO_IDENTITY, "consent_given": True, "quality_level": "pro"}
    done = wait_for_job(client, client.run("video_identity_consistency_v1", body)["job_id"], timeout_s=900)
    assert done["status"] == "completed", done["error_detail"]
    assert fal.emulator.submits[-1][0] == "half-moon-ai/ai-face-swap/faceswapvideo"
    from ainfluencer.comfy_nodes.polish.video_probe import probe_video

    swapped = probe_video(next(a for a in done["artifacts"] if a["metadata"].get("remote"))["path"])
    final = probe_video(_final(done))
    assert final.frame_count >= 2 * swapped.frame_count - 2 and final.duration == pytest.approx(5.0, abs=0.2)
    # fal bills the 5 s clip at the emulated $0.10/s
    assert [(t["kind"], t["credits"]) for t in _settled(client, done["job_id"])] == [("post", 0.5)]
    (check,) = done["identity"]["checks"]
    assert check["subject"] == "frame" and done["warnings"] == []
