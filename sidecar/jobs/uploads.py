"""Uploads: streamed into ComfyUI's input folder under a safe name, checked, stored once, never torn."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from ..core.errors import AInfError, ErrorCode
from ..core.media import kind_for_suffix, probe
from ..core.paths import resolve_inside, sanitize_filename

DEFAULT_MAX_UPLOAD_MB = 1024


def max_upload_bytes() -> int:
    """The upload cap (`AINFLUENCER_MAX_UPLOAD_MB`, default 1024 MB)."""
    return int(float(os.environ.get("AINFLUENCER_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB)) * 1024 * 1024)


class ChunkReader(Protocol):
    """The part of aiohttp's BodyPartReader we use."""

    async def read_chunk(self, size: int = ...) -> bytes: ...


def _same_content(path: Path, size: int, digest: str) -> bool:
    """True when the file at `path` holds exactly `size` bytes hashing to `digest` (sha256)."""
    try:
        if not path.is_file() or path.stat().st_size != size:
            return False
        sha = hashlib.sha256()
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                sha.update(block)
        return sha.hexdigest() == digest
    except OSError:
        return False


def _place(part: Path, folder: Path, name: str, size: int, digest: str) -> str:
    """Move `part` to `folder/name`, or `name (n)` when taken by other content; never replaces a file.

    A file already there with the same content is reused, so uploading the same photo on every run
    stores it once.
    """
    stem, suffix = os.path.splitext(name)
    candidate, n = name, 1
    while True:
        target = resolve_inside(folder, candidate)
        if _same_content(target, size, digest):
            return candidate
        try:
            os.link(part, target)
            return candidate
        except FileExistsError:
            candidate = f"{stem} ({n}){suffix}"
            n += 1


async def write_capped(reader: ChunkReader, fh: BinaryIO, max_bytes: int, digest: Any = None) -> int:
    """Copy `reader`'s chunks into `fh` (and `digest`), refusing more than `max_bytes`; the bytes written."""
    size = 0
    while chunk := await reader.read_chunk(1 << 20):
        size += len(chunk)
        if size > max_bytes:
            raise AInfError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"The upload is larger than {max_bytes // (1024 * 1024)} MB.",
                detail={"limit_bytes": max_bytes},
            )
        if digest is not None:
            digest.update(chunk)
        fh.write(chunk)
    return size


async def save_upload(reader: ChunkReader, filename: str, input_dir: Path, max_bytes: int) -> dict[str, Any]:
    """Stream one uploaded file into `input_dir`; answers like ComfyUI's upload: name, subfolder, type."""
    name = sanitize_filename(filename)
    kind = kind_for_suffix(name)
    if kind is None:
        raise AInfError(
            ErrorCode.INVALID_MEDIA,
            f"{name!r} is not a video, image or audio file we accept.",
            detail={"name": name},
            remediation=["Upload an MP4/MOV/WEBM video, a PNG/JPEG/WEBP image or a WAV/MP3/FLAC/M4A file."],
        )
    staging = resolve_inside(input_dir, ".ainfluencer-partial")  # not listed by ComfyUI's loaders
    staging.mkdir(parents=True, exist_ok=True)
    part = staging / f"{uuid.uuid4().hex}{Path(name).suffix.lower()}"
    sha = hashlib.sha256()
    try:
        with open(part, "wb") as fh:
            size = await write_capped(reader, fh, max_bytes, sha)
        if size == 0:
            raise AInfError(ErrorCode.INVALID_MEDIA, "The uploaded file is empty.", detail={"name": name})
        info = probe(part)
        if info is None or info.kind != kind:
            raise AInfError(
                ErrorCode.INVALID_MEDIA,
                f"{name!r} does not decode as {kind}.",
                detail={"name": name, "expected": kind, "found": info.kind if info else "no readable media"},
            )
        final_name = _place(part, input_dir, name, size, sha.hexdigest())
    finally:
        if part.exists():
            part.unlink()
    return {"name": final_name, "subfolder": "", "type": "input", "kind": kind, "size_bytes": size}
