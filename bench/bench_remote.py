"""Ten image→video runs merged into one batch vs one run, through the real ComfyUI against the Kling emulator.

The emulator holds every job for 20 s (a realistic remote latency). ComfyUI executes one prompt at a time,
so ten separate runs would take about ten times one run; merged into one prompt, the remote waits overlap.
Figure: `remote_batch10_ratio` = wall time of the batch of 10 / wall time of one run (goal ≤ 1.3).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

LATENCY_S = 20.0
AK, SK = "kling-bench-access-0a1b", "kling-bench-secret-2c3d4e5f"


def _wait(client, job_id: str, timeout_s: float = 600) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.job(job_id)
        if job["status"] in ("completed", "failed", "cancelled"):
            return job
        time.sleep(0.2)
    raise RuntimeError(f"{job_id} did not finish")


def timed_pair(
    client, emulator, single: Callable[[], str], many: Callable[[], str]
) -> tuple[float, float, int]:
    """Wall time of one job, then of the many-run job, and the emulator's peak of jobs in flight during it."""
    started = time.perf_counter()
    first = _wait(client, single())
    one_s = time.perf_counter() - started
    emulator.peak_concurrency = 0
    started = time.perf_counter()
    second = _wait(client, many())
    many_s = time.perf_counter() - started
    if first["status"] != "completed" or second["status"] != "completed":
        raise RuntimeError(f"runs failed: {first['error']} {second['error']}")
    return one_s, many_s, emulator.peak_concurrency


@contextmanager
def bench_client(tag: str, env: dict[str, str]) -> Iterator[Any]:
    """A client of a fresh embedded ComfyUI started with `env` (the emulators' URLs and keys), budget 100."""
    from ainfluencer.sidecar.cli.client import SidecarClient
    from ainfluencer.sidecar.host import runtime

    runtime.install()
    base = Path(tempfile.mkdtemp(prefix=f"ainf-bench-{tag}-")) / "base"
    server = runtime.start_server(
        runtime.free_port(), base_dir=base, log_path=base.parent / "comfy.log", env=env
    )
    try:
        client = SidecarClient(server.url, timeout=120)
        client.set_budget(100)
        yield client
        client.close()
    finally:
        server.stop()


def run(report) -> dict:
    """Measure one run and a batch of ten against a 20 s emulator; return the ratio."""
    from emulators.kling import KlingEmulator
    from emulators.threaded import ThreadedEmulator

    kling = ThreadedEmulator(KlingEmulator(AK, SK))
    kling.emulator.queue_s, kling.emulator.run_s = 0.5, LATENCY_S - 0.5
    env = {
        "AINFLUENCER_PROVIDER_KLING_BASE_URL": kling.base_url,
        "AINFLUENCER_PROVIDER_KLING_API_KEY": f"{AK}:{SK}",
        "AINFLUENCER_REMOTE_POLL_S": "1.0",
    }
    try:
        with bench_client("remote", env) as client:
            client.upload(REPO / "assets" / "examples" / "portrait.png")

            def body(
                take: int,
            ) -> dict:  # distinct prompts: ComfyUI would reuse a cached identical node's output
                return {"inputs": {"image": "portrait.png", "prompt": f"she smiles, take {take}"}}

            one_s, ten_s, peak = timed_pair(
                client,
                kling.emulator,
                lambda: client.run("image_to_video_v1", body(0))["job_id"],
                lambda: client.batch("image_to_video_v1", [body(i) for i in range(1, 11)])["job_id"],
            )
    finally:
        kling.stop()
    ratio = ten_s / one_s
    report(f"emulated Kling latency {LATENCY_S:.0f} s per job")
    report(f"one run: {one_s:.1f} s; batch of 10: {ten_s:.1f} s (peak {peak} jobs in flight at the provider)")
    report(f"10 separate runs would take about {10 * one_s:.0f} s (ComfyUI runs one prompt at a time)")
    report(f"remote_batch10_ratio = {ratio:.2f} (goal <= 1.3)")
    return {
        "remote_batch10_ratio": round(ratio, 3),
        "remote_single_run_s": round(one_s, 2),
        "remote_batch10_s": round(ten_s, 2),
        "remote_batch10_peak_in_flight": peak,
    }
