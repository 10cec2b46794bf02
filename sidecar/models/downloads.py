"""The safe model downloader: pinned-address streaming into .part, hashed as written, verified, renamed."""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import queue
import socket
import ssl
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import AInfError, ErrorCode
from ..core.netguard import (
    Resolver,
    check_address,
    check_url,
    local_sources_allowed,
    redact_url,
    resolve_checked,
)
from ..core.paths import resolve_inside
from .files import check_model_filename, fsync_dir, validate_model_file

log = logging.getLogger("ainfluencer")

# ---------------------------------------------------------------------------------------------------
# the transfer

DOWNLOAD_STATES = ("queued", "running", "completed", "failed", "cancelled")
ACTIVE_STATES = ("queued", "running")
MAX_REDIRECTS = 5
CHUNK_BYTES = 1024 * 1024
PIPELINE_BUFFERS = 16
FILL_WINDOW_S = 0.05
SYNC_EVERY_BYTES = 64 * 1024 * 1024
_datasync = getattr(os, "fdatasync", os.fsync)
SIZE_TOLERANCE = 0.10
MAX_BYTES_ENV = "AINFLUENCER_MAX_DOWNLOAD_GB"
DEFAULT_MAX_GB = 64.0
_REDIRECTS = (301, 302, 303, 307, 308)
_USER_AGENT = "comfyui-ainfluencer-downloader"


def global_max_bytes() -> int:
    """The size cap for downloads whose size is not known (AINFLUENCER_MAX_DOWNLOAD_GB, default 64)."""
    try:
        gigabytes = float(os.environ.get(MAX_BYTES_ENV, DEFAULT_MAX_GB))
    except ValueError:
        gigabytes = DEFAULT_MAX_GB
    return int(gigabytes * 1024**3)


@dataclass(frozen=True)
class DownloadRequest:
    """One file to fetch into a models folder, with what it must be."""

    url: str
    folder: Path
    filename: str
    sha256: str | None = None
    expected_bytes: int | None = None
    allow_pickle: bool = False
    allow_missing_checksum: bool = False
    model_id: str | None = None


