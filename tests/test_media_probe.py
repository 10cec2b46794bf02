"""Media is accepted only when it decodes and fits the presets' limits; bombs and fakes are INVALID_MEDIA."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import pytest
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.core.media import LIMITS, probe, require_media
from ainfluencer.sidecar.jobs.uploads import save_upload

EXAMPLES = Path(__file__).resolve().parents[1] / "assets" / "examples"


def png_header_only(width: int, height: int) -> bytes:
    """A PNG signature, an IHDR declaring `width`×`height` and an IEND: no pixel data at all."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


class Chunks:
    """An upload body read in chunks, as aiohttp's part reader hands it over."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def read_chunk(self, size: int = 1 << 16) -> bytes:
        head, self.data = self.data[:size], self.data[size:]
        return head


def test_a_69_byte_png_declaring_12000_squared_is_refused_with_the_limit(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(12000, 12000))
    assert bomb.stat().st_size < 100
    with pytest.raises(AInfError) as caught:
        probe(bomb)
    assert caught.value.code is ErrorCode.INVALID_MEDIA
    assert "12000×12000" in caught.value.message and "50 megapixels" in caught.value.message


def test_a_png_beyond_pillows_own_bomb_limit_is_invalid_media_not_a_crash(tmp_path):
    bomb = tmp_path / "huge.png"
    bomb.write_bytes(png_header_only(20000, 20000))  # 400 Mpx: more than twice Pillow's 89 Mpx default
    with pytest.raises(AInfError) as caught:
        require_media(bomb, "image", "image")
    assert caught.value.code is ErrorCode.INVALID_MEDIA and "megapixels" in caught.value.message


def test_a_truncated_mp4_is_not_a_video(tmp_path):
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes((EXAMPLES / "portrait_push_in.mp4").read_bytes()[:4096])
    assert probe(truncated) is None
    with pytest.raises(AInfError) as caught:
        require_media(truncated, "video", "video")
    assert caught.value.code is ErrorCode.INVALID_MEDIA and "no readable media" in caught.value.message


def test_a_png_renamed_mp4_is_an_image_not_a_video(tmp_path):
    renamed = tmp_path / "photo.mp4"
    shutil.copyfile(EXAMPLES / "portrait.png", renamed)
    with pytest.raises(AInfError) as caught:
        require_media(renamed, "video", "video")
    assert caught.value.code is ErrorCode.INVALID_MEDIA and "holds image" in caught.value.message


def test_real_samples_decode_as_what_they_are():
    assert probe(EXAMPLES / "portrait.png").kind == "image"
    clip = probe(EXAMPLES / "portrait_talking_source.mp4")
    assert (clip.kind, clip.width, clip.height, clip.has_audio) == ("video", 720, 720, True)
    assert probe(EXAMPLES / "speech.wav").kind == "audio"


def test_a_video_longer_than_the_limit_is_refused(monkeypatch):
    monkeypatch.setattr("ainfluencer.sidecar.core.media.LIMITS", type(LIMITS)(video_seconds=3.0))
    with pytest.raises(AInfError) as caught:
        probe(EXAMPLES / "portrait_push_in.mp4")
    assert caught.value.code is ErrorCode.INVALID_MEDIA and "the limit is 3 s" in caught.value.message


async def test_an_upload_of_a_bomb_is_refused_and_leaves_nothing_behind(tmp_path):
    with pytest.raises(AInfError) as caught:
        await save_upload(Chunks(png_header_only(12000, 12000)), "bomb.png", tmp_path, 1 << 20)
    assert caught.value.code is ErrorCode.INVALID_MEDIA
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


async def test_an_upload_of_a_renamed_png_is_refused_as_video(tmp_path):
    data = (EXAMPLES / "portrait.png").read_bytes()
    with pytest.raises(AInfError) as caught:
        await save_upload(Chunks(data), "clip.mp4", tmp_path, 1 << 22)
    assert caught.value.code is ErrorCode.INVALID_MEDIA and "does not decode as video" in caught.value.message
