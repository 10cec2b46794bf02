"""Video presets end to end through the real ComfyUI vs ffmpeg's nearest command line on the same file.

Each side goes from the same 1080p30 H.264 + AAC input file to an H.264 (x264 ``veryfast``, CRF 18) + AAC
output file. Ours is timed from the run request to the completed job (upload excluded); the figures are
frames per second of input. ``preset_peak_mb_*`` is the ComfyUI process's peak RSS while it runs the grade
preset on a 10 s and a 60 s clip (the kernel's peak is reset before each run through
``/proc/<pid>/clear_refs``). Each timing is the fastest of ``BENCH_PRESET_REPEATS`` (default 2) runs, ours
and ffmpeg's taking turns, so a moment of load on a shared machine does not decide a ratio; the peak is the
highest of the runs. Needs ffmpeg on PATH. ``BENCH_PRESET_SECONDS_LONG=0`` skips the 60 s clip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from ainfluencer.sidecar.cli.client import SidecarClient
from ainfluencer.sidecar.host import runtime
from bench_video import FPS, _residual, make_clip

Report = Callable[[str], None]
X264 = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "copy")
# ffmpeg's nearest chains: a contrast/saturation S-curve and teal-orange balance for the grade, temporal
# noise on the Y'CbCr planes for the grain (https://ffmpeg.org/ffmpeg-filters.html#noise), a highlight
# roll-off curve for the tone map at pro. The noise matches the preset's grain in strength, measured on
# this bench's clip as the standard deviation each side adds per plane (grained minus ungrained output):
# ours adds 5.0 codes to luma at standard (none to chroma) and 5.8 luma / 0.6 chroma at pro; ffmpeg's
# c0s=9 adds 4.8 and c0s=10 5.4 (c1s=c2s=1: 0.3), each rounded down so ffmpeg never adds more. x264's
# work grows with the noise it has to code, so unequal grain would time two different encodes.
_FF_GRADE = "eq=contrast=1.08:saturation=1.1,colorbalance=rs=-0.05:bs=0.06:rh=0.06:bh=-0.05,format=yuv420p"
FF_STANDARD = _FF_GRADE + ",noise=c0s=9:c0f=t"
FF_PRO = "curves=all='0/0 0.6/0.62 1/0.92'," + _FF_GRADE + ",noise=c0s=10:c0f=t:c1s=1:c1f=t:c2s=1:c2f=t"
FF_DEFLICKER = "deflicker=s=5,scale=iw*2:ih*2:flags=lanczos"
# The grain alone: decode, the matched noise and the encode of a grainy clip, with no grade. Any grade
# preset has to decode, grain and encode, so ffmpeg's full chain over this one bounds how far ahead of
# ffmpeg a preset can get even if its grade costs nothing (``preset_grade_ratio_ceiling_*``).
FF_GRAIN_ONLY = {"standard": "noise=c0s=9:c0f=t", "pro": "noise=c0s=10:c0f=t:c1s=1:c1f=t:c2s=1:c2f=t"}


def _ffmpeg(chain: str, src: Path, dst: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(src), "-vf", chain, *X264, str(dst)],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def _best(repeats: int, *runs: Callable[[], float]) -> list[float]:
    """The fastest time of each run over ``repeats`` rounds (the runs take turns within a round)."""
    times = [[run() for run in runs] for _ in range(repeats)]
    return [min(column) for column in zip(*times, strict=True)]


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _ours(api: SidecarClient, pid: int, preset: str, clip: Path, quality: str) -> tuple[float, int, Path]:
    """Seconds from the run request to the completed job, peak RSS, and the output file."""
    name = api.upload(clip)["name"]
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak RSS (VmHWM)
    started = time.perf_counter()
    job_id = api.run(preset, {"inputs": {"video": name}, "quality_level": quality})["job_id"]
    while (job := api.job(job_id))["status"] not in ("completed", "failed", "cancelled"):
        time.sleep(0.2)
    elapsed = time.perf_counter() - started
    if job["status"] != "completed":
        raise RuntimeError(f"{preset} {quality} ended {job['status']}: {job['error']}")
    return elapsed, _peak_rss(pid), Path(job["artifacts"][0]["path"])


def _ours_noted(
    seen: list[tuple[int, Path]], api: SidecarClient, pid: int, preset: str, clip: Path, quality: str
) -> float:
    """``_ours``'s seconds; its peak RSS and output file are appended to ``seen``."""
    elapsed, peak, out = _ours(api, pid, preset, clip, quality)
    seen.append((peak, out))
    return elapsed


