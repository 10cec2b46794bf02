"""The models service: catalog + downloader + download records, one per sidecar."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Engine

from ..core.errors import AInfError, ErrorCode
from ..core.netguard import Resolver
from .catalog import LICENSES, AddCustomModelRequest, FolderLookup, ModelCatalog, ModelEntry
from .downloads import Download, Downloader, DownloadRecords, DownloadRequest

_SERVICE_LOCK = threading.Lock()


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
        self.records = DownloadRecords(engine)
        self.catalog = ModelCatalog(engine, folders, curated)
        self.downloader = Downloader(
            allow_local=allow_local,
            resolver=resolver,
            max_bytes=max_bytes,
            allowed_addresses=allowed_addresses,
            on_change=self.records.record,
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
        return self.records.snapshot(download_id)

    def cancel_download(self, download_id: str) -> dict[str, Any]:
        """Cancel a queued or running download (finished ones are answered as they are)."""
        download = self.downloader.cancel(download_id)
        if download is None:
            return self.download_status(download_id)
        download.done_event.wait(5.0)
        return download.snapshot()
