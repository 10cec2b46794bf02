"""No torn output after a crash: files appear under their final name only when complete, and the restart
after a kill -9 removes what the killed run left in its job folder."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ainfluencer.comfy_nodes.remote_media import write_result
from ainfluencer.sidecar.core.media import probe
from ainfluencer.sidecar.core.partial_files import atomic_output, is_partial, partial_path
from ainfluencer.sidecar.core.storage import jobs
from ainfluencer.sidecar.host.app import build_sidecar
from ainfluencer.sidecar.jobs.store import RUNNING, job_output_folder
from ainfluencer.sidecar.runs.tracker import ExecutionTracker
from conftest import EXAMPLES, start_test_server, wait_for_job

SAMPLE = EXAMPLES / "portrait_talking_source.mp4"
DEAD_PID = 2**22 + 12345  # above Linux's pid_max: no process has it

KILLED_WRITER = """
import os, signal, sys
from fractions import Fraction
import torch
from ainfluencer.comfy_nodes.polish.video_writer import VideoWriter

writer = VideoWriter(sys.argv[1], 64, 64, Fraction(24))
writer.write(torch.rand(48, 64, 64, 3))
os.kill(os.getpid(), signal.SIGKILL)  # dies mid-clip: no close, no cleanup
"""


def test_a_video_writer_killed_mid_clip_leaves_no_file_under_the_final_name(tmp_path):
    final = tmp_path / "clip_00001_.mp4"
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(final)], env=os.environ, timeout=120)
    assert done.returncode == -signal.SIGKILL
    assert not final.exists()
    assert [p.name for p in tmp_path.iterdir()] == [partial_path(final).name]
    assert is_partial(partial_path(final))


def test_an_atomic_output_appears_only_when_complete_and_not_at_all_when_the_writer_fails(tmp_path):
    final = tmp_path / "out.png"
    with atomic_output(final) as tmp:
        tmp.write_bytes(b"half")
        assert not final.exists()
    assert final.read_bytes() == b"half" and not partial_path(final).exists()
    broken = tmp_path / "broken.png"
    with pytest.raises(RuntimeError), atomic_output(broken) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("the encoder failed")
    assert list(tmp_path.iterdir()) == [final]


def test_a_downloaded_remote_result_is_renamed_into_place(tmp_path):
    path = write_result(tmp_path / "remote", "result", b"\x89PNG...", "image/png", ".bin")
    assert path.name == "result.png" and [p.name for p in path.parent.iterdir()] == ["result.png"]


def _orphan_job_with_leftovers(tmp_path: Path, host) -> tuple[str, Path]:
    """A job left running by a dead ComfyUI, its folder holding a partial, a torn and a whole file."""
    sidecar = build_sidecar(host, tmp_path / "user", host.resolve_output)
    job_id = sidecar.store.create(source="api", preset_id="color_grade_film_grain_v1", inputs={})
    with sidecar.store.engine.begin() as conn:
        conn.execute(jobs.update().where(jobs.c.job_id == job_id).values(status=RUNNING, owner_pid=DEAD_PID))
    folder = job_output_folder(host.output_dir, job_id)
    folder.mkdir(parents=True)
    partial_path(folder / "grade_00002_.mp4").write_bytes(SAMPLE.read_bytes()[:4096])
    (folder / "grade_00001_.mp4").write_bytes(SAMPLE.read_bytes()[:48])  # what SaveVideo leaves at kill -9
    shutil.copy(SAMPLE, folder / "first_pass_00001_.mp4")
    return job_id, folder


def test_the_restart_after_a_crash_removes_partial_and_torn_outputs_and_keeps_whole_ones(tmp_path, host):
    job_id, folder = _orphan_job_with_leftovers(tmp_path, host)
    unrelated = host.output_dir / "mine_00001_.mp4"
    unrelated.write_bytes(b"not ours to judge")
    restarted = build_sidecar(host, tmp_path / "user", host.resolve_output)
    job = restarted.store.get(job_id)
    assert job["status"] == "failed" and job["error_code"] == "JOB_INTERRUPTED"
    assert [p.name for p in folder.iterdir()] == ["first_pass_00001_.mp4"]
    assert probe(folder / "first_pass_00001_.mp4") is not None and unrelated.exists()
    removed = [e for e in restarted.store.read_logs(job_id) if e["message"] == "removed files a crash left"]
    assert sorted(removed[0]["files"]) == [".grade_00002_.partial.mp4", "grade_00001_.mp4"]


def test_a_partial_file_is_never_recorded_as_an_artifact(tmp_path, sidecar, host):
    job_id = sidecar.store.create(source="api", preset_id="p", inputs={}, prompt_id="p1")
    tracker = ExecutionTracker(sidecar.store, host.resolve_output)
    tracker.on_queued("p1", {"1": {"class_type": "SaveVideo", "inputs": {}}}, {})
    partial = partial_path(host.output_dir / "clip_00001_.mp4")
    shutil.copy(SAMPLE, partial)
    shutil.copy(SAMPLE, host.output_dir / "clip_00001_.mp4")
    video = [{"filename": n, "subfolder": "", "type": "output"} for n in (partial.name, "clip_00001_.mp4")]
    tracker.on_done("p1", {"1": {"images": video}}, {"status_str": "success", "messages": []})
    assert [a["filename"] for a in sidecar.store.get(job_id)["artifacts"]] == ["clip_00001_.mp4"]


@pytest.mark.integration
def test_kill_9_while_the_grade_writes_its_mp4_leaves_no_undecodable_file_after_restart(tmp_path):
    from ainfluencer.sidecar.cli.client import SidecarClient

    base = tmp_path / "base"
    server = start_test_server(base, "first.log")
    seen: list[Path] = []
    try:
        client = SidecarClient(server.url, timeout=120)
        name = client.upload(SAMPLE)["name"]
        job_id = client.run("color_grade_film_grain_v1", {"inputs": {"video": name}, "quality_level": "pro"})[
            "job_id"
        ]
        folder = job_output_folder(base / "output", job_id)
        deadline = time.monotonic() + 600
        while not seen and time.monotonic() < deadline:  # kill as soon as the save node has opened its file
            seen = [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
            time.sleep(0.005)
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
        client.close()
    finally:
        server.stop()
    assert seen, "the run never started writing its output"
    server = start_test_server(base, "second.log")
    try:
        client = SidecarClient(server.url, timeout=120)
        failed = wait_for_job(client, job_id, timeout_s=30)
        assert failed["status"] == "failed" and failed["error_code"] == "JOB_INTERRUPTED", failed
        assert failed["artifacts"] == []
        left = [p for p in folder.rglob("*") if p.is_file()]
        assert all(probe(p) is not None for p in left), [(p.name, p.stat().st_size) for p in left]
        client.close()
    finally:
        server.stop()
