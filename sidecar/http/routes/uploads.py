"""The upload route: one multipart file into ComfyUI's input folder, probed as real media."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ...host.app import Sidecar
from ...jobs.uploads import max_upload_bytes, save_upload
from ..helpers import Endpoints, with_file_part


def register(routes: web.RouteTableDef, get_sidecar: Callable[[], Sidecar]) -> None:
    """Add the upload route."""

    api = Endpoints(routes)

    @api.post("/uploads", "Upload an input file (multipart/form-data, field 'file')")
    async def upload(request: web.Request) -> dict:
        limit = max_upload_bytes()

        async def save(part, name: str) -> dict:
            return await save_upload(part, name, get_sidecar().input_dir, limit)

        return await with_file_part(request, save, limit)
