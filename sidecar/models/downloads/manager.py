"""Downloads as jobs: start or join one per destination, progress, cancel, resume, and the recorded state."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from ...core.clock import iso_utc
from ...core.errors import AInfError, ErrorCode
from ...core.netguard import Resolver, check_url, redact_url
from ...core.paths import resolve_inside
from ...core.storage import metadata
from ..files import check_model_filename
from ..tables import model_downloads
from .sink import SIZE_TOLERANCE, fresh_hash, install, installed_size, part_path, part_writer, unlink, verify
from .transport import Cancelled, Response, Transport, content_range_start, content_range_total, fill

log = logging.getLogger("ainfluencer")

DOWNLOAD_STATES = ("queued", "running", "completed", "failed", "cancelled")
ACTIVE_STATES = ("queued", "running")
MAX_BYTES_ENV = "AINFLUENCER_MAX_DOWNLOAD_GB"
DEFAULT_MAX_GB = 64.0


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
            "created_at": iso_utc(self.created_at),
            "started_at": iso_utc(self.started_at),
            "finished_at": iso_utc(self.finished_at),
        }


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
        self.transport = Transport(
            allow_local_setting=allow_local,
            resolver=resolver,
            allowed_addresses=frozenset(allowed_addresses),
            timeouts=(connect_timeout, read_timeout),
            ssl_context=ssl_context or ssl.create_default_context(),
        )
        self.max_bytes = max_bytes
        self.on_change = on_change
        self._slots = threading.BoundedSemaphore(max_parallel)
        self._lock = threading.Lock()
        self._downloads: dict[str, Download] = {}
        self._active: dict[str, str] = {}  # destination path -> download id

    # -- public ---------------------------------------------------------------------------------------
    @property
    def allow_local(self) -> bool:
        """Whether private and loopback sources are allowed now (setting or environment)."""
        return self.transport.allow_local

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
        part = part_path(download.dest)
        try:
            with self._slots:
                if download.cancel_event.is_set():
                    raise Cancelled
                download.state, download.started_at = "running", time.time()
                self._changed(download)
                self._transfer(download, request, part)
            download.state = "completed"
        except Cancelled:
            unlink(part)
            download.state = "cancelled"
        except AInfError as exc:
            if exc.code != ErrorCode.DOWNLOAD_FAILED:
                unlink(part)  # refusals leave nothing behind; broken transfers keep their part to resume
            download.state, download.error = "failed", exc.to_dict()
        except Exception as exc:
            log.exception("ainfluencer: download %s failed", download.id)
            unlink(part)
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
        """Fetch into the .part, resuming what an earlier transfer left when the source honours ranges."""
        dest, limit = download.dest, self._limit(request)
        if dest.is_file():
            download.bytes_done = download.total_bytes = installed_size(dest, request.sha256)
            return
        if part.is_symlink():
            unlink(part)
        for _attempt in range(2):
            digest, start = fresh_hash(part) if part.is_file() else (hashlib.sha256(), 0)
            if start > limit:
                unlink(part)
                digest, start = hashlib.sha256(), 0
            conn, resp = self.transport.open(request.url, start)
            try:
                if resp.status == 416 and start:
                    total = content_range_total(resp.getheader("Content-Range"))
                    if total == start:  # the part already holds the whole file
                        download.bytes_done = download.total_bytes = start
                        break
                    unlink(part)
                    continue
                if resp.status not in (200, 206):
                    raise AInfError(
                        ErrorCode.DOWNLOAD_FAILED,
                        f"The source answered HTTP {resp.status}.",
                        detail={"status": resp.status, "url": download.url},
                    )
                if resp.status == 206:
                    if content_range_start(resp.getheader("Content-Range")) != start:
                        unlink(part)
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

    def _stream(
        self, download: Download, resp: Response, part: Path, start: int, digest: Any, limit: int
    ) -> None:
        """Receive the body into the .part from `start`, counting progress and stopping past `limit`."""
        length = resp.getheader("Content-Length")
        expected_total = start + int(length) if length and length.isdigit() else None
        if expected_total is not None and expected_total > limit:
            raise _too_large(download, expected_total, limit)
        download.resumed_from = start
        download.bytes_done = start
        if expected_total is not None:
            download.total_bytes = expected_total
        download._session_start = (time.time(), start)
        done = start
        with part_writer(part, start, digest) as sink:
            while True:
                remaining = None if expected_total is None else expected_total - done
                buffer = sink.buffer()
                n = fill(resp, buffer, remaining, done, download.cancel_event)
                if not n:
                    sink.recycle(buffer)
                    break
                sink.push(buffer, n)
                done += n
                download.bytes_done = done
                if done > limit:
                    raise _too_large(download, done, limit)
        if expected_total is not None and done != expected_total:
            raise AInfError(
                ErrorCode.DOWNLOAD_FAILED,
                "The connection ended early; run the download again to resume.",
                detail={"bytes": done, "expected": expected_total},
            )

    @staticmethod
    def _verify_and_install(download: Download, request: DownloadRequest, part: Path, digest: Any) -> None:
        if digest is None:  # 416 with a complete part: hash what is there
            digest, _ = fresh_hash(part)
        size = part.stat().st_size
        download.bytes_done = size
        verify(size, digest, request.sha256, request.expected_bytes)
        install(part, download.dest)
        download.total_bytes = size


def _too_large(download: Download, size: int, limit: int) -> AInfError:
    return AInfError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        f"The download is larger than allowed ({size} > {limit} bytes); it was stopped and removed.",
        detail={"bytes": size, "limit_bytes": limit, "filename": download.filename},
        remediation=["Check the URL points at the model file, or raise AINFLUENCER_MAX_DOWNLOAD_GB."],
    )


class DownloadRecords:
    """Downloads kept in the store, so their state outlives the process that ran them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine, tables=[model_downloads])

    def record(self, download: Download) -> None:
        """Insert or update a download's row (the Downloader's `on_change`)."""
        values = {
            "model_id": download.model_id,
            "filename": download.filename,
            "url": download.url,
            "dest": str(download.dest),
            "state": download.state,
            "bytes": download.bytes_done,
            "total_bytes": download.total_bytes,
            "error_json": json.dumps(download.error) if download.error else None,
            "started_at": download.started_at,
            "finished_at": download.finished_at,
            "updated_at": time.time(),
        }
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(model_downloads).where(model_downloads.c.id == download.id).values(**values)
            ).rowcount
            if not changed:
                conn.execute(
                    insert(model_downloads).values(id=download.id, created_at=download.created_at, **values)
                )

    def snapshot(self, download_id: str) -> dict[str, Any]:
        """A recorded download as `Download.snapshot` answers it, or DOWNLOAD_NOT_FOUND."""
        with self.engine.connect() as conn:
            query = select(model_downloads).where(model_downloads.c.id == download_id)
            row = conn.execute(query).mappings().first()
        if row is None:
            raise AInfError(ErrorCode.DOWNLOAD_NOT_FOUND, f"No download {download_id!r}.")
        state = row["state"]
        if state in ACTIVE_STATES:  # left by a process that stopped; its part file is resumable
            state = "failed"
        total = row["total_bytes"]
        return {
            "download_id": row["id"],
            "model_id": row["model_id"],
            "filename": row["filename"],
            "url": row["url"],
            "state": state,
            "progress": 1.0 if state == "completed" else (row["bytes"] / total if total else 0.0),
            "bytes": row["bytes"],
            "total_bytes": total,
            "speed_bps": 0.0,
            "resumed_from": 0,
            "path": row["dest"] if state == "completed" else None,
            "error": json.loads(row["error_json"]) if row["error_json"] else None,
            "created_at": iso_utc(row["created_at"]),
            "started_at": iso_utc(row["started_at"]),
            "finished_at": iso_utc(row["finished_at"]),
        }