@dataclass
class Download:
    """A download's live state; read it from any thread, change it only through the Downloader."""

    id: str
    model_id: str | None
    filename: str
    url: str  # redacted
    dest: Path
    state: str = "queued"
    bytes_done: int = 0
    total_bytes: int | None = None
    resumed_from: int = 0
    error: dict[str, Any] | None = None
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    _session_start: tuple[float, int] | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event, repr=False)
    done_event: threading.Event = field(default_factory=threading.Event, repr=False)

    def speed(self) -> float:
        """Bytes per second over this transfer (0 before it starts)."""
        if self._session_start is None:
            return 0.0
        started, at_bytes = self._session_start
        end = self.finished_at or time.time()
        elapsed = end - started
        return (self.bytes_done - at_bytes) / elapsed if elapsed > 0 else 0.0

    def snapshot(self) -> dict[str, Any]:
        """What `GET /ainfluencer/v1/downloads/{id}` answers."""
        total = self.total_bytes
        progress = 1.0 if self.state == "completed" else (self.bytes_done / total if total else 0.0)
        return {
            "download_id": self.id,
            "model_id": self.model_id,
            "filename": self.filename,
            "url": self.url,
            "state": self.state,
            "progress": round(min(progress, 1.0), 4),
            "bytes": self.bytes_done,
            "total_bytes": total,
            "speed_bps": round(self.speed(), 1),
            "resumed_from": self.resumed_from,
            "path": str(self.dest) if self.state == "completed" else None,
            "error": self.error,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


class _Cancelled(Exception):
    pass


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to one already-checked address; the peer is checked again after connecting."""

    def __init__(self, host: str, port: int, address: str, guard: Callable[[str], None], timeouts: tuple):
        super().__init__(host, port, timeout=timeouts[0])
        self._address, self._guard, self._read_timeout = address, guard, timeouts[1]

    def _pinned_socket(self) -> socket.socket:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        try:
            self._guard(str(sock.getpeername()[0]))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(self._read_timeout)
        except BaseException:
            sock.close()
            raise
        return sock

    def connect(self) -> None:
        self.sock = self._pinned_socket()


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    """HTTPS to one already-checked address, verifying the certificate for the URL's host name."""

    default_port = 443

    def __init__(self, *args: Any, context: ssl.SSLContext) -> None:
        super().__init__(*args)
        self._context = context

    def connect(self) -> None:
        self.sock = self._context.wrap_socket(self._pinned_socket(), server_hostname=self.host)


def _fresh_hash(part: Path) -> tuple[Any, int]:
    """A sha256 over what an interrupted .part already holds, and its length."""
    digest = hashlib.sha256()
    with open(part, "rb") as fh:
        while block := fh.read(CHUNK_BYTES):
            digest.update(block)
    return digest, part.stat().st_size


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


class Downloader:
    """Runs downloads in worker threads (never on the event loop); one transfer per destination file."""

    def __init__(
        self,
        *,
        allow_local: bool = False,
        resolver: Resolver | None = None,
        max_bytes: int | None = None,
        connect_timeout: float = 15.0,
        read_timeout: float = 60.0,
        max_parallel: int = 3,
        allowed_addresses: frozenset[str] = frozenset(),
        ssl_context: ssl.SSLContext | None = None,
        on_change: Callable[[Download], None] | None = None,
    ) -> None:
        self.allow_local_setting = allow_local
        self.resolver = resolver
        self.allowed_addresses = frozenset(allowed_addresses)
        self.max_bytes = max_bytes
        self.timeouts = (connect_timeout, read_timeout)
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.on_change = on_change
        self._slots = threading.BoundedSemaphore(max_parallel)
        self._lock = threading.Lock()
        self._downloads: dict[str, Download] = {}
        self._active: dict[str, str] = {}  # destination path -> download id

    # -- public ---------------------------------------------------------------------------------------
    @property
    def allow_local(self) -> bool:
        """Whether private and loopback sources are allowed now (setting or environment)."""
        return local_sources_allowed(self.allow_local_setting)

    def prepare(self, request: DownloadRequest) -> Path:
        """Check everything knowable before any I/O; returns the destination path."""
        check_url(request.url)
        check_model_filename(request.filename, allow_pickle=request.allow_pickle)
        if request.sha256 is None and not request.allow_missing_checksum:
            raise AInfError(
                ErrorCode.CHECKSUM_MISSING,
                "This model has no published sha256, so the download cannot be verified.",
                detail={"filename": request.filename},
                remediation=[
                    "Add the publisher's sha256 to the entry.",
                    "Or acknowledge the risk (acknowledge_missing_checksum: true).",
                ],
            )
        request.folder.mkdir(parents=True, exist_ok=True)
        dest = resolve_inside(request.folder, request.filename)
        if dest.is_symlink() or (dest.exists() and not dest.is_file()):
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                "The destination is a link or a folder.",
                detail={"name": dest.name},
            )
        return dest

    def submit(self, request: DownloadRequest) -> Download:
        """Start (or join) the transfer of a file in a worker thread; refusals known up front raise here."""
        dest = self.prepare(request)
        key = str(dest)
        with self._lock:
            running = self._active.get(key)
            if running is not None:
                return self._downloads[running]
            download = Download(
                id=uuid.uuid4().hex,
                model_id=request.model_id,
                filename=request.filename,
                url=redact_url(request.url),
                dest=dest,
                total_bytes=request.expected_bytes,
            )
            self._downloads[download.id] = download
            self._active[key] = download.id
        self._changed(download)
        thread = threading.Thread(
            target=self._run, args=(download, request), name=f"ainf-download-{download.id[:8]}", daemon=True
        )
        thread.start()
        return download

    def get(self, download_id: str) -> Download | None:
        """A download this process knows, by id."""
        return self._downloads.get(download_id)

    def cancel(self, download_id: str) -> Download | None:
        """Ask a queued or running download to stop; its .part file is removed."""
        download = self._downloads.get(download_id)
        if download is not None and download.state in ACTIVE_STATES:
            download.cancel_event.set()
        return download

    def fetch(
        self, request: DownloadRequest, on_progress: Callable[[Download], None] | None = None
    ) -> Download:
        """Download in the calling thread (CLI, graph node); raises the AInfError of a failure."""
        download = self.submit(request)
        while not download.done_event.wait(0.2):
            if on_progress is not None:
                on_progress(download)
        if on_progress is not None:
            on_progress(download)
        if download.state == "failed" and download.error is not None:
            raise AInfError(
                ErrorCode(download.error["error"]),
                download.error["message"],
                remediation=download.error["remediation"],
                detail=download.error["detail"],
            )
        if download.state == "cancelled":
            raise AInfError(ErrorCode.DOWNLOAD_FAILED, "The download was cancelled.")
        return download

    # -- worker ---------------------------------------------------------------------------------------
    def _changed(self, download: Download) -> None:
        if self.on_change is not None:
            try:
                self.on_change(download)
            except Exception:
                log.exception("ainfluencer: recording download %s failed", download.id)

    def _run(self, download: Download, request: DownloadRequest) -> None:
        part = download.dest.with_name(download.dest.name + ".part")
        try:
            with self._slots:
                if download.cancel_event.is_set():
                    raise _Cancelled
                download.state, download.started_at = "running", time.time()
                self._changed(download)
                self._transfer(download, request, part)
            download.state = "completed"
        except _Cancelled:
            _unlink(part)
            download.state = "cancelled"
        except AInfError as exc:
            if exc.code != ErrorCode.DOWNLOAD_FAILED:
                _unlink(part)  # refusals leave nothing behind; broken transfers keep their part to resume
            download.state, download.error = "failed", exc.to_dict()
        except Exception as exc:
            log.exception("ainfluencer: download %s failed", download.id)
            _unlink(part)
            error = AInfError(ErrorCode.INTERNAL_ERROR, detail=type(exc).__name__)
            download.state, download.error = "failed", error.to_dict()
        finally:
            download.finished_at = time.time()
            with self._lock:
                self._active.pop(str(download.dest), None)
            log.info(
                "ainfluencer: download %s of %s from %s %s (%d bytes)",
                download.id, download.filename, download.url, download.state, download.bytes_done,
            )  # fmt: skip
            self._changed(download)
            download.done_event.set()

    def _limit(self, request: DownloadRequest) -> int:
        if request.expected_bytes:
            return int(request.expected_bytes * (1 + SIZE_TOLERANCE))
        return self.max_bytes or global_max_bytes()

    def _transfer(self, download: Download, request: DownloadRequest, part: Path) -> None:
        dest, limit = download.dest, self._limit(request)
        if dest.is_file():
            self._accept_existing(download, request)
            return
        if part.is_symlink():
            _unlink(part)
        for _attempt in range(2):
            digest, start = _fresh_hash(part) if part.is_file() else (hashlib.sha256(), 0)
            if start > limit:
                _unlink(part)
                digest, start = hashlib.sha256(), 0
            conn, resp = self._open(request.url, start)
            try:
                if resp.status == 416 and start:
                    total = _content_range_total(resp.getheader("Content-Range"))
                    if total == start:  # the part already holds the whole file
                        download.bytes_done = download.total_bytes = start
                        break
                    _unlink(part)
                    continue
                if resp.status not in (200, 206):
                    raise AInfError(
                        ErrorCode.DOWNLOAD_FAILED,
                        f"The source answered HTTP {resp.status}.",
                        detail={"status": resp.status, "url": download.url},
                    )
                if resp.status == 206:
                    first = _content_range_start(resp.getheader("Content-Range"))
                    if first != start:
                        _unlink(part)
                        continue
                else:
                    start, digest = 0, hashlib.sha256()
                self._stream(download, resp, part, start, digest, limit)
                break
            finally:
                resp.close()
                conn.close()
        else:
            raise AInfError(ErrorCode.DOWNLOAD_FAILED, "The source does not resume downloads consistently.")
        self._verify_and_install(download, request, part, digest if part.is_file() else None)

    def _open(self, url: str, start: int) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """GET with redirects followed by hand, every hop's URL and address checked again."""
        previous_scheme = None
        for _hop in range(MAX_REDIRECTS + 1):
            parts = check_url(url)
            scheme = parts.scheme.lower()
            if previous_scheme == "https" and scheme == "http":
                raise AInfError(
                    ErrorCode.VALIDATION_ERROR,
                    "A redirect from https to http was refused.",
                    detail={"url": redact_url(url)},
                )
            conn, resp = self._request(parts, start)
            if resp.status not in _REDIRECTS:
                return conn, resp
            location = resp.getheader("Location")
            resp.close()
            conn.close()
            if not location:
                raise AInfError(ErrorCode.DOWNLOAD_FAILED, "A redirect without a Location was answered.")
            url, previous_scheme = urllib.parse.urljoin(url, location), scheme
        raise AInfError(
            ErrorCode.DOWNLOAD_FAILED,
            f"More than {MAX_REDIRECTS} redirects.",
            detail={"url": redact_url(url)},
        )

    def _request(
        self, parts: urllib.parse.SplitResult, start: int
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        host = parts.hostname or ""
        https = parts.scheme.lower() == "https"
        port = parts.port or (443 if https else 80)
        allow_local = self.allow_local
        allowed = self.allowed_addresses
        addresses = resolve_checked(host, port, allow_local, self.resolver, allowed)

        def guard(peer: str) -> None:
            check_address(peer, allow_local, allowed)

        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
        if start:
            headers["Range"] = f"bytes={start}-"
        last_error: OSError | None = None
        for address in addresses:
            args = (host, port, address, guard, self.timeouts)
            conn = (
                _PinnedHTTPSConnection(*args, context=self.ssl_context)
                if https
                else _PinnedHTTPConnection(*args)
            )
            try:
                conn.request("GET", path, headers=headers)
                return conn, conn.getresponse()
            except OSError as exc:
                conn.close()
                last_error = exc
            except http.client.HTTPException as exc:
                conn.close()
                raise AInfError(
                    ErrorCode.DOWNLOAD_FAILED,
                    "The source answered something that is not HTTP.",
                    detail=str(exc),
                ) from None
        raise AInfError(
            ErrorCode.DOWNLOAD_FAILED,
            f"Could not connect to {host}.",
            detail={"host": host, "reason": str(last_error)},
        )

    def _stream(
        self,
        download: Download,
        resp: http.client.HTTPResponse,
        part: Path,
        start: int,
        digest: Any,
        limit: int,
    ) -> None:
        length = resp.getheader("Content-Length")
        expected_total = start + int(length) if length and length.isdigit() else None
        if expected_total is not None and expected_total > limit:
            raise _too_large(download, expected_total, limit)
        download.resumed_from = start
        download.bytes_done = start
        if expected_total is not None:
            download.total_bytes = expected_total
        download._session_start = (time.time(), start)
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if start else os.O_TRUNC)
        fd = os.open(part, flags | getattr(os, "O_NOFOLLOW", 0), 0o644)
        done = start
        with open(fd, "wb", buffering=0, closefd=True) as fh:
            sink = _Sink(fh, digest)
            try:
                while True:
                    remaining = None if expected_total is None else expected_total - done
                    buffer = sink.buffer()
                    n = self._fill(download, resp, buffer, remaining, done)
                    if not n:
                        sink.recycle(buffer)
                        break
                    sink.push(buffer, n)
                    done += n
                    download.bytes_done = done
                    if done > limit:
                        raise _too_large(download, done, limit)
            finally:
                sink.close()
            os.fsync(fh.fileno())
        if expected_total is not None and done != expected_total:
            raise AInfError(
                ErrorCode.DOWNLOAD_FAILED,
                "The connection ended early; run the download again to resume.",
                detail={"bytes": done, "expected": expected_total},
            )

    @staticmethod
    def _fill(
        download: Download,
        resp: http.client.HTTPResponse,
        buffer: bytearray,
        remaining: int | None,
        done: int,
    ) -> int:
        """Receive into `buffer` until it is mostly full, the body ends or a moment passes; 0 at the end."""
        view = memoryview(buffer)
        if remaining is not None:
            view = view[: max(0, min(len(view), remaining))]
        filled, deadline = 0, time.monotonic() + FILL_WINDOW_S
        try:
            while filled < len(view) * 3 // 4:
                if download.cancel_event.is_set():
                    raise _Cancelled
                n = _receive_into(resp, view[filled:])
                if not n:
                    break
                filled += n
                if time.monotonic() > deadline:
                    break
        except (OSError, http.client.HTTPException) as exc:
            raise AInfError(
                ErrorCode.DOWNLOAD_FAILED,
                "The connection broke during the download; run it again to resume.",
                detail={"bytes": done + filled, "reason": type(exc).__name__},
            ) from None
        finally:
            view.release()
        return filled

    def _verify_and_install(
        self, download: Download, request: DownloadRequest, part: Path, digest: Any
    ) -> None:
        if digest is None:  # 416 with a complete part: hash what is there
            digest, _ = _fresh_hash(part)
        size = part.stat().st_size
        download.bytes_done = size
        if (
            request.expected_bytes
            and abs(size - request.expected_bytes) > request.expected_bytes * SIZE_TOLERANCE
        ):
            raise AInfError(
                ErrorCode.CHECKSUM_MISMATCH,
                f"The file has {size} bytes; the catalog expects about {request.expected_bytes}.",
                detail={"bytes": size, "expected_bytes": request.expected_bytes},
            )
        actual = digest.hexdigest()
        if request.sha256 is not None and actual != request.sha256.lower():
            raise AInfError(
                ErrorCode.CHECKSUM_MISMATCH,
                f"sha256 mismatch: expected {request.sha256.lower()}, got {actual}; the file was deleted.",
                detail={"expected_sha256": request.sha256.lower(), "actual_sha256": actual},
            )
        _validate_as(part, download.dest)
        os.replace(part, download.dest)
        fsync_dir(download.dest.parent)
        download.total_bytes = size

    def _accept_existing(self, download: Download, request: DownloadRequest) -> None:
        """A file of that name is already installed: accept it only when it is the expected file."""
        digest, size = _fresh_hash(download.dest)
        if request.sha256 is not None and digest.hexdigest() != request.sha256.lower():
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                f"A different file named {download.dest.name} is already installed; it was left as it is.",
                detail={"expected_sha256": request.sha256.lower(), "actual_sha256": digest.hexdigest()},
                remediation=["Move or rename the existing file, then download again."],
            )
        download.bytes_done = download.total_bytes = size


