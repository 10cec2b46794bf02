"""Execution events from ComfyUI move jobs through their states and record artifacts."""

import pytest
from ainfluencer.sidecar.core.paths import data_dir
from ainfluencer.sidecar.core.storage import open_database
from ainfluencer.sidecar.jobs.store import JobStore
from ainfluencer.sidecar.runs.tracker import ExecutionTracker

PACK_PROMPT = {
    "1": {"class_type": "LoadVideo", "inputs": {}},
    "2": {"class_type": "AInfluencerFilmGrain", "inputs": {}},
}


@pytest.fixture
def store(tmp_path):
    folder = data_dir(tmp_path / "user")
    return JobStore(open_database(folder), folder)


@pytest.fixture
def tracker(store, tmp_path):
    (tmp_path / "output").mkdir()
    return ExecutionTracker(store, lambda name, sub, kind: tmp_path / "output" / sub / name)


def test_a_successful_run_completes_and_records_its_saved_files(store, tmp_path):
    job_id = store.create(source="api", preset_id="p", inputs={}, prompt_id="pr1")
    (tmp_path / "output" / "ainfluencer").mkdir(parents=True)
    (tmp_path / "output" / "ainfluencer" / "clip_00001_.mp4").write_bytes(b"\x00" * 10)
    events = []
    tracker = ExecutionTracker(
        store,
        lambda name, sub, kind: tmp_path / "output" / sub / name,
        listeners=(lambda name, data: events.append(data["status"]),),
    )
    tracker.on_queued("pr1", PACK_PROMPT, {})
    tracker.on_started("pr1")
    tracker.on_event(
        "progress_state", {"prompt_id": "pr1", "nodes": {"1": {"state": "finished", "value": 1, "max": 1}}}
    )
    tracker.on_event("progress", {"value": 5, "max": 10, "prompt_id": "pr1", "node": "2"})
    assert store.get(job_id)["status"] == "running" and store.get(job_id)["progress"] == 0.75
    outputs = {
        "2": {"images": [{"filename": "clip_00001_.mp4", "subfolder": "ainfluencer", "type": "output"}]}
    }
    tracker.on_done("pr1", outputs, {"status_str": "success", "completed": True, "messages": []})
    job = store.get(job_id)
    assert job["status"] == "completed" and job["progress"] == 1.0
    assert [(a["kind"], a["filename"], a["size_bytes"]) for a in job["artifacts"]] == [
        ("video", "clip_00001_.mp4", 10)
    ]
    assert events[0] == "running" and "progress" in events and events[-1] == "completed"


def test_a_node_error_fails_the_job_naming_the_node_and_its_message(store, tracker):
    job_id = store.create(source="api", preset_id="p", inputs={}, prompt_id="pr2")
    tracker.on_queued("pr2", PACK_PROMPT, {})
    error = {"node_id": "2", "node_type": "AInfluencerFilmGrain", "exception_message": "out of memory",
             "exception_type": "RuntimeError", "traceback": ["..."]}  # fmt: skip
    tracker.on_done(
        "pr2", {}, {"status_str": "error", "completed": False, "messages": [("execution_error", error)]}
    )
    job = store.get(job_id)
    assert job["status"] == "failed" and job["error_detail"]["error"] == "EXECUTION_FAILED"
    assert (
        "AInfluencerFilmGrain" in job["error_detail"]["message"]
        and "out of memory" in job["error_detail"]["message"]
    )


def test_an_interrupt_the_user_asked_for_ends_cancelled(store, tracker):
    job_id = store.create(source="api", preset_id="p", inputs={}, prompt_id="pr3")
    tracker.on_queued("pr3", PACK_PROMPT, {})
    tracker.request_cancel("pr3")
    tracker.on_done("pr3", {}, {"status_str": "error", "completed": False,
                                "messages": [("execution_interrupted", {"node_id": "2"})]})  # fmt: skip
    assert store.get(job_id)["status"] == "cancelled"


def test_a_prompt_removed_from_the_queue_is_cancelled(store, tracker):
    job_id = store.create(source="api", preset_id="p", inputs={}, prompt_id="pr4")
    tracker.on_queued("pr4", PACK_PROMPT, {})
    tracker.on_removed("pr4")
    assert store.get(job_id)["status"] == "cancelled"


def test_editor_prompts_with_pack_nodes_become_jobs_and_others_do_not(store, tracker):
    workflow = {"extra": {"ainfluencer": {"id": "color_grade_film_grain_v1"}}}
    tracker.on_queued("ed1", PACK_PROMPT, {"extra_pnginfo": {"workflow": workflow}})
    tracker.on_queued("ed2", {"1": {"class_type": "LoadVideo", "inputs": {}}}, {})
    listed = store.list()["jobs"]
    assert [(j["source"], j["preset_id"], j["prompt_id"]) for j in listed] == [
        ("editor", "color_grade_film_grain_v1", "ed1")
    ]


def test_a_cancel_that_lands_before_execution_starts_is_sent_again_once_the_prompt_runs(store, tmp_path):
    """ComfyUI clears its interrupt flag when a prompt starts executing; the tracker interrupts again."""
    store.create(source="api", preset_id="p", inputs={}, prompt_id="pr9")
    interrupts = []
    tracker = ExecutionTracker(store, lambda *_: None, interrupt=lambda: interrupts.append(1))
    tracker.on_queued("pr9", PACK_PROMPT, {})
    tracker.on_started("pr9")
    tracker.on_event("progress_state", {"prompt_id": "pr9", "nodes": {"1": {"state": "running"}}})
    assert interrupts == []  # nobody cancelled
    tracker.request_cancel("pr9")
    tracker.on_event("progress_state", {"prompt_id": "pr9", "nodes": {"1": {"state": "running"}}})
    tracker.on_event("progress", {"value": 1, "max": 10, "prompt_id": "pr9", "node": "2"})
    assert len(interrupts) == 2
