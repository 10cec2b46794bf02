"""Job history: rows, final states once, orphans after a crash, artifacts, redacted logs."""

import json
import os

import pytest
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.core.paths import data_dir
from ainfluencer.sidecar.core.storage import jobs, open_database
from ainfluencer.sidecar.jobs.store import JobStore


@pytest.fixture
def store(tmp_path):
    folder = data_dir(tmp_path / "user")
    return JobStore(open_database(folder), folder)


def test_data_lives_under_the_double_underscore_folder_in_wal_mode(store, tmp_path):
    assert (tmp_path / "user" / "__ainfluencer" / "ainfluencer.db").is_file()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_a_job_moves_queued_running_completed_and_a_final_state_is_kept(store):
    job_id = store.create(source="api", preset_id="p", inputs={"video": "a.mp4"})
    assert store.get(job_id)["status"] == "queued"
    store.mark_running(job_id)
    assert store.get(job_id)["status"] == "running"
    assert store.finish(job_id, "completed") is True
    assert store.finish(job_id, "failed", AInfError(ErrorCode.EXECUTION_FAILED)) is False
    job = store.get(job_id)
    assert (job["status"], job["progress"], job["error"]) == ("completed", 1.0, None)


def test_failure_stores_the_error_shape_with_the_job_id(store):
    job_id = store.create(source="api", preset_id="p", inputs={})
    store.finish(job_id, "failed", AInfError(ErrorCode.EXECUTION_FAILED, "Node X failed: boom"))
    error = store.get(job_id)["error_detail"]
    assert error["error"] == "EXECUTION_FAILED" and error["job_id"] == job_id and error["remediation"]


def test_inputs_and_logs_are_redacted_at_write_time(store, canary):
    job_id = store.create(source="api", preset_id="p", inputs={"prompt": f"x {canary}", "api_key": "k"})
    store.log(job_id, "info", f"saw {canary}", token="t")
    job = store.get(job_id)
    assert canary not in json.dumps(job)
    assert job["inputs"]["api_key"] == "***REDACTED***"
    text = store.log_path(job_id).read_text()
    assert canary not in text and '"token": "***REDACTED***"' in text


def test_jobs_left_by_a_dead_process_are_failed_with_remediation_but_live_ones_kept(store):
    dead = store.create(source="api", preset_id="p", inputs={})
    alive = store.create(source="api", preset_id="p", inputs={})
    with store.engine.begin() as conn:
        conn.execute(jobs.update().where(jobs.c.job_id == dead).values(owner_pid=2**22 + 12345))
        conn.execute(jobs.update().where(jobs.c.job_id == alive).values(owner_pid=os.getppid()))
    assert store.fail_orphans() == [dead]
    error = store.get(dead)["error_detail"]
    assert (
        store.get(dead)["status"] == "failed" and error["error"] == "JOB_INTERRUPTED" and error["remediation"]
    )
    assert store.get(alive)["status"] == "queued"


def test_artifacts_carry_sha256_and_size(store, tmp_path):
    job_id = store.create(source="api", preset_id="p", inputs={})
    out = tmp_path / "o.mp4"
    out.write_bytes(b"hello")
    store.add_artifact(job_id, out, kind="video", filename="o.mp4", subfolder="")
    (art,) = store.get(job_id)["artifacts"]
    assert art["sha256"] == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert art["size_bytes"] == 5


def test_listing_is_newest_first_with_total_and_status_filter(store):
    ids = [store.create(source="api", preset_id=f"p{i}", inputs={}) for i in range(3)]
    store.finish(ids[0], "cancelled")
    listed = store.list(limit=2)
    assert listed["total"] == 3 and [j["job_id"] for j in listed["jobs"]] == [ids[2], ids[1]]
    assert [j["job_id"] for j in store.list(status="cancelled")["jobs"]] == [ids[0]]


def test_unknown_job_is_job_not_found(store):
    with pytest.raises(AInfError) as info:
        store.get("job_nope")
    assert info.value.code == ErrorCode.JOB_NOT_FOUND
