"""Make each preset's template-browser thumbnail (`workflows/<id>.jpg`) from what the preset makes.

    python tools/make_thumbnails.py [--server URL] [PRESET ...]

Local presets run on the sample media in `assets/examples/` through ComfyUI (an embedded one unless
`--server` names a running one), video inputs cut to their first second; the thumbnail is a frame of
the output. Presets whose output needs a provider key or a model download are shown with a frame of
the real sample media composed the way their output looks (a clip with its motion strip, a talking
clip with its speech waveform, a portrait finished by the pack's own local passes), never a flat
emulator picture.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "assets" / "examples"
WORKFLOWS = REPO / "workflows"
SIDE = 512  # the card shows a square
QUALITY = 85


def _square(image: Image.Image, box: tuple[float, float, float, float] = (0, 0, 1, 1)) -> Image.Image:
    """The part `box` (fractions of width and height) of `image`, centre-cropped square, SIDE × SIDE."""
    w, h = image.size
    part = image.convert("RGB").crop(
        (round(box[0] * w), round(box[1] * h), round(box[2] * w), round(box[3] * h))
    )
    side = min(part.size)
    left, top = (part.width - side) // 2, (part.height - side) // 2
    return part.crop((left, top, left + side, top + side)).resize((SIDE, SIDE), Image.Resampling.LANCZOS)


def video_frames(path: Path, every: int = 1, limit: int | None = None) -> list[Image.Image]:
    """Decoded frames of a video (every `every`-th, at most `limit`)."""
    import av

    frames = []
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % every == 0:
                frames.append(frame.to_image())
            if limit is not None and len(frames) >= limit:
                break
    return frames


def first_second(source: Path, target: Path) -> Path:
    """The first second of a clip's picture, so a thumbnail run stays short."""
    import av

    with av.open(str(source)) as inp, av.open(str(target), "w") as out:
        video = inp.streams.video[0]
        rate = video.average_rate or 30
        stream = out.add_stream("mpeg4", rate=rate)
        stream.width, stream.height = video.codec_context.width, video.codec_context.height
        stream.pix_fmt, stream.bit_rate = "yuv420p", 8_000_000
        for frame in inp.decode(video=0):
            if frame.time is not None and frame.time >= 1.0:
                break
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return target


class Runner:
    """Runs presets on a ComfyUI with the pack and returns their first artifact's path."""

    def __init__(self, url: str, scratch: Path) -> None:
        from ainfluencer.sidecar.cli.client import SidecarClient

        self.client = SidecarClient(url, timeout=120)
        self.scratch = scratch

    def run(self, preset_id: str, files: dict[str, Path], **values: object) -> Path:
        """Run `preset_id` with these file inputs and values; the path of what it wrote."""
        inputs = {name: self.client.upload(path)["name"] for name, path in files.items()}
        quality = values.pop("quality", None)
        job_id = self.client.run(preset_id, {"inputs": {**inputs, **values}, "quality_level": quality})[
            "job_id"
        ]
        while (job := self.client.job(job_id))["status"] not in ("completed", "failed", "cancelled"):
            time.sleep(0.5)
        if job["status"] != "completed":
            raise RuntimeError(f"{preset_id}: {job['status']}: {job.get('error')}")
        return Path(job["artifacts"][0]["path"])

    def clip(self, name: str) -> Path:
        """A one-second cut of a sample clip."""
        return first_second(EXAMPLES / name, self.scratch / f"cut_{name}")


