"""Video polish benchmark: our deflicker vs ffmpeg ``deflicker`` on the same 1080p 10 s clip, and peak
memory of the streaming path (decode -> deflicker -> encode, audio kept) for a 10 s and a 60 s 1080p clip.

Both deflickers are timed end to end on the same file, decoding and filtering with no encode (ffmpeg writes
to ``-f null``); filter-only figures subtract each side's decode-only run. Strength is compared too: the
residual frame-to-frame variance of the mean luma after each filter, relative to the input's. The memory
runs encode with x264 ``ultrafast`` (they measure memory, not speed). Needs ffmpeg on PATH.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import torch
from ainfluencer.comfy_nodes.polish.deflicker import LUMA_WEIGHTS, Deflicker, deflicker_video
from ainfluencer.comfy_nodes.polish.memwatch import PeakRSS
from ainfluencer.comfy_nodes.polish.synth import make_frames, make_tone
from ainfluencer.comfy_nodes.polish.video_stream import iter_frame_chunks

WIDTH, HEIGHT, FPS = 1920, 1080, 30
Report = Callable[[str], None]


def _ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        raise RuntimeError(
            "ffmpeg is not installed (apt-get install -y ffmpeg); bench_video compares against it."
        )
    return path


def make_clip(path: Path, seconds: int, seed: int = 0) -> Path:
    """A flickering, panning 1080p H.264 clip with stereo AAC, generated without holding it in memory."""
    base = make_frames(1, HEIGHT, WIDTH, seed=seed)[0].mul(255).to(torch.uint8).numpy()
    gains = 1 + 0.15 * (np.random.default_rng(seed).random(seconds * FPS) * 2 - 1)
    levels = np.arange(256, dtype=np.float64)
    audio = make_tone(seconds, 48000)
    with av.open(str(path), "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "20"}
        sound = container.add_stream("aac", rate=48000)
        sound.layout = "stereo"
        for index, gain in enumerate(gains):
            lut = np.clip(levels * gain + 0.5, 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(lut[np.roll(base, 4 * index, axis=1)], format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        for start in range(0, audio.shape[1], 1024):
            part = np.ascontiguousarray(audio[:, start : start + 1024])
            aframe = av.AudioFrame.from_ndarray(part, format="fltp", layout="stereo")
            aframe.sample_rate, aframe.pts = 48000, start
            container.mux(sound.encode(aframe))
        container.mux(sound.encode(None))
    return path


def _residual(luma: np.ndarray, reference: np.ndarray) -> float:
    return float(np.diff(luma).var() / np.diff(reference).var())


def _ffmpeg_run(ffmpeg: str, clip: Path, chain: str, *extra: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    done = subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(clip), "-an", "-vf", chain, *extra], check=True, capture_output=True
    )
    return time.perf_counter() - started, done.stdout


def _ours(clip: Path, engine: Deflicker | None) -> tuple[float, np.ndarray]:
    """Decode (PyAV, 8-bit RGB) and deflicker like ``deflicker_video`` does, without the encoder."""
    weights = torch.tensor(LUMA_WEIGHTS)
    lumas: list[torch.Tensor] = []

    def luma(frames: torch.Tensor) -> torch.Tensor:
        return (frames[:, ::8, ::8].float().mean((1, 2)) / 255 * weights).sum(-1)

    started = time.perf_counter()
    for chunk in iter_frame_chunks(clip, 16, uint8=True):
        out = engine.push(chunk) if engine is not None else chunk
        lumas.append(luma(out))
    if engine is not None and (tail := engine.flush()) is not None:
        lumas.append(luma(tail))
    return time.perf_counter() - started, torch.cat(lumas).numpy()


def run(report: Report) -> dict:
    """Measure deflicker fps against ffmpeg and the streaming path's peak memory; return the figures."""
    ffmpeg = _ffmpeg()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        clip10 = make_clip(folder / "clip10.mp4", 10)
        frames = 10 * FPS
        report(f"made {clip10.name} (1080p, {frames} frames) in {time.perf_counter() - started:.1f} s")

        ff_decode, _ = _ffmpeg_run(ffmpeg, clip10, "null", "-f", "null", "-")
        ff_time, _ = _ffmpeg_run(ffmpeg, clip10, "deflicker=s=5", "-f", "null", "-")
        _, raw = _ffmpeg_run(
            ffmpeg, clip10, "deflicker=s=5,scale=64:36", "-f", "rawvideo", "-pix_fmt", "gray", "-"
        )
        _, raw_in = _ffmpeg_run(ffmpeg, clip10, "scale=64:36", "-f", "rawvideo", "-pix_fmt", "gray", "-")
        ff_luma = np.frombuffer(raw, np.uint8).reshape(-1, 64 * 36).mean(1)
        in_luma = np.frombuffer(raw_in, np.uint8).reshape(-1, 64 * 36).mean(1)

        our_decode, _ = _ours(clip10, None)
        our_time, our_luma = _ours(clip10, Deflicker(size=9, inplace=True))

        ffmpeg_fps = frames / ff_time
        our_fps = frames / our_time
        ff_filter = frames / max(ff_time - ff_decode, 1e-6)
        our_filter = frames / max(our_time - our_decode, 1e-6)
        report(f"torch {torch.__version__}, {torch.get_num_threads()} threads; ffmpeg {ffmpeg}")
        report("deflicker, 1080p decode + filter (no encode):")
        report(
            f"  ours   {our_fps:7.1f} fps end to end, ~{our_filter:7.1f} fps filter-only "
            f"(decode {our_decode:.2f} s)"
        )
        report(
            f"  ffmpeg {ffmpeg_fps:7.1f} fps end to end, ~{ff_filter:7.1f} fps filter-only "
            f"(decode {ff_decode:.2f} s)"
        )
        report(f"  ratio (ours / ffmpeg, end to end) {our_fps / ffmpeg_fps:.2f}")
        report(
            "  residual flicker (frame-to-frame luma variance vs input): "
            f"ours {_residual(our_luma, in_luma):.3f}, ffmpeg s=5 {_residual(ff_luma, in_luma):.3f}"
        )

        peaks = {}
        for seconds in (10, 60):
            clip = clip10 if seconds == 10 else make_clip(folder / "clip60.mp4", 60, seed=1)
            with PeakRSS() as watch:
                started = time.perf_counter()
                deflicker_video(clip, folder / f"out{seconds}.mp4", preset="ultrafast")
                elapsed = time.perf_counter() - started
            peaks[seconds] = watch.peak_delta / 1e6
            report(
                f"streaming deflicker -> H.264 + AAC, {seconds:2d} s clip: peak +{peaks[seconds]:.0f} MB "
                f"above baseline (RSS {watch.peak / 1e6:.0f} MB), {seconds * FPS / elapsed:.1f} fps"
            )
    return {
        "deflicker_ratio_vs_ffmpeg": round(our_fps / ffmpeg_fps, 3),
        "deflicker_fps": round(our_fps, 2),
        "ffmpeg_deflicker_fps": round(ffmpeg_fps, 2),
        "peak_mb_10s": round(peaks[10], 1),
        "peak_mb_60s": round(peaks[60], 1),
    }


if __name__ == "__main__":
    print(run(print))
