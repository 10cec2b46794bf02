"""Streaming video core: chunked decode -> process -> encode, audio untouched and in sync, flat memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from ainfluencer.comfy_nodes.polish.synth import make_frames, make_tone, write_clip
from ainfluencer.comfy_nodes.polish.video_audio import read_audio
from ainfluencer.comfy_nodes.polish.video_probe import probe_video
from ainfluencer.comfy_nodes.polish.video_stream import FunctionProcessor, iter_frame_chunks, process_video
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode

EXAMPLES = Path(__file__).resolve().parent.parent / "assets" / "examples"


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """Two seconds at 24 fps with stereo AAC."""
    return write_clip(tmp_path / "clip.mp4", make_frames(48, 48, 64), 24, audio=make_tone(2.0))


def _audio_packets(path: Path) -> list[tuple[int | None, bytes]]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return [(p.pts, bytes(p)) for p in container.demux(stream) if p.size]


def test_identity_pass_keeps_frames_rate_and_copies_audio_untouched(clip: Path, tmp_path: Path) -> None:
    out = process_video(clip, tmp_path / "out.mp4", FunctionProcessor(lambda x: x), chunk_size=5)
    info = probe_video(out)
    assert (info.width, info.height, info.fps, info.frame_count) == (64, 48, Fraction(24), 48)
    with av.open(str(out)) as container:
        video = container.streams.video[0].codec_context
        assert (video.name, video.pix_fmt) == ("h264", "yuv420p")
        assert (video.colorspace, video.color_primaries, video.color_trc) == (1, 1, 1)  # BT.709
    assert _audio_packets(out) == _audio_packets(clip)  # passed through bit for bit
    frames = torch.cat(list(iter_frame_chunks(out, 16)))
    source = torch.cat(list(iter_frame_chunks(clip, 16)))
    assert (frames.mean((1, 2)) - source.mean((1, 2))).abs().max() < 0.01  # colours survive the re-encode


def test_audio_stays_in_sync_with_a_flash(tmp_path: Path) -> None:
    frames = torch.full((48, 32, 48, 3), 0.1)
    frames[24] = 0.9  # a flash at exactly 1.0 s
    audio = np.zeros((2, 88200), dtype=np.float32)
    audio[:, 44100:45000] = 0.5  # a click at exactly 1.0 s
    src = write_clip(tmp_path / "sync.mp4", frames, 24, audio=audio)
    out = process_video(src, tmp_path / "out.mp4", FunctionProcessor(lambda x: x.clamp(0, 1)), chunk_size=7)
    decoded = torch.cat(list(iter_frame_chunks(out)))
    flash_s = int(decoded.mean((1, 2, 3)).argmax()) / 24
    samples = read_audio(out, 48000)
    assert samples is not None
    click_s = int(np.argmax(np.abs(samples[0]) > 0.25)) / 48000
    assert abs(flash_s - 1.0) < 1e-6
    assert abs(click_s - flash_s) < 0.03


def test_audio_mp4_cannot_carry_is_transcoded_to_aac(tmp_path: Path) -> None:
    src = tmp_path / "pcm.mkv"
    with av.open(str(src), "w") as container:
        video = container.add_stream("libx264", rate=24)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream("pcm_s16le", rate=44100)
        audio.layout = "stereo"
        for index, rgb in enumerate(make_frames(24, 48, 64).mul(255).to(torch.uint8).numpy()):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        pcm = (make_tone(1.0) * 32767).astype(np.int16).T.reshape(1, -1)
        aframe = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm), format="s16", layout="stereo")
        aframe.sample_rate, aframe.pts = 44100, 0
        container.mux(audio.encode(aframe))
        container.mux(audio.encode(None))
    info = probe_video(process_video(src, tmp_path / "out.mp4", FunctionProcessor(lambda x: x)))
    assert info.audio_codec == "aac" and info.frame_count == 24


_MEASURE = """
import json, sys
from ainfluencer.comfy_nodes.polish.memwatch import PeakRSS
from ainfluencer.comfy_nodes.polish.video_stream import FunctionProcessor, process_video
peaks = []
for index, src in enumerate(sys.argv[1:]):
    with PeakRSS() as watch:
        process_video(src, f"{src}.{index}.out.mp4", FunctionProcessor(lambda x: 1 - x))
    peaks.append(watch.peak_delta)
