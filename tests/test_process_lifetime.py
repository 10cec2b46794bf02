"""ComfyUI never outlives what started it, and the log of a crash survives the restart that follows it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ainfluencer.sidecar.host import runtime

REPO = Path(__file__).resolve().parents[1]

# a parent that starts a long-sleeping child with the runtime's pre-exec hook, prints its pid, then waits
PARENT = """
import subprocess, sys, time
from ainfluencer.sidecar.host.runtime import _parent_death_signal
sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
child = subprocess.Popen(sleeper, preexec_fn=_parent_death_signal())
print(child.pid, flush=True)
time.sleep(120)
"""


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pid: int, seconds: float = 10.0) -> bool:
    """Wait until `pid` has ended."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_a_child_dies_when_its_parent_is_killed_with_sigkill():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert alive(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        assert wait_gone(child), "the child outlived a parent killed with -9"
    finally:
        parent.kill()


def test_the_death_signal_is_only_asked_for_from_the_main_thread():
    import threading

    seen: list[object] = []
    worker = threading.Thread(target=lambda: seen.append(runtime._parent_death_signal()))
    worker.start()
    worker.join()
    assert seen == [None] and callable(runtime._parent_death_signal())


def test_a_new_start_keeps_the_previous_logs(tmp_path):
    log = tmp_path / "comfyui.log"
    for run in range(1, runtime.KEPT_LOGS + 3):
        runtime.rotate_logs(log)
        log.write_text(f"run {run}\n")
    newest = runtime.KEPT_LOGS + 2
    assert log.read_text() == f"run {newest}\n"
    assert (tmp_path / "comfyui.log.1").read_text() == f"run {newest - 1}\n"
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == ["comfyui.log"] + [f"comfyui.log.{i}" for i in range(1, runtime.KEPT_LOGS + 1)]
