"""A job's progress follows the frames of its streamed video pass, with frames done / total and an ETA.

The VIDEO look nodes only append a pass and finish at once; the node that writes the clip processes every
frame. So the frame passes carry most of a job's progress, and while one runs the job (its record, the
websocket event, the CLI bar) says how many frames are done of how many and how long the rest will take.
"""

from __future__ import annotations

import time

import pytest
from ainfluencer.sidecar.cli.client import SidecarClient
from ainfluencer.sidecar.cli.run import bar_description
from ainfluencer.sidecar.core.paths import data_dir
from ainfluencer.sidecar.core.storage import open_database
from ainfluencer.sidecar.jobs.store import JobStore
from ainfluencer.sidecar.runs.progress import FRAME_SHARE, FramePass, frame_fields, node_weights
from ainfluencer.sidecar.runs.tracker import ExecutionTracker
from test_video_presets import make_clip

GRADE_PROMPT = {
    "1": {"class_type": "LoadVideo", "inputs": {}},
    "3": {"class_type": "AInfluencerColorGradeVideo", "inputs": {"video": ["1", 0]}},
    "7": {"class_type": "AInfluencerToneMapVideo", "inputs": {"video": ["3", 0]}},
    "4": {"class_type": "AInfluencerFilmGrainVideo", "inputs": {"video": ["7", 0]}},
    "6": {"class_type": "AInfluencerSaveVideo", "inputs": {"video": ["4", 0]}},
}


def test_the_frame_pass_carries_most_of_a_streamed_jobs_progress():
    weights = node_weights(GRADE_PROMPT)
    assert weights["6"] == pytest.approx(FRAME_SHARE) and FRAME_SHARE >= 0.8
    assert [weights[n] for n in ("1", "3", "7", "4")] == pytest.approx([(1 - FRAME_SHARE) / 4] * 4)
    assert sum(weights.values()) == pytest.approx(1.0)


def test_a_job_without_a_frame_pass_counts_its_nodes_alike():
    prompt = {"1": {"class_type": "LoadImage"}, "2": {"class_type": "AInfluencerSaveImage"}}
    assert node_weights(prompt) == {"1": 0.5, "2": 0.5}


def test_the_eta_is_the_frames_left_at_the_pace_measured_so_far():
    frames = FramePass.start("6", 0, 100, now=10.0)
    frames.update(5, 100, now=10.2)
    assert frames.progress().eta_seconds is None  # too soon to know the pace
    frames.update(20, 100, now=12.0)
    assert frames.progress().eta_seconds == pytest.approx(8.0)
    assert frames.progress().text() == "node 6: frame 20 of 100, about 8 s left"


def test_while_the_frames_run_the_job_moves_with_them_and_says_how_many_and_how_long(tmp_path):
    folder = data_dir(tmp_path / "user")
    store = JobStore(open_database(folder), folder)
    events = []
    tracker = ExecutionTracker(store, lambda *_: None, listeners=(lambda name, data: events.append(data),))
    job_id = store.create(source="api", preset_id="color_grade_film_grain_v1", inputs={}, prompt_id="pr1")
    tracker.on_queued("pr1", GRADE_PROMPT, {})
    tracker.on_started("pr1")
    finished = {n: {"state": "finished", "value": 1, "max": 1} for n in ("1", "3", "7", "4")}
    tracker.on_event("progress_state", {"prompt_id": "pr1", "nodes": finished})
    assert store.get(job_id)["progress"] == pytest.approx(1 - FRAME_SHARE)  # look nodes done, no frame yet
    seen = []
    for done in range(0, 90, 15):
        tracker.on_event("progress", {"value": done, "max": 90, "prompt_id": "pr1", "node": "6"})
        seen.append(store.get(job_id)["progress"])
        time.sleep(0.15)
    assert seen == sorted(seen) and len(set(seen)) == len(seen) and seen[0] < 0.2 and seen[-1] > 0.8
    live = tracker.live_frames(job_id)
    assert (live.done, live.total) == (75, 90) and live.eta_seconds is not None
    tracker.on_event("progress", {"value": 90, "max": 90, "prompt_id": "pr1", "node": "6"})
    assert tracker.live_frames(job_id) is None and store.get(job_id)["progress"] == 0.99
    framed = [e for e in events if e.get("frames_done") is not None]
    assert framed and framed[-1]["frames_total"] == 90
    assert store.get(job_id)["progress_text"].startswith("node 6: frame ")


def test_the_cli_bar_names_the_frames_and_the_time_left():
    job = {"status": "running", **frame_fields(None)}
    assert bar_description(job) == "running"
    job.update(frames_done=120, frames_total=300, eta_seconds=75.0)
    assert bar_description(job) == "running 120/300 frames, about 1 min 15 s left"


@pytest.mark.integration
def test_a_grade_on_a_clip_of_a_few_seconds_reports_rising_progress_frames_and_an_eta(comfy_url, tmp_path):
    clip = make_clip(tmp_path / "progress_clip.mp4", 3)
    api = SidecarClient(comfy_url, timeout=120)
    try:
        name = api.upload(clip)["name"]
        body = {"inputs": {"video": name}, "quality_level": "pro"}
        job_id = api.run("color_grade_film_grain_v1", body)["job_id"]
        samples = []
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            job = api.job(job_id)
            if job["status"] in ("completed", "failed", "cancelled"):
                break
            if job["frames_done"] is not None:
                samples.append((job["progress"], job["frames_done"], job["frames_total"], job["eta_seconds"]))
            time.sleep(0.1)
    finally:
        api.close()
    assert job["status"] == "completed", job["error_detail"]
    values = sorted({s[0] for s in samples})
    assert len(values) >= 3 and all(0 < v < 1 for v in values), samples
    assert [s[0] for s in samples] == sorted(s[0] for s in samples)  # never backwards
    assert values[-1] - values[0] >= 0.3  # the frames move the job, not a sliver at its end
    assert {s[2] for s in samples} == {90}  # 3 s at 30 fps
    assert any(s[3] is not None for s in samples)