print(json.dumps(peaks))
"""


def test_memory_stays_flat_for_a_six_times_longer_clip(tmp_path: Path) -> None:
    short = write_clip(tmp_path / "short.mp4", make_frames(24, 240, 320), 24, audio=make_tone(1.0))
    long = write_clip(tmp_path / "long.mp4", make_frames(144, 240, 320), 24, audio=make_tone(6.0))
    # A fresh process whose allocator returns every buffer >= 64 KiB to the OS when it is freed (glibc's
    # dynamic mmap threshold would otherwise keep freed frames in its heap and make RSS noisy).
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(short), str(long), str(short)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    peaks = json.loads(done.stdout.strip().splitlines()[-1])
    whole_long_clip = 144 * 240 * 320 * 3 * 4  # what holding every frame as float would cost (133 MB)
    # the codecs' fixed buffers dominate (tens of MB); six times the frames must not add to them
    assert peaks[1] < max(peaks[0], peaks[2]) * 1.25 + 8e6, peaks
    assert peaks[1] - min(peaks[0], peaks[2]) < whole_long_clip / 4, peaks


def test_a_real_sample_clip_streams(tmp_path: Path) -> None:
    src = EXAMPLES / "portrait_talking_source.mp4"
    info = probe_video(src)
    first = next(iter_frame_chunks(src, 4))
    assert (
        first.shape == (4, info.height, info.width, 3) and 0 <= float(first.min()) <= float(first.max()) <= 1
    )


def _error(call: object) -> AInfError:
    with pytest.raises(AInfError) as caught:
        call()  # type: ignore[operator]
    return caught.value


def _run(src: Path, dst: Path) -> Path:
    return process_video(src, dst, FunctionProcessor(lambda x: x))


def test_corrupt_truncated_and_empty_files_are_invalid_media(clip: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for bad in (corrupt, truncated, empty):
        dst = tmp_path / f"{bad.stem}_out.mp4"
        err = _error(lambda bad=bad, dst=dst: _run(bad, dst))
        assert err.code == ErrorCode.INVALID_MEDIA and bad.name in err.message
        assert list(tmp_path.glob(f"*{bad.stem}_out*")) == []


def test_a_clip_without_video_or_frames_is_refused(tmp_path: Path) -> None:
    audio_only = tmp_path / "audio_only.mp4"
    with av.open(str(audio_only), "w") as container:
        stream = container.add_stream("aac", rate=48000)
        stream.layout = "stereo"
        frame = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = 48000, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    err = _error(lambda: _run(audio_only, tmp_path / "out.mp4"))
    assert err.code == ErrorCode.INVALID_MEDIA and "no video stream" in err.message
    assert not (tmp_path / "out.mp4").exists()


def test_odd_dimensions_are_a_validation_error_and_nothing_is_written(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "odd.mp4", make_frames(6, 49, 65), 24, pix_fmt="yuv444p")
    err = _error(lambda: _run(src, tmp_path / "out.mp4"))
    assert err.code == ErrorCode.VALIDATION_ERROR and "65x49" in err.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.mp4"]


def test_a_failing_processor_leaves_nothing_behind(clip: Path, tmp_path: Path) -> None:
    calls = []

    def explode(frames: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return frames

    with pytest.raises(RuntimeError):
        process_video(clip, tmp_path / "out.mp4", FunctionProcessor(explode), chunk_size=8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_a_missing_file_is_file_not_found(tmp_path: Path) -> None:
    assert _error(lambda: probe_video(tmp_path / "nope.mp4")).code == ErrorCode.FILE_NOT_FOUND
