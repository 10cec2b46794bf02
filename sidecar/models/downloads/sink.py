"""The downloader's file side: the .part written and hashed on helper threads, verified, moved into place."""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from ...core.errors import AInfError, ErrorCode
from ..files import fsync_dir, validate_model_file

# 1 MiB buffers: large enough that a hash update and a write() release the GIL for long, small enough to
# still be in the CPU cache when the hashing and writing threads read what the receiver wrote (4 MiB
# buffers took about 40% more CPU time in bench/bench_download.py on a 2-core machine).
CHUNK_BYTES = 1024 * 1024
PIPELINE_BUFFERS = 16  # 16 MiB in flight absorbs a slow write without stalling the socket
WRITEBACK_EVERY_BYTES = 64 * 1024 * 1024
SIZE_TOLERANCE = 0.10


def part_path(dest: Path) -> Path:
    """The temporary file a download of `dest` is written to (kept after a broken transfer, to resume)."""
    return dest.with_name(dest.name + ".part")


def fresh_hash(path: Path) -> tuple[Any, int]:
    """A sha256 over what a file (an interrupted .part, an installed model) holds, and its length."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK_BYTES):
            digest.update(block)
    return digest, path.stat().st_size


def unlink(path: Path) -> None:
    """Remove a file if it is there."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass


class _Block:
    """A received buffer shared by the hashing and the writing thread, free again when both are done."""

    __slots__ = ("buffer", "n", "users")

    def __init__(self, buffer: bytearray, n: int) -> None:
        self.buffer, self.n, self.users = buffer, n, 2


class Sink:
    """Hashes and writes each received buffer at the same time on two helper threads.

    hashlib and file writes release the GIL on large buffers
    (https://docs.python.org/3/library/hashlib.html#hash-objects), so receiving, hashing and writing
    use separate cores; a buffer goes back to the receiver once both helpers have finished with it.
    """

    def __init__(self, fh: BinaryIO, digest: Any) -> None:
        self.fh, self.digest = fh, digest
        self.error: BaseException | None = None
        self.free: queue.Queue[bytearray] = queue.Queue()
        for _ in range(PIPELINE_BUFFERS):
            self.free.put(bytearray(CHUNK_BYTES))
        self._lock = threading.Lock()
        self.to_hash: queue.SimpleQueue[_Block | None] = queue.SimpleQueue()
        self.to_write: queue.SimpleQueue[_Block | None] = queue.SimpleQueue()
        self.threads = [
            threading.Thread(target=self._hash, name="ainf-download-hash", daemon=True),
            threading.Thread(target=self._write, name="ainf-download-write", daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    def buffer(self) -> bytearray:
        """A free buffer to receive into (raises what a helper thread failed with)."""
        while True:
            if self.error is not None:
                raise self.error
            try:
                return self.free.get(timeout=0.5)
            except queue.Empty:
                continue

    def recycle(self, buffer: bytearray) -> None:
        """Return an unused buffer."""
        self.free.put(buffer)

    def push(self, buffer: bytearray, n: int) -> None:
        """Hand `n` received bytes to both helpers: hashed and written side by side, each in order."""
        block = _Block(buffer, n)
        self.to_hash.put(block)
        self.to_write.put(block)

    def close(self) -> None:
        """Finish hashing and writing what was pushed; raise what failed."""
        self.to_hash.put(None)
        self.to_write.put(None)
        for thread in self.threads:
            thread.join()
        if self.error is not None:
            raise self.error

    def _done_with(self, block: _Block) -> None:
        with self._lock:
            block.users -= 1
            last = block.users == 0
        if last:
            self.free.put(block.buffer)

    def _hash(self) -> None:
        while (block := self.to_hash.get()) is not None:
            with memoryview(block.buffer) as view:
                self.digest.update(view[: block.n])
            self._done_with(block)

    def _write(self) -> None:
        flushed = written_total = os.fstat(self.fh.fileno()).st_size  # a resumed .part appends
        while (block := self.to_write.get()) is not None:
            try:
                if self.error is None:
                    with memoryview(block.buffer) as view:
                        written = 0
                        while written < block.n:
                            written += self.fh.write(view[written : block.n])
                    written_total += block.n
                    if written_total - flushed >= WRITEBACK_EVERY_BYTES:
                        start_writeback(self.fh.fileno(), flushed, written_total - flushed)
                        flushed = written_total
            except OSError as exc:
                self.error = AInfError(
                    ErrorCode.DOWNLOAD_FAILED,
                    "Writing the model file failed (disk full or not writable).",
                    detail={"reason": str(exc)},
                )
            finally:
                self._done_with(block)


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a range to disk now, without waiting, so the final fsync is short.

    On Linux POSIX_FADV_DONTNEED starts asynchronous writeback of the range's dirty pages and lets
    them leave the page cache once written (https://man7.org/linux/man-pages/man2/posix_fadvise.2.html);
    a multi-gigabyte model then neither waits on the disk nor evicts everything else. Elsewhere the
    final fsync does all of it.
    """
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)


@contextmanager
def part_writer(part: Path, start: int, digest: Any) -> Iterator[Sink]:
    """A Sink on the .part (appended from `start`, or truncated at 0), fsynced once when the body ends well.

    One fsync at the end rather than periodic ones, which would stall the writer (and through it the
    socket) on the disk every time; start_writeback keeps what is left for that fsync small.
    """
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if start else os.O_TRUNC)
    fd = os.open(part, flags | getattr(os, "O_NOFOLLOW", 0), 0o644)
    with open(fd, "wb", buffering=0, closefd=True) as fh:
        sink = Sink(fh, digest)
        try:
            yield sink
        finally:
            sink.close()
        os.fsync(fh.fileno())


def verify(size: int, digest: Any, sha256: str | None, expected_bytes: int | None) -> None:
    """CHECKSUM_MISMATCH unless the size is near the expected one and the sha256 is the published one."""
    if expected_bytes and abs(size - expected_bytes) > expected_bytes * SIZE_TOLERANCE:
        raise AInfError(
            ErrorCode.CHECKSUM_MISMATCH,
            f"The file has {size} bytes; the catalog expects about {expected_bytes}.",
            detail={"bytes": size, "expected_bytes": expected_bytes},
        )
    actual = digest.hexdigest()
    if sha256 is not None and actual != sha256.lower():
        raise AInfError(
            ErrorCode.CHECKSUM_MISMATCH,
            f"sha256 mismatch: expected {sha256.lower()}, got {actual}; the file was deleted.",
            detail={"expected_sha256": sha256.lower(), "actual_sha256": actual},
        )


def install(part: Path, dest: Path) -> None:
    """Validate the .part as the format its final name promises, then move it into place durably."""
    _validate_as(part, dest)
    os.replace(part, dest)
    fsync_dir(dest.parent)


def installed_size(dest: Path, sha256: str | None) -> int:
    """The size of an already installed file, accepted only when it is the expected file."""
    digest, size = fresh_hash(dest)
    if sha256 is not None and digest.hexdigest() != sha256.lower():
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            f"A different file named {dest.name} is already installed; it was left as it is.",
            detail={"expected_sha256": sha256.lower(), "actual_sha256": digest.hexdigest()},
            remediation=["Move or rename the existing file, then download again."],
        )
    return size


def _validate_as(part: Path, dest: Path) -> None:
    """Validate the .part file with the format its final name promises, naming the final file."""
    try:
        validate_model_file(part, dest.suffix)
    except AInfError as exc:
        exc.message = exc.message.replace(part.name, dest.name)
        if isinstance(exc.detail, dict):
            exc.detail["name"] = dest.name
        raise
