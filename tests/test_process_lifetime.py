"""ComfyUI never outlives what started it, and the log of a crash survives the restart that follows it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ainfluencer.sidecar.host import runtime
from processes import alive, wait_gone

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

# a parent that stops its child the way `serve` does; the child ignores SIGTERM, so only SIGKILL ends it
STOPPING_PARENT = """
import subprocess, sys, time
from pathlib import Path
from ainfluencer.sidecar.host import runtime
stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); "
stubborn += "time.sleep(120)"
child = subprocess.Popen([sys.executable, "-c", stubborn], stdout=subprocess.PIPE)
child.stdout.readline()
server = runtime.ComfyServer(child, "", Path("."), Path("unused.log"))
with runtime.stop_on_signals():
    try:
        print(child.pid, flush=True)
        child.wait()
    except runtime.StopRequested as stop:
        started = time.monotonic()
        server.stop(stop.signum, timeout=1.5)
        print(round(time.monotonic() - started, 1), flush=True)
        sys.exit(stop.exit_code)
"""


def test_a_stop_signal_is_forwarded_then_the_child_is_killed_after_the_bounded_wait():
    parent = subprocess.Popen([sys.executable, "-c", STOPPING_PARENT], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        parent.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        parent.send_signal(signal.SIGTERM)  # a second TERM does not cut the wait short
        assert parent.wait(10) == 128 + signal.SIGTERM
        assert float(parent.stdout.readline()) >= 1.5
        assert wait_gone(child), "the child outlived the bounded wait"
    finally:
        parent.kill()


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
