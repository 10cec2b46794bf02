"""`ainfluencer run repair_pipeline_v1` repairs a failed job like any preset runs, through a real ComfyUI.

The repair is a preset of the pipeline (no graph), so the CLI has no file inputs to upload for it; it shows
the same estimate, progress bar and result lines, and an unknown job id is refused in command-line words.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from ainfluencer.sidecar.cli.common import cli_words
from ainfluencer.sidecar.cli.run import for_terminal
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.runs.repair import JOB_HISTORY_STEP, REPAIR_PRESET
from conftest import wait_for_job
from test_remote_integration import client, emulators, server  # noqa: F401  (shared fixtures)

CLI = [sys.executable, "-m", "ainfluencer.sidecar.cli.main"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300)


def test_the_job_history_step_names_the_jobs_command_on_the_terminal():
    assert cli_words(JOB_HISTORY_STEP) == "List jobs with `ainfluencer jobs` and pass a failed job's id."


def test_an_unknown_job_to_repair_names_the_input_it_came_from():
    server_error = AInfError(
        ErrorCode.FILE_NOT_FOUND, "Failed job not found.", remediation=[JOB_HISTORY_STEP],
        detail={"failed_job_id": "job_nope"},
    )  # fmt: skip
    worded = for_terminal(server_error, {"failed_job_id": "job_nope"})
    assert worded.code == ErrorCode.FILE_NOT_FOUND
    assert worded.message == "There is no job 'job_nope' to repair (--input failed_job_id=job_nope)."
    other = AInfError(ErrorCode.FILE_NOT_FOUND, "No such upload.", detail={"name": "a.png"})
    assert for_terminal(other, {}) is other


@pytest.mark.integration
def test_the_cli_repairs_a_failed_job_with_the_progress_bar_and_result_lines(client, server, emulators):  # noqa: F811
    fal = emulators["fal"].emulator
    fal.fault = "moderation"
    try:
        started = client.run("photoreal_portrait_v1", {"inputs": {"prompt": "a lighthouse at dusk"}})
        failed = wait_for_job(client, started["job_id"], timeout_s=240)
    finally:
        fal.fault = None
    assert failed["status"] == "failed" and failed["error_code"] == "SAFETY_FILTER", failed

    done = _cli("run", REPAIR_PRESET, "--server", server.url, "--input", f"failed_job_id={failed['job_id']}")
    assert done.returncode == 0, done.stderr + done.stdout
    assert "estimate  about" in done.stderr and f"(repairs job {failed['job_id']})" in done.stderr
    assert "100%" in done.stderr  # the progress bar reached the end
    assert "completed" in done.stdout.splitlines()[0] and "photoreal_portrait_v1" in done.stdout
    repair_id = done.stdout.split()[1]
    repaired = client.job(repair_id)
    assert repaired["status"] == "completed" and repaired["inputs"]["repair_of"] == failed["job_id"]
    assert any(not a["metadata"].get("remote") for a in repaired["artifacts"])


@pytest.mark.integration
def test_the_cli_refuses_an_unknown_job_to_repair_in_its_own_words(server):  # noqa: F811
    done = _cli("run", REPAIR_PRESET, "--server", server.url, "--input", "failed_job_id=job_nope")
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert (
        "error FILE_NOT_FOUND: There is no job 'job_nope' to repair (--input failed_job_id=job_nope)."
        in lines
    )
    assert "  -> List jobs with `ainfluencer jobs` and pass a failed job's id." in lines
