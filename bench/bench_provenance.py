"""Signing overhead: C2PA-sign a 10 s 1080p H.264 output vs the time to write that output.

The output is written the way the pack writes its videos (libx264 `veryfast`, CRF 20, yuv420p, from a 1080p
`testsrc2` source, timed with ffmpeg); signing is `sign_output` with the per-install ES256 chain, streamed
from the file to a file beside it. `sign_overhead_ratio` = sign time / write time (the goal is <= 0.05).
`sign_peak_rss_mb` is how far the process's peak resident memory rose while signing (Linux: the peak is
reset through /proc/self/clear_refs first): c2pa-rs reads the source once into memory, and its intermediate
copy spools to a temp file, so the rise stays near one file size, never two.

Environment: ``AINF_BENCH_SECONDS`` (default 10) changes the clip length.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ainfluencer.sidecar.provenance.manifest import TRANSFORMED, Engine, Step
from ainfluencer.sidecar.provenance.outputs import UNTRACKED, output_record, sign_output

SECONDS = float(os.environ.get("AINF_BENCH_SECONDS", "10"))
RUNS = int(os.environ.get("AINF_BENCH_RUNS", "3"))


def _write(path: Path) -> float:
    """Encode the clip; seconds of wall-clock time."""
    started = time.perf_counter()
    source = f"testsrc2=size=1920x1080:rate=30:duration={SECONDS}"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source,
         "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    return time.perf_counter() - started


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def run(report: Callable[[str], None]) -> dict[str, float]:
    """Write the clip RUNS times and sign a copy RUNS times; the best of each is compared."""
    if shutil.which("ffmpeg") is None:
        raise RuntimeError("ffmpeg is needed for this benchmark (apt-get install ffmpeg)")
    folder = Path(tempfile.mkdtemp(prefix="ainf-bench-sign-"))
    try:
        clip = folder / "clip.mp4"
        write_s = min(_write(clip) for _ in range(RUNS))
        step = Step(
            "c2pa.created",
            "AInfluencerKlingImageToVideo",
            "2",
            Engine(provider="provider_kling"),
            TRANSFORMED,
        )
        sign_times, peaks = [], []
        for index in range(RUNS):
            out = folder / f"out{index}.mp4"
            shutil.copy(clip, out)
            record = output_record(
                out, [step], [], replace(UNTRACKED, preset_id="image_to_video_v1"), "bench"
            )
            measured = _reset_peak()
            base = _rss_kb("VmRSS:")
            started = time.perf_counter()
            sign_output(out, record, folder / "data")
            sign_times.append(time.perf_counter() - started)
            if measured:
                peaks.append(max(0, _rss_kb("VmHWM:") - base) / 1024)
        sign_s = min(sign_times[1:] or sign_times)  # the first run also makes the install certificate
        size_mb = clip.stat().st_size / 1e6
        ratio = sign_s / write_s
        report(f"clip: {SECONDS:g} s 1080p30 H.264, {size_mb:.1f} MB")
        report(f"write (libx264 veryfast crf 20): {write_s:.2f} s")
        report(f"sign (C2PA, ES256, streamed):    {sign_s:.3f} s  -> sign_overhead_ratio {ratio:.4f}")
        figures = {"sign_overhead_ratio": round(ratio, 4), "sign_seconds_10s_1080p": round(sign_s, 3)}
        if peaks:
            report(f"peak memory rise while signing: {max(peaks):.1f} MB (file {size_mb:.1f} MB)")
            figures["sign_peak_rss_mb"] = round(max(peaks), 1)
        return figures
    finally:
        shutil.rmtree(folder, ignore_errors=True)
