"""The downloader's parts on their own: range headers, the .part sink's checks and its recorded state."""

from __future__ import annotations

import hashlib
from itertools import pairwise

import pytest
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.core.storage import open_database
from ainfluencer.sidecar.models.downloads import Download, DownloadRecords
from ainfluencer.sidecar.models.downloads import sink as sink_module
from ainfluencer.sidecar.models.downloads.sink import (
    fresh_hash,
    installed_size,
    part_path,
    part_writer,
    verify,
)
from ainfluencer.sidecar.models.downloads.transport import content_range_start, content_range_total


def test_content_range_headers_are_read_or_answered_none():
    assert content_range_start("bytes 100-199/200") == 100
    assert content_range_total("bytes 100-199/200") == 200
    assert content_range_total("bytes */4096") == 4096
    assert content_range_start(None) is None and content_range_total("bytes 0-9/*") is None


def test_the_sink_writes_appends_and_hashes_what_it_was_given(tmp_path):
    dest = tmp_path / "m.safetensors"
    part = part_path(dest)
    assert part.name == "m.safetensors.part"
    for start, chunk in ((0, b"abc"), (3, b"def")):
        digest = fresh_hash(part)[0] if start else hashlib.sha256()
        with part_writer(part, start, digest) as sink:
            buffer = sink.buffer()
            buffer[: len(chunk)] = chunk
            sink.push(buffer, len(chunk))
    assert part.read_bytes() == b"abcdef"
    assert digest.hexdigest() == hashlib.sha256(b"abcdef").hexdigest()


def test_many_buffers_hashed_and_written_side_by_side_keep_their_order_and_start_writeback_as_they_go(
    tmp_path, monkeypatch
):
    started: list[tuple[int, int]] = []
    monkeypatch.setattr(sink_module, "WRITEBACK_EVERY_BYTES", 1000)
    monkeypatch.setattr(sink_module, "start_writeback", lambda _fd, offset, n: started.append((offset, n)))
    part = tmp_path / "m.safetensors.part"
    part.write_bytes(b"x" * 500)  # a resumed .part: writeback ranges start after what it holds
    digest, _ = fresh_hash(part)
    chunks = [bytes([i % 251]) * (100 + i) for i in range(200)]
    with part_writer(part, 500, digest) as sink:
        for chunk in chunks:
            buffer = sink.buffer()
            buffer[: len(chunk)] = chunk
            sink.push(buffer, len(chunk))
    expected = b"x" * 500 + b"".join(chunks)
    assert part.read_bytes() == expected
    assert digest.hexdigest() == hashlib.sha256(expected).hexdigest()
    assert started[0][0] == 500 and all(n >= 1000 for _, n in started)
    assert all(a + n == b for (a, n), (b, _) in pairwise(started))


def test_verify_refuses_a_wrong_size_or_hash_and_an_installed_file_must_match(tmp_path):
    digest = hashlib.sha256(b"abcdef")
    verify(6, digest, digest.hexdigest().upper(), 6)
    for size, sha in ((100, None), (6, "0" * 64)):
        with pytest.raises(AInfError) as info:
            verify(size, digest, sha, 6)
        assert info.value.code == ErrorCode.CHECKSUM_MISMATCH
    dest = tmp_path / "m.safetensors"
    dest.write_bytes(b"abcdef")
    assert installed_size(dest, digest.hexdigest()) == 6
    with pytest.raises(AInfError) as info:
        installed_size(dest, "0" * 64)
    assert info.value.code == ErrorCode.VALIDATION_ERROR and dest.exists()


def test_a_recorded_download_left_running_reads_back_as_failed(tmp_path):
    records = DownloadRecords(open_database(tmp_path))
    download = Download(
        id="d1",
        model_id="m",
        filename="m.safetensors",
        url="https://x/m",
        dest=tmp_path / "m",
        state="running",
        bytes_done=5,
        total_bytes=10,
    )
    records.record(download)
    download.bytes_done = 6
    records.record(download)
    answered = records.snapshot("d1")
    assert answered["state"] == "failed" and answered["bytes"] == 6 and answered["progress"] == 0.6
    with pytest.raises(AInfError) as info:
        records.snapshot("missing")
    assert info.value.code == ErrorCode.DOWNLOAD_NOT_FOUND