def _output_frame(path: Path) -> Image.Image:
    if path.suffix.lower() in (".mp4", ".webm", ".mov", ".mkv"):
        frames = video_frames(path)
        return frames[len(frames) // 2]
    return Image.open(path)


def _motion_strip(frames: list[Image.Image]) -> Image.Image:
    """The clip's last frame with four earlier frames along its foot, so the card reads as motion."""
    card = _square(frames[-1])
    draw = ImageDraw.Draw(card)
    cell = SIDE // 4
    draw.rectangle((0, SIDE - cell // 1 - 8, SIDE, SIDE), fill=(12, 12, 12))
    for i, frame in enumerate(frames[:: max(1, len(frames) // 4)][:4]):
        card.paste(_square(frame).resize((cell - 8, cell - 8)), (i * cell + 4, SIDE - cell))
    return card


def _waveform(card: Image.Image, wav: Path) -> Image.Image:
    """The speech's waveform drawn across the foot of a frame."""
    import wave

    with wave.open(str(wav)) as audio:
        samples = np.frombuffer(audio.readframes(audio.getnframes()), dtype=np.int16).astype(np.float32)
    bars = np.abs(samples[: len(samples) // 128 * 128]).reshape(128, -1).max(axis=1)
    bars = bars / max(1.0, float(bars.max()))
    draw = ImageDraw.Draw(card, "RGBA")
    base, height = SIDE - 70, 56
    draw.rectangle((0, base - height // 2 - 10, SIDE, SIDE), fill=(10, 10, 10, 170))
    for i, level in enumerate(bars):
        x = i * SIDE / len(bars)
        half = max(1.0, level * height / 2)
        draw.rectangle((x + 1, base - half, x + SIDE / len(bars) - 1, base + half), fill=(120, 220, 160, 255))
    return card


# preset id → how its thumbnail is made (a Runner may run presets on this machine)
RECIPES: dict[str, Callable[[Runner], Image.Image]] = {
    "cinematic_finish_v1": lambda r: _square(
        Image.open(r.run("cinematic_finish_v1", {"image": EXAMPLES / "portrait.png"}, style="cinematic"))
    ),
    "upscale_denoise_image_v1": lambda r: _square(
        Image.open(r.run("upscale_denoise_image_v1", {"image": EXAMPLES / "portrait.png"})),
        (0.3, 0.05, 0.75, 0.5),
    ),
    "color_grade_film_grain_v1": lambda r: _square(
        _output_frame(
            r.run("color_grade_film_grain_v1", {"video": r.clip("portrait_talking_source.mp4")}, style="warm")
        )
    ),
    "upscale_deflicker_video_v1": lambda r: _square(
        _output_frame(
            r.run("upscale_deflicker_video_v1", {"video": r.clip("portrait_push_in.mp4")}, quality="low")
        ),
        (0.15, 0.0, 0.85, 0.7),
    ),
    # SDXL weights are not downloaded for a thumbnail: the sample portrait, through the pack's film finish
    "photoreal_portrait_v1": lambda r: _square(
        Image.open(r.run("cinematic_finish_v1", {"image": EXAMPLES / "portrait.png"}, style="neutral")),
        (0.2, 0.0, 0.8, 0.65),
    ),
    "hybrid_portrait_v1": lambda r: _square(
        Image.open(
            r.run(
                "cinematic_finish_v1",
                {"image": r.run("upscale_denoise_image_v1", {"image": EXAMPLES / "portrait.png"})},
                style="warm",
            )
        ),
        (0.25, 0.02, 0.8, 0.55),
    ),
    # remote presets: the real sample media composed as their outputs look
    "image_to_video_v1": lambda r: _motion_strip(video_frames(EXAMPLES / "portrait_push_in.mp4", every=10)),
    "talking_clip_v1": lambda r: _waveform(
        _square(video_frames(EXAMPLES / "portrait_talking_source.mp4", limit=1)[0], (0.1, 0.0, 0.9, 0.8)),
        EXAMPLES / "speech.wav",
    ),
}


def save(preset_id: str, image: Image.Image) -> Path:
    """Write a thumbnail beside its preset's graph."""
    path = WORKFLOWS / f"{preset_id}.jpg"
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=QUALITY, optimize=True)
    path.write_bytes(buffer.getvalue())
    return path


def main(argv: list[str] | None = None) -> int:
    """Remake the named presets' thumbnails (default: every preset with a recipe)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="*")
    parser.add_argument("--server", help="a running ComfyUI with the pack (default: start one)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.presets) - set(RECIPES))
    if unknown:
        parser.error(f"no thumbnail recipe for {unknown}; known: {sorted(RECIPES)}")
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        url = args.server
        if url is None:
            from ainfluencer.sidecar.host import runtime

            runtime.install()
            server = runtime.start_server(runtime.free_port(), base_dir=scratch / "base")
            stack.callback(server.stop)
            url = server.url
        runner = Runner(url, scratch)
        for preset_id in args.presets or sorted(RECIPES):
            print(
                f"{preset_id} → {save(preset_id, RECIPES[preset_id](runner)).relative_to(REPO)}", flush=True
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
