"""ugc_clip_builder_v1: product scene → video → lip-sync (with a voice-over) → grade → upscale (pro) → 9:16.

End to end through the real ComfyUI against the strict Kling and Sync Labs emulators: each remote step is
held and posted on its own, the lip-sync is left out without a voice-over, and when the lip-sync fails the
scene and the video stay kept and paid once, and the repair pays only for the lip-sync.
"""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from ainfluencer.sidecar.core.paths import WORKFLOWS_DIR
from ainfluencer.sidecar.jobs.presets import load_preset_file
from conftest import wait_for_job
from preset_layout import layout_problems
from test_remote_integration import _posted, client, emulators, server  # noqa: F401  (shared fixtures)

PRESET = "ugc_clip_builder_v1"
BODY = {"inputs": {"product_image": "portrait.png", "prompt": "the bottle on a sunny kitchen counter",
                   "audio": "speech.wav"}}  # fmt: skip
SCENE, VIDEO, LIPSYNC, EXPORT = "node:2", "node:3", "node:5", "11"


def _clip(path: str) -> tuple[int, int, float]:
    with av.open(path) as container:
        stream = container.streams.video[0]
        seconds = float(container.duration / av.time_base) if container.duration else 0.0
        return stream.width, stream.height, seconds


def _steps(api, job_id: str) -> dict[str, str]:
    return {t["step_id"]: t["kind"] for t in _posted(api, job_id)}


def test_without_a_voice_over_the_lip_sync_is_bypassed_and_the_quality_levels_add_grade_then_upscale():
    manifest = load_preset_file(WORKFLOWS_DIR / f"{PRESET}.json").manifest
    assert manifest.input("audio").bypass_when_absent == ["4", "5"]
    assert not manifest.input("audio").required and manifest.input("product_image").required
    assert manifest.quality_levels["low"].bypass == ["7", "8"]
    assert manifest.quality_levels["standard"].bypass == ["8"]
    assert manifest.quality_levels["pro"].bypass == []


def test_the_graph_is_laid_out_for_reading():
    assert layout_problems(WORKFLOWS_DIR / f"{PRESET}.json") == []


@pytest.mark.integration
def test_a_ugc_clip_with_a_voice_over_pays_each_remote_step_once_and_exports_9_16(client, emulators):  # noqa: F811
    kling, sync = emulators["kling"].emulator, emulators["sync"].emulator
    kling_before, sync_before = len(kling.submits), len(sync.submits)
    done = wait_for_job(client, client.run(PRESET, {**BODY, "quality_level": "pro"})["job_id"], timeout_s=300)
    assert done["status"] == "completed", done
    assert [s[0] for s in kling.submits[kling_before:]] == ["generations", "image2video"]
    assert kling.submits[kling_before][1]["image_reference"] == "subject"
    assert len(sync.submits) == sync_before + 1
    assert _steps(client, done["job_id"]) == {SCENE: "post", VIDEO: "post", LIPSYNC: "post"}
    export = next(a for a in done["artifacts"] if a["node_id"] == EXPORT)
    width, height, seconds = _clip(export["path"])
    assert (width, height) == (1080, 1920)
    lipsynced = next(a for a in done["artifacts"] if a["metadata"].get("remote") and a["node_id"] == "5")
    assert seconds == pytest.approx(_clip(lipsynced["path"])[2], abs=0.2)


@pytest.mark.integration
def test_without_a_voice_over_nothing_is_sent_to_sync(client, emulators):  # noqa: F811
    sync = emulators["sync"].emulator
    before = len(sync.submits)
    body = {"inputs": {k: v for k, v in BODY["inputs"].items() if k != "audio"}, "quality_level": "low"}
    done = wait_for_job(client, client.run(PRESET, body)["job_id"], timeout_s=300)
    assert done["status"] == "completed", done
    assert len(sync.submits) == before
    assert _steps(client, done["job_id"]) == {SCENE: "post", VIDEO: "post"}
    export = next(a for a in done["artifacts"] if a["node_id"] == EXPORT)
    assert _clip(export["path"])[:2] == (1080, 1920)


@pytest.mark.integration
def test_a_failed_lip_sync_keeps_the_paid_steps_and_the_repair_pays_only_the_lip_sync(client, emulators):  # noqa: F811
    kling, sync = emulators["kling"].emulator, emulators["sync"].emulator
    sync.fault = "failed"
    try:
        failed = wait_for_job(client, client.run(PRESET, BODY)["job_id"], timeout_s=300)
    finally:
        sync.fault = None
    assert failed["status"] == "failed", failed
    assert _steps(client, failed["job_id"]) == {SCENE: "post", VIDEO: "post", LIPSYNC: "void"}
    kept = [a for a in failed["artifacts"] if a["metadata"].get("remote")]
    assert sorted(a["node_id"] for a in kept) == ["2", "3"] and all(Path(a["path"]).is_file() for a in kept)

    kling_before, sync_before = len(kling.submits), len(sync.submits)
    started = client.run("repair_pipeline_v1", {"inputs": {"failed_job_id": failed["job_id"]}})
    repaired = wait_for_job(client, started["job_id"], timeout_s=300)
    assert repaired["status"] == "completed", repaired
    assert repaired["inputs"]["repair_of"] == failed["job_id"]
    assert len(kling.submits) == kling_before  # scene and video: the recorded results, not paid again
    assert len(sync.submits) == sync_before + 1
    assert _steps(client, repaired["job_id"]) == {SCENE: "void", VIDEO: "void", LIPSYNC: "post"}
    messages = [line["message"] for line in client.logs(repaired["job_id"])]
    assert messages.count(f"reused result of job {failed['job_id']}") == 2
    assert any(a["node_id"] == EXPORT for a in repaired["artifacts"])
