"""Content-credential routes: verify an uploaded file, and the credentials of each output of a job."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from ...core.errors import AInfError, ErrorCode
from ...host.app import Sidecar
from ...jobs.uploads import ChunkReader, max_upload_bytes, write_capped
from ...provenance.manifest import MIME_TYPES
from ...provenance.verify import verify_file
from ..helpers import Endpoints, with_file_part


async def _receive(part: ChunkReader, suffix: str, folder: Path, limit: int) -> Path:
    """Stream a part into a private temp file (never held in memory whole), at most `limit` bytes."""
    fd, name = tempfile.mkstemp(prefix=".verify-", suffix=suffix, dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            await write_capped(part, fh, limit)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _suffix(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    if suffix in MIME_TYPES:
        return suffix
    known = ", ".join(sorted(MIME_TYPES))
    raise AInfError(ErrorCode.INVALID_MEDIA, f"Content credentials are read from {known} files.")


def register(routes: web.RouteTableDef, get_sidecar: Callable[[], Sidecar]) -> None:
    """Add the verify route and the per-job credentials route."""

    api = Endpoints(routes)

    @api.post("/verify", "Verify a file's C2PA content credentials (multipart/form-data, field 'file')")
    async def verify(request: web.Request) -> dict:
        folder = get_sidecar().data_dir or Path(tempfile.gettempdir())
        limit = max_upload_bytes()

        async def check(part: ChunkReader, name: str) -> dict:
            path = await _receive(part, _suffix(name), folder, limit)
            try:
                return (await asyncio.to_thread(verify_file, path)).as_dict()
            finally:
                path.unlink(missing_ok=True)

        return await with_file_part(request, check, limit, what="Verification requests")

    @api.get("/jobs/{job_id}/credentials", "The content credentials of each output of a job")
    async def job_credentials(request: web.Request) -> dict:
        job = get_sidecar().store.get(request.match_info["job_id"])
        outputs = []
        for artifact in job["artifacts"]:
            path = Path(artifact["path"])
            if path.is_file() and path.suffix.lower() in MIME_TYPES:
                report = await asyncio.to_thread(verify_file, path)
                outputs.append(
                    {"filename": artifact["filename"], **report.as_dict(), "summary": report.summary()}
                )
        return {"job_id": job["job_id"], "outputs": outputs}
