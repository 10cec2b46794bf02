"""Where the colour grade preset's time goes, part by part, next to ffmpeg's parts on the same clip.

CPU seconds (user + system, every thread) on the presets bench's 10 s 1080p30 clip, each part run alone:
decoding the clip (ours to 4:2:0 planes, ffmpeg to ``-f null``); the preset's ``standard`` grade and grain
on those planes; encoding through the preset's writer (x264 ``veryfast``, CRF 18) the clean clip, our
graded clip and ffmpeg's graded clip; ffmpeg's whole chain and its grain alone. ffmpeg's filters are its
whole chain less its decode and the encode of its own output. ``grade_parts_ceiling`` is ffmpeg's chain
over our decode and encode: what the preset's ratio to ffmpeg would be, at equal use of the cores, if its
passes cost nothing. Needs ffmpeg on PATH.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from ainfluencer.comfy_nodes.polish.frame_source import SourceFormat, decode_ahead, source_format
from ainfluencer.comfy_nodes.polish.passes import GradePass, GrainPass
from ainfluencer.comfy_nodes.polish.video_writer import VideoWriter
from ainfluencer.comfy_nodes.polish.yuv import YuvRun, response_of, yuv_tables
from ainfluencer.sidecar.jobs.presets import load_preset_file
from bench_presets import FF_GRAIN_ONLY, FF_STANDARD, X264
from bench_video import FPS, make_clip

Report = Callable[[str], None]
PRESET = Path(__file__).resolve().parents[1] / "workflows" / "color_grade_film_grain_v1.json"


def _standard_passes() -> tuple[GradePass, GrainPass]:
    """The preset's grade and grain at its ``standard`` level, read from its saved graph."""
    preset = load_preset_file(PRESET)
    nodes = {str(node["id"]): node for node in preset.graph["nodes"]}
    values = {(o.node_id, o.input): o.value for o in preset.manifest.quality_levels["standard"].overrides}
    style = nodes["3"]["widgets_values"][0]
    seed, look = nodes["4"]["widgets_values"][3], nodes["4"]["widgets_values"][5]
    grain = GrainPass(values[("4", "strength")], values[("4", "size")], values[("4", "chroma")], seed, look)
    return GradePass(style, values[("3", "intensity")]), grain


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _ffmpeg_cpu(*args: str) -> float:
    """CPU seconds of one ffmpeg run."""
    before = _cpu_children()
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, capture_output=True)
    return _cpu_children() - before


def _encode_cpu(chunks: Iterable[torch.Tensor], fmt: SourceFormat, dst: Path) -> float:
    """CPU seconds to encode 4:2:0 chunks through the preset's writer (tagged as ``fmt`` is)."""
    before = _cpu_self()
    writer = VideoWriter(dst, fmt.width, fmt.height, fmt.fps, planes=fmt.planar)
    for chunk in chunks:
        writer.write_planes(chunk)
    writer.close()
    return _cpu_self() - before


def run(report: Report) -> dict:
    """Measure each part's CPU seconds on both sides; return the figures."""
    if shutil.which("ffmpeg") is None:
        raise RuntimeError(
            "ffmpeg is not installed (apt-get install -y ffmpeg); bench_grade_parts compares against it."
        )
    grade, grain = _standard_passes()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = make_clip(folder / "clip10.mp4", 10)
        fmt = source_format(clip)
        assert fmt.planar is not None
        chunks = list(decode_ahead(fmt, planes=True))  # also the first decode's one-off set-up, untimed
        before = _cpu_self()
        for _ in decode_ahead(fmt, planes=True):
            pass
        parts = {"decode_ours": _cpu_self() - before}
        parts["decode_ffmpeg"] = _ffmpeg_cpu("-i", str(clip), "-an", "-f", "null", "-")
        parts["encode_clean"] = _encode_cpu(chunks, fmt, folder / "clean.mp4")
        before = _cpu_self()
        engine = YuvRun(yuv_tables((grade,), response_of(grain), fmt.planar), grain, fmt.width, fmt.height)
        graded = [engine.push(chunk) for chunk in chunks]
        parts["passes_ours"] = _cpu_self() - before
        parts["encode_graded_ours"] = _encode_cpu(graded, fmt, folder / "ours.mp4")
        del chunks, graded
        theirs = folder / "theirs.mp4"
        parts["ffmpeg_chain"] = _ffmpeg_cpu("-i", str(clip), "-vf", FF_STANDARD, *X264, str(theirs))
        parts["ffmpeg_grain_only"] = _ffmpeg_cpu(
            "-i", str(clip), "-vf", FF_GRAIN_ONLY["standard"], *X264, str(folder / "grain.mp4")
        )
        their_planes = list(decode_ahead(source_format(theirs), planes=True))  # decoded before timing
        parts["encode_graded_ffmpeg"] = _encode_cpu(their_planes, fmt, folder / "theirs_again.mp4")
    parts["ffmpeg_filters"] = parts["ffmpeg_chain"] - parts["decode_ffmpeg"] - parts["encode_graded_ffmpeg"]
    floor = parts["decode_ours"] + parts["encode_graded_ours"]
    ceiling = parts["ffmpeg_chain"] / floor
    for name, seconds in parts.items():
        report(f"{name:<22}{seconds:7.1f} CPU s  ({seconds / (10 * FPS) * 1000:5.1f} ms a frame)")
    report(f"ffmpeg's chain over our decode + encode: {ceiling:.2f} (the ratio if our passes cost nothing)")
    figures = {f"grade_parts_cpu_s_{name}": round(seconds, 2) for name, seconds in parts.items()}
    figures["grade_parts_ceiling"] = round(ceiling, 3)
    return figures


if __name__ == "__main__":
    print(run(print))
