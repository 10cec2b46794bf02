"""The upload route: one multipart file into ComfyUI's input folder, probed as real media."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage

from ...core.errors import AInfError, ErrorCode
from ...host.app import Sidecar
from ...jobs.uploads import max_upload_bytes, save_upload
from ..helpers import Endpoints, refuse_cross_site, require_content_type

MULTIPART = "multipart/form-data"


def register(routes: web.RouteTableDef, get_sidecar: Callable[[], Sidecar]) -> None:
    """Add the upload route."""

    api = Endpoints(routes)

    @api.post("/uploads", "Upload an input file (multipart/form-data, field 'file')")
    async def upload(request: web.Request) -> dict:
        refuse_cross_site(request)
        require_content_type(
            request, "multipart/form-data", "Uploads are multipart/form-data with a 'file' field."
        )
        limit = max_upload_bytes()
        if request.content_length is not None and request.content_length > limit + 64 * 1024:
            raise AInfError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"The upload is larger than {limit // (1024 * 1024)} MB.",
                detail={"limit_bytes": limit},
            )
        try:
            reader = await request.multipart()
            async for part in reader:
                if getattr(part, "name", None) == "file" and getattr(part, "filename", None):
                    name = urllib.parse.unquote(part.filename)  # some clients percent-encode '/' in names
                    return await save_upload(part, name, get_sidecar().input_dir, limit)
        except (ValueError, KeyError, BadHttpMessage) as exc:  # no boundary, a broken part header, NUL
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                "The multipart body could not be read.",
                detail={"reason": str(exc)[:200]},
                remediation=["Send the file as multipart/form-data with a boundary and a 'file' field."],
            ) from None
        raise AInfError(ErrorCode.VALIDATION_ERROR, "The form has no 'file' field with a file name.")
