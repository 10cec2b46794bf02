"""A 10-shot storyboard vs one shot, through the real ComfyUI against the fal.ai emulator held at 20 s a job.

The storyboard node sends its shots together, so their remote waits overlap inside the one prompt. One shot is
one FLUX1.1 [pro] image (`photoreal_portrait_v1` on fal.ai: the same request, one at a time).
Figure: `storyboard10_ratio` = wall time of the 10-shot storyboard / wall time of one shot (goal ≤ 1.3).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from bench_remote import LATENCY_S, _wait  # noqa: E402

FAL_KEY = "fal-bench-id-7e21:fal-bench-secret-5d90aa"


def run(report) -> dict:
    """Measure one shot and a 10-shot storyboard against a 20 s emulator; return the ratio."""
    from ainfluencer.sidecar.cli.client import SidecarClient
    from ainfluencer.sidecar.host import runtime
    from emulators.fal import FalEmulator
    from emulators.threaded import ThreadedEmulator

    runtime.install()
    fal = ThreadedEmulator(FalEmulator(key=FAL_KEY, queue_s=0.5, run_s=LATENCY_S - 0.5))
    base = Path(tempfile.mkdtemp(prefix="ainf-bench-storyboard-")) / "base"
    env = {
        "AINFLUENCER_PROVIDER_FAL_BASE_URL": fal.base_url,
        "AINFLUENCER_PROVIDER_FAL_API_KEY": FAL_KEY,
        "AINFLUENCER_REMOTE_POLL_S": "1.0",
    }
    server = runtime.start_server(
        runtime.free_port(), base_dir=base, log_path=base.parent / "comfy.log", env=env
    )
    try:
        client = SidecarClient(server.url, timeout=120)
        client.set_budget(100)
        started = time.perf_counter()
        one = _wait(client, client.run("photoreal_portrait_v1", {"inputs": {"prompt": "shot 1"}})["job_id"])
        one_s = time.perf_counter() - started
        fal.emulator.peak_concurrency = 0
        body = {"inputs": {"prompt_template": "a night market, shot {shot_number}", "shot_count": 10}}
        started = time.perf_counter()
        board = _wait(client, client.run("storyboard_builder_v1", body)["job_id"])
        ten_s = time.perf_counter() - started
        if one["status"] != "completed" or board["status"] != "completed":
            raise RuntimeError(f"runs failed: {one['error']} {board['error']}")
        peak = fal.emulator.peak_concurrency
        client.close()
    finally:
        server.stop()
        fal.stop()
    ratio = ten_s / one_s
    report(f"emulated fal.ai latency {LATENCY_S:.0f} s per image")
    report(f"one shot: {one_s:.1f} s; 10-shot storyboard: {ten_s:.1f} s (peak {peak} requests in flight)")
    report(f"storyboard10_ratio = {ratio:.2f} (goal <= 1.3)")
    return {
        "storyboard10_ratio": round(ratio, 3),
        "storyboard_one_shot_s": round(one_s, 2),
        "storyboard10_s": round(ten_s, 2),
        "storyboard10_peak_in_flight": peak,
    }
