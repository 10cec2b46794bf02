"""`ainfluencer serve` and `run` never leave their ComfyUI behind: a stop signal is forwarded and waited
for, a SIGKILL of the CLI takes ComfyUI down through the parent-death signal, and the port is free after."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from ainfluencer.sidecar.host import runtime
from conftest import EXAMPLES
from processes import children, port_is_free, wait_gone, wait_port_free

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-m", "ainfluencer.sidecar.cli.main"]
PRESET = "color_grade_film_grain_v1"
STOPPED_WITHIN_S = runtime.STOP_TIMEOUT_S + 10


def _serve(port: int, base: Path) -> tuple[subprocess.Popen, int]:
    """Start `ainfluencer serve` and return it with the ComfyUI pid it announces."""
    cli = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--base-dir", str(base)], stderr=subprocess.PIPE, text=True
    )
    lines = []
    while line := cli.stderr.readline():
        lines.append(line)
        if match := re.search(r"\(pid (\d+),", line):
            return cli, int(match.group(1))
    cli.kill()
    raise AssertionError("serve did not start:\n" + "".join(lines))


def test_serve_stops_its_comfyui_on_sigterm_and_dies_with_it_on_sigkill(tmp_path):
    port = runtime.free_port()
    cli, comfy = _serve(port, tmp_path / "base")
    try:
        assert not port_is_free(port)
        cli.send_signal(signal.SIGTERM)
        assert cli.wait(STOPPED_WITHIN_S) == 0
        assert wait_gone(comfy, 5), "ComfyUI outlived a serve stopped with SIGTERM"
        assert wait_port_free(port)
        assert "SIGTERM: stopping ComfyUI" in cli.stderr.read()
    finally:
        cli.kill()

    again, comfy = _serve(port, tmp_path / "base")  # the same port starts cleanly
    try:
        os.kill(again.pid, signal.SIGKILL)
        again.wait(10)
        assert wait_gone(comfy, STOPPED_WITHIN_S), "ComfyUI outlived a serve killed with -9"
        assert wait_port_free(port)
    finally:
        again.kill()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_run_takes_its_ephemeral_comfyui_down_when_stopped_mid_run(tmp_path, signum):
    video = EXAMPLES / "portrait_talking_source.mp4"
    args = ["--json", "--quality", "pro", "--input", f"video={video}", "--base-dir", str(tmp_path / "base")]
    cli = subprocess.Popen(
        [*CLI, "run", PRESET, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        estimate, first = cli.stdout.readline(), cli.stdout.readline()  # the estimate comes before the run
        assert estimate and json.loads(estimate)["event"] == "estimate", estimate + cli.stderr.read()
        assert first and json.loads(first)["event"] == "queued", first + cli.stderr.read()
        (comfy,) = children(cli.pid)
        cli.send_signal(signum)
        code = cli.wait(STOPPED_WITHIN_S)
        assert wait_gone(comfy, STOPPED_WITHIN_S), f"ComfyUI outlived a run ended by {signum.name}"
        if signum == signal.SIGTERM:
            assert code == 128 + signal.SIGTERM
            assert f"job {json.loads(first)['job_id']} cancelled" in cli.stderr.read()
    finally:
        cli.kill()
