"""Content-credential routes: verify an uploaded file, and the credentials of each output of a job."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage

from ...core.errors import AInfError, ErrorCode
from ...host.app import Sidecar
from ...jobs.uploads import ChunkReader, max_upload_bytes
from ...provenance.manifest import MIME_TYPES
from ...provenance.verify import verify_file
from ..helpers import Endpoints, refuse_cross_site, require_content_type


async def _receive(part: ChunkReader, suffix: str, folder: Path, limit: int) -> Path:
    """Stream a part into a private temp file (never held in memory), refusing more than `limit` bytes."""
    fd, name = tempfile.mkstemp(prefix=".verify-", suffix=suffix, dir=folder)
    size = 0
    try:
        with os.fdopen(fd, "wb") as fh:
            while chunk := await part.read_chunk(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise AInfError(
                        ErrorCode.PAYLOAD_TOO_LARGE,
                        f"The file is larger than {limit // (1024 * 1024)} MB.",
                        detail={"limit_bytes": limit},
                    )
                fh.write(chunk)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _suffix(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    if suffix not in MIME_TYPES:
        raise AInfError(
            ErrorCode.INVALID_MEDIA,
            f"{suffix or 'A file without an extension'} cannot carry content credentials we read.",
            remediation=[f"Send one of: {', '.join(sorted(MIME_TYPES))}."],
        )
    return suffix


def register(routes: web.RouteTableDef, get_sidecar: Callable[[], Sidecar]) -> None:
    """Add the verify route and the per-job credentials route."""

    api = Endpoints(routes)

    @api.post("/verify", "Verify a file's C2PA content credentials (multipart/form-data, field 'file')")
    async def verify(request: web.Request) -> dict:
        refuse_cross_site(request)
        require_content_type(
            request, "multipart/form-data", "Verification takes multipart/form-data with a 'file' field."
        )
        folder = get_sidecar().data_dir or Path(tempfile.gettempdir())
        try:
            reader = await request.multipart()
            async for part in reader:
                if getattr(part, "name", None) == "file" and getattr(part, "filename", None):
                    path = await _receive(part, _suffix(part.filename), folder, max_upload_bytes())
                    try:
                        return (await asyncio.to_thread(verify_file, path)).as_dict()
                    finally:
                        path.unlink(missing_ok=True)
        except (ValueError, KeyError, BadHttpMessage) as exc:
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                "The multipart body could not be read.",
                detail={"reason": str(exc)[:200]},
            ) from None
        raise AInfError(ErrorCode.VALIDATION_ERROR, "The form has no 'file' field with a file name.")

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
