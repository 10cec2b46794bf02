"""The upload route: one multipart file into ComfyUI's input folder, probed as real media."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable

from aiohttp import web

from ...core.errors import AInfError, ErrorCode
from ...host.app import Sidecar
from ...jobs.uploads import max_upload_bytes, save_upload
from ..helpers import PREFIX, guarded, refuse_cross_site


def register(routes: web.RouteTableDef, get_sidecar: Callable[[], Sidecar]) -> None:
    """Add the upload route."""

    @routes.post(f"{PREFIX}/uploads")
    @guarded
    async def upload(request: web.Request) -> web.Response:
        refuse_cross_site(request)
        if request.content_type != "multipart/form-data":
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                "Uploads are multipart/form-data with a 'file' field.",
                detail={"content_type": request.content_type},
            )
        limit = max_upload_bytes()
        if request.content_length is not None and request.content_length > limit + 64 * 1024:
            raise AInfError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"The upload is larger than {limit // (1024 * 1024)} MB.",
                detail={"limit_bytes": limit},
            )
        reader = await request.multipart()
        async for part in reader:
            if getattr(part, "name", None) == "file" and getattr(part, "filename", None):
                name = urllib.parse.unquote(part.filename)  # some clients percent-encode '/' in names
                saved = await save_upload(part, name, get_sidecar().input_dir, limit)
                return web.json_response(saved)
        raise AInfError(ErrorCode.VALIDATION_ERROR, "The form has no 'file' field with a file name.")
