"""A 10-shot storyboard vs one shot, through the real ComfyUI against the fal.ai emulator held at 20 s a job.

The storyboard node sends its shots together, so their remote waits overlap inside the one prompt. One shot is
one FLUX1.1 [pro] image (`photoreal_portrait_v1` on fal.ai: the same request, one at a time).
Figure: `storyboard10_ratio` = wall time of the 10-shot storyboard / wall time of one shot (goal ≤ 1.3).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from bench_remote import LATENCY_S, bench_client, timed_pair  # noqa: E402

FAL_KEY = "fal-bench-id-7e21:fal-bench-secret-5d90aa"


def run(report) -> dict:
    """Measure one shot and a 10-shot storyboard against a 20 s emulator; return the ratio."""
    from emulators.fal import FalEmulator
    from emulators.threaded import ThreadedEmulator

    fal = ThreadedEmulator(FalEmulator(key=FAL_KEY, queue_s=0.5, run_s=LATENCY_S - 0.5))
    env = {
        "AINFLUENCER_PROVIDER_FAL_BASE_URL": fal.base_url,
        "AINFLUENCER_PROVIDER_FAL_API_KEY": FAL_KEY,
        "AINFLUENCER_REMOTE_POLL_S": "1.0",
    }
    body = {"inputs": {"prompt_template": "a night market, shot {shot_number}", "shot_count": 10}}
    try:
        with bench_client("storyboard", env) as client:
            one_s, ten_s, peak = timed_pair(
                client,
                fal.emulator,
                lambda: client.run("photoreal_portrait_v1", {"inputs": {"prompt": "shot 1"}})["job_id"],
                lambda: client.run("storyboard_builder_v1", body)["job_id"],
            )
    finally:
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