def _receive_into(resp: http.client.HTTPResponse, view: memoryview) -> int:
    """One socket receive into `view` (no allocation); chunked bodies go through http.client."""
    if not len(view) or resp.fp is None:
        return 0
    if resp.chunked:
        data = resp.read1(len(view))
        view[: len(data)] = data
        return len(data)
    return resp.fp.readinto1(view)


class _Sink:
    """Hashes and writes received buffers on two helper threads, so receiving never waits on either."""

    def __init__(self, fh: Any, digest: Any) -> None:
        self.fh, self.digest = fh, digest
        self.error: BaseException | None = None
        self.free: queue.Queue[bytearray] = queue.Queue()
        for _ in range(PIPELINE_BUFFERS):
            self.free.put(bytearray(CHUNK_BYTES))
        self.to_hash: queue.Queue[tuple[bytearray, int] | None] = queue.Queue()
        self.to_write: queue.Queue[tuple[bytearray, int] | None] = queue.Queue()
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
        """Hand `n` received bytes on to be hashed, then written."""
        self.to_hash.put((buffer, n))

    def close(self) -> None:
        """Finish hashing and writing what was pushed; raise what failed."""
        self.to_hash.put(None)
        for thread in self.threads:
            thread.join()
        if self.error is not None:
            raise self.error

    def _hash(self) -> None:
        while (item := self.to_hash.get()) is not None:
            buffer, n = item
            if self.error is None:
                with memoryview(buffer) as view:
                    self.digest.update(view[:n])
            self.to_write.put(item)
        self.to_write.put(None)

    def _write(self) -> None:
        unsynced = 0
        while (item := self.to_write.get()) is not None:
            buffer, n = item
            try:
                if self.error is None:
                    with memoryview(buffer) as view:
                        written = 0
                        while written < n:
                            written += self.fh.write(view[written:n])
                    unsynced += n
                    if (
                        unsynced >= SYNC_EVERY_BYTES
                    ):  # write back while receiving, so the final fsync is short
                        os.fdatasync(self.fh.fileno()) if hasattr(os, "fdatasync") else os.fsync(
                            self.fh.fileno()
                        )
                        unsynced = 0
            except OSError as exc:
                self.error = AInfError(
                    ErrorCode.DOWNLOAD_FAILED,
                    "Writing the model file failed (disk full or not writable).",
                    detail={"reason": str(exc)},
                )
            finally:
                self.free.put(buffer)


def _validate_as(part: Path, dest: Path) -> None:
    """Validate the .part file with the format its final name promises, naming the final file."""
    try:
        validate_model_file(part, dest.suffix)
    except AInfError as exc:
        exc.message = exc.message.replace(part.name, dest.name)
        if isinstance(exc.detail, dict):
            exc.detail["name"] = dest.name
        raise


def _too_large(download: Download, size: int, limit: int) -> AInfError:
    return AInfError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        f"The download is larger than allowed ({size} > {limit} bytes); it was stopped and removed.",
        detail={"bytes": size, "limit_bytes": limit, "filename": download.filename},
        remediation=["Check the URL points at the model file, or raise AINFLUENCER_MAX_DOWNLOAD_GB."],
    )


def _content_range_start(value: str | None) -> int | None:
    try:
        return int((value or "").split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _content_range_total(value: str | None) -> int | None:
    try:
        return int((value or "").rsplit("/", 1)[1])
    except (IndexError, ValueError):
        return None
