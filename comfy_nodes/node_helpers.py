"""What the pack's V3 nodes share: schemas, widget inputs, progress bars, VIDEO inputs as files or bytes.

Imported only inside ComfyUI (the pure torch and PyAV code stays in ``.polish`` and ``.remote_media``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import comfy.model_management
import comfy.utils
import folder_paths
import torch
from comfy_api.latest import InputImpl, io

__all__ = [
    "OnChunk",
    "check_choice",
    "device",
    "float_input",
    "int_input",
    "node_schema",
    "progress_callback",
    "run_on_device",
    "temp_video_path",
    "video_bytes",
    "video_path",
]

OnChunk = Callable[[int, int], None]


def node_schema(
    node_id: str,
    display_name: str,
    category: str,
    description: str,
    inputs: list,
    outputs: list,
    **extra: Any,
) -> io.Schema:
    """An io.Schema from the fields every node sets, in order (``extra`` passes the others through)."""
    # io.Schema is a dataclass whose leading fields are node_id, display_name, category, inputs, outputs.
    return io.Schema(node_id, display_name, category, inputs, outputs, description=description, **extra)


def float_input(name: str, default: float, lo: float, hi: float, step: float, tip: str) -> io.Float.Input:
    """A FLOAT slider input: default, range, step and tooltip."""
    return io.Float.Input(name, default=default, min=lo, max=hi, step=step, tooltip=tip)


def int_input(name: str, default: int, lo: int, hi: int, tip: str, **extra: Any) -> io.Int.Input:
    """An INT input: default, range and tooltip (``extra``: step and the other io.Int options)."""
    return io.Int.Input(name, default=default, min=lo, max=hi, tooltip=tip, **extra)


def check_choice(name: str, value: str | None, options: list[str]) -> bool | str:
    """``validate_inputs`` for a combo: V3 combos skip core's list check, so a saved value is re-checked."""
    if value is None or value in options:
        return True
    return f"{name} must be one of {', '.join(options)}, not {value!r}."


def progress_callback() -> OnChunk:
    """An ``on_chunk(done, total)`` callback driving a ProgressBar (whose hook also honours interrupts)."""
    bar: comfy.utils.ProgressBar | None = None

    def on_chunk(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = comfy.utils.ProgressBar(total)
        bar.update_absolute(done, total)

    return on_chunk


def device() -> torch.device:
    """The torch device ComfyUI computes on."""
    return comfy.model_management.get_torch_device()


def run_on_device(images: torch.Tensor, work: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """A whole-batch pass on the torch device as one progress step, returned on the intermediate device."""
    bar = progress_callback()
    bar(0, 1)
    result = work(images.to(device()))
    bar(1, 1)
    return result.to(comfy.model_management.intermediate_device())


def temp_video_path(tag: str) -> Path:
    """A fresh MP4 path in ComfyUI's temp folder."""
    folder = Path(folder_paths.get_temp_directory()) / "ainfluencer"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{tag}_{uuid.uuid4().hex[:12]}.mp4"


def _own_file(video: Any) -> str | None:
    # only a file-backed VIDEO has a file of its own; asking one made from components (CreateVideo) for its
    # stream source encodes it into a format-less buffer, which PyAV refuses
    if not isinstance(video, InputImpl.VideoFromFile):
        return None
    source = video.get_stream_source()
    return source if isinstance(source, str) else None


def video_path(video: Any) -> Path:
    """A file path for a VIDEO input: its own file, or the video saved to the temp folder first."""
    source = _own_file(video)
    if source is not None and os.path.isfile(source):
        return Path(source)
    path = temp_video_path("source")
    video.save_to(str(path))
    return path


def video_bytes(video: Any) -> bytes:
    """A VIDEO input's bytes as an MP4 file."""
    import io as stdio

    source = _own_file(video)
    if source is not None:
        with open(source, "rb") as fh:
            return fh.read()
    buffer = stdio.BytesIO()
    video.save_to(buffer)
    return buffer.getvalue()