def _luma(path: Path) -> np.ndarray:
    raw = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(path),
            "-vf",
            "scale=64:36",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, 64 * 36).mean(1)


def run(report: Report) -> dict:
    """Time the presets and ffmpeg on the same clips; return the figures."""
    if shutil.which("ffmpeg") is None:
        raise RuntimeError(
            "ffmpeg is not installed (apt-get install -y ffmpeg); bench_presets compares against it."
        )
    long_seconds = int(os.environ.get("BENCH_PRESET_SECONDS_LONG", "60"))
    repeats = max(1, int(os.environ.get("BENCH_PRESET_REPEATS", "2")))
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip10 = make_clip(folder / "clip10.mp4", 10)
        frames = 10 * FPS
        runtime.install()
        server = runtime.start_server(
            runtime.free_port(), base_dir=folder / "base", log_path=folder / "comfy.log"
        )
        api = SidecarClient(server.url, timeout=120)
        try:
            for quality, chain in (("standard", FF_STANDARD), ("pro", FF_PRO)):
                seen: list[tuple[int, Path]] = []
                ours, theirs, grain_only = _best(
                    repeats,
                    partial(_ours_noted, seen, api, server.pid, "color_grade_film_grain_v1", clip10, quality),
                    partial(_ffmpeg, chain, clip10, folder / f"ff_{quality}.mp4"),
                    partial(_ffmpeg, FF_GRAIN_ONLY[quality], clip10, folder / f"ff_grain_{quality}.mp4"),
                )
                peak = max(peak for peak, _ in seen)
                figures[f"preset_grade_fps_{quality}"] = round(frames / ours, 2)
                figures[f"ffmpeg_grade_fps_{quality}"] = round(frames / theirs, 2)
                figures[f"preset_grade_ratio_vs_ffmpeg_{quality}"] = round(theirs / ours, 3)
                figures[f"ffmpeg_grain_only_fps_{quality}"] = round(frames / grain_only, 2)
                figures[f"preset_grade_ratio_ceiling_{quality}"] = round(theirs / grain_only, 3)
                report(
                    f"grade {quality:8s} ours {frames / ours:6.2f} fps, ffmpeg {frames / theirs:6.2f} fps, "
                    f"ratio {theirs / ours:.2f} (peak RSS {peak / 1e6:.0f} MB); ffmpeg grain only "
                    f"{frames / grain_only:6.2f} fps, so a free grade would reach {theirs / grain_only:.2f}"
                )
                if quality == "standard":
                    figures["preset_peak_mb_10s"] = round(peak / 1e6, 1)
            seen = []
            ours, theirs = _best(
                repeats,
                partial(_ours_noted, seen, api, server.pid, "upscale_deflicker_video_v1", clip10, "low"),
                partial(_ffmpeg, FF_DEFLICKER, clip10, folder / "ff_deflicker.mp4"),
            )
            out = seen[-1][1]
            source = _luma(clip10)
            flicker_ours = _residual(_luma(out), source)
            flicker_theirs = _residual(_luma(folder / "ff_deflicker.mp4"), source)
            figures["preset_deflicker_fps"] = round(frames / ours, 2)
            figures["ffmpeg_deflicker_scale_fps"] = round(frames / theirs, 2)
            figures["preset_deflicker_ratio_vs_ffmpeg"] = round(theirs / ours, 3)
            figures["preset_deflicker_residual_flicker"] = round(flicker_ours, 3)
            figures["ffmpeg_deflicker_residual_flicker"] = round(flicker_theirs, 3)
            report(
                f"deflicker + 2x lanczos to 4K: ours {frames / ours:.2f} fps, "
                f"ffmpeg {frames / theirs:.2f} fps, ratio {theirs / ours:.2f}; "
                f"residual flicker ours {flicker_ours:.3f}, ffmpeg {flicker_theirs:.3f} "
                f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
            )
            if long_seconds:
                clip_long = make_clip(folder / "clip_long.mp4", long_seconds, seed=1)
                elapsed, peak, _ = _ours(api, server.pid, "color_grade_film_grain_v1", clip_long, "standard")
                figures["preset_peak_mb_60s"] = round(peak / 1e6, 1)
                report(
                    f"grade standard, {long_seconds} s clip: peak RSS {peak / 1e6:.0f} MB "
                    f"(10 s: {figures['preset_peak_mb_10s']:.0f} MB), {long_seconds * FPS / elapsed:.2f} fps"
                )
        finally:
            api.close()
            server.stop()
    return figures


if __name__ == "__main__":
    print(run(print))
