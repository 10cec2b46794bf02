"""The models service: catalog + downloader + download records, one per sidecar."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Column, Float, Integer, String, Table, Text, insert, select, update
from sqlalchemy.engine import Engine

from ..core.errors import AInfError, ErrorCode
from ..core.netguard import Resolver
from ..core.storage import metadata
from .catalog import LICENSES, AddCustomModelRequest, FolderLookup, ModelCatalog, ModelEntry
from .downloads import Download, Downloader, DownloadRequest

_SERVICE_LOCK = threading.Lock()
model_downloads = Table(
    "ainf_model_downloads",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("model_id", String(120), index=True),
    Column("filename", String(200), nullable=False),
    Column("url", Text, nullable=False),  # redacted
    Column("dest", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("bytes", Integer, nullable=False, default=0),
    Column("total_bytes", Integer),
    Column("error_json", Text),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("updated_at", Float, nullable=False),
)


class DownloadModelRequest(BaseModel):
    """`POST /ainfluencer/v1/models/{id}/download`: acknowledgments a risky entry needs."""

    model_config = ConfigDict(extra="forbid")

    acknowledge_unknown_license: bool = False
    acknowledge_missing_checksum: bool = False
    acknowledge_pickle: bool = False


def host_folders(host: Any) -> FolderLookup:
    """The host ComfyUI's model folders (`ComfyBridge.model_folders`), or DEPENDENCY_MISSING."""
    lookup = getattr(host, "model_folders", None)
    if lookup is None:
        raise AInfError(
            ErrorCode.DEPENDENCY_MISSING,
            "The host does not say where ComfyUI keeps its models.",
            remediation=["Run inside ComfyUI, or pass the models folders explicitly."],
        )
    return lookup


class ModelsService:
    """Lists, adds and downloads catalog models; downloads run in threads and are recorded in the store."""

    def __init__(
        self,
        engine: Engine,
        folders: FolderLookup,
        *,
        allow_local: bool = False,
        resolver: Resolver | None = None,
        curated: list[ModelEntry] | None = None,
        max_bytes: int | None = None,
        allowed_addresses: frozenset[str] = frozenset(),
    ) -> None:
        self.engine = engine
        metadata.create_all(engine, tables=[model_downloads])
        self.catalog = ModelCatalog(engine, folders, curated)
        self.downloader = Downloader(
            allow_local=allow_local,
            resolver=resolver,
            max_bytes=max_bytes,
            allowed_addresses=allowed_addresses,
            on_change=self._record,
        )

    @classmethod
    def for_sidecar(cls, sidecar: Any, folders: FolderLookup | None = None, **options: Any) -> ModelsService:
        """The sidecar's service (built on first use over its store and host, then kept on it)."""
        with _SERVICE_LOCK:
            service = getattr(sidecar, "models_service", None)
            if service is None:
                service = cls(sidecar.store.engine, folders or host_folders(sidecar.host), **options)
                sidecar.models_service = service
        return service

    # -- catalog ----------------------------------------------------------------------------------
    def list_catalog(self) -> dict[str, Any]:
        """Curated and custom entries with installed status."""
        return {"models": [self.catalog.describe(e) for e in self.catalog.entries()]}

    def list_custom(self) -> dict[str, Any]:
        """The user's own entries with installed status."""
        return {"models": [self.catalog.describe(e) for e in self.catalog.custom_entries()]}

    def add_custom(self, body: dict[str, Any] | AddCustomModelRequest) -> dict[str, Any]:
        """Add a user entry; the answer carries its `id`."""
        request = (
            body if isinstance(body, AddCustomModelRequest) else AddCustomModelRequest.model_validate(body)
        )
        entry = self.catalog.add_custom(request)
        return {"id": entry.id, "model": self.catalog.describe(entry)}

    # -- downloads --------------------------------------------------------------------------------
    def request_for(self, entry: ModelEntry, ack: DownloadModelRequest | None = None) -> DownloadRequest:
        """The download an entry asks for, refusing what needs an acknowledgment it was not given."""
        ack = ack or DownloadModelRequest()
        if LICENSES[entry.license] is None and not (
            entry.acknowledge_unknown_license or ack.acknowledge_unknown_license
        ):
            raise AInfError(
                ErrorCode.LICENSE_UNKNOWN,
                f"The licence of {entry.name!r} is unknown.",
                detail={"model_id": entry.id, "required_acknowledgments": ["acknowledge_unknown_license"]},
            )
        folders = self.catalog.folder_paths(entry)
        if not folders:
            raise AInfError(
                ErrorCode.DEPENDENCY_MISSING,
                f"ComfyUI has no {entry.folder!r} models folder; its loader nodes are missing.",
                detail={"model_id": entry.id, "folder": entry.folder},
                remediation=["Install the node pack that uses these models, restart ComfyUI, then retry."],
            )
        return DownloadRequest(
            url=entry.url,
            folder=folders[0],
            filename=entry.filename,
            sha256=entry.sha256,
            expected_bytes=entry.expected_bytes,
            allow_pickle=entry.acknowledge_pickle or ack.acknowledge_pickle,
            allow_missing_checksum=entry.acknowledge_missing_checksum or ack.acknowledge_missing_checksum,
            model_id=entry.id,
        )

    def start_download(self, model_id: str, ack: DownloadModelRequest | None = None) -> dict[str, Any]:
        """Start (or join) a model's download; answers its `download_id` and state."""
        entry = self.catalog.get(model_id)
        download = self.downloader.submit(self.request_for(entry, ack))
        return download.snapshot()

    def fetch(
        self,
        model_id: str,
        ack: DownloadModelRequest | None = None,
        on_progress: Callable[[Download], None] | None = None,
    ) -> Path:
        """Download a model in the calling thread (CLI, graph node); returns the installed path."""
        entry = self.catalog.get(model_id)
        return self.downloader.fetch(self.request_for(entry, ack), on_progress).dest

    def download_status(self, download_id: str) -> dict[str, Any]:
        """Progress, bytes, speed and state of a download (this process's, or a recorded one)."""
        download = self.downloader.get(download_id)
        if download is not None:
            return download.snapshot()
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(model_downloads).where(model_downloads.c.id == download_id))
                .mappings()
                .first()
            )
        if row is None:
            raise AInfError(ErrorCode.DOWNLOAD_NOT_FOUND, f"No download {download_id!r}.")
        state = row["state"]
        if state in ("queued", "running"):  # left by a process that stopped; its part file is resumable
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
            "created_at": row["created_at"],
            "started_at": row["started_at"],
            "finished_at": row["finished_at"],
        }

    def cancel_download(self, download_id: str) -> dict[str, Any]:
        """Cancel a queued or running download (finished ones are answered as they are)."""
        download = self.downloader.cancel(download_id)
        if download is None:
            return self.download_status(download_id)
        download.done_event.wait(5.0)
        return download.snapshot()

    def _record(self, download: Download) -> None:
        now = time.time()
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
            "updated_at": now,
        }
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(model_downloads).where(model_downloads.c.id == download.id).values(**values)
            ).rowcount
            if not changed:
                conn.execute(
                    insert(model_downloads).values(id=download.id, created_at=download.created_at, **values)
                )
