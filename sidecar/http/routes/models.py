"""Model catalog and download routes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ...models.catalog import AddCustomModelRequest
from ...models.service import DownloadModelRequest, ModelsService
from ..helpers import Endpoints
from ..schemas import DownloadAnswer, EmptyBody


def register(routes: web.RouteTableDef, get_sidecar: Callable[[], Any]) -> None:
    """Add the catalog and download routes to a RouteTableDef (ComfyUI's, or a test app's)."""

    api = Endpoints(routes)

    def service() -> ModelsService:
        return ModelsService.for_sidecar(get_sidecar())

    @api.get("/models/catalog", "Curated and custom models with installed status")
    async def catalog(_request: web.Request) -> Any:
        return await asyncio.to_thread(service().list_catalog)

    @api.get("/models/custom", "The user's own model entries")
    async def list_custom(_request: web.Request) -> Any:
        return await asyncio.to_thread(service().list_custom)

    @api.post(
        "/models/custom",
        "Add a model entry (http/https, licence, optional sha256)",
        body=AddCustomModelRequest,
        status=201,
    )
    async def add_custom(request: web.Request, body: AddCustomModelRequest) -> Any:
        return await asyncio.to_thread(service().add_custom, body)

    @api.post(
        "/models/{model_id}/download",
        "Start a checksum-verified download",
        body=DownloadModelRequest,
        answer=DownloadAnswer,
        status=202,
    )
    async def download(request: web.Request, ack: DownloadModelRequest) -> Any:
        return await asyncio.to_thread(service().start_download, request.match_info["model_id"], ack)

    @api.get(
        "/downloads/{download_id}", "Progress, bytes, speed and state of a download", answer=DownloadAnswer
    )
    async def download_status(request: web.Request) -> Any:
        return await asyncio.to_thread(service().download_status, request.match_info["download_id"])

    @api.post("/downloads/{download_id}/cancel", "Cancel a download", body=EmptyBody, answer=DownloadAnswer)
    async def cancel(request: web.Request, _body: EmptyBody) -> Any:
        return await asyncio.to_thread(service().cancel_download, request.match_info["download_id"])
