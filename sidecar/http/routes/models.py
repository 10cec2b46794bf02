"""Model catalog and download routes under `/ainfluencer/v1`; errors in the one shape, never a 500."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ...models.catalog import AddCustomModelRequest
from ...models.service import DownloadModelRequest, ModelsService
from ..helpers import PREFIX, guarded, json_body


def register(routes: web.RouteTableDef, get_sidecar: Callable[[], Any]) -> None:
    """Add the catalog and download routes to a RouteTableDef (ComfyUI's, or a test app's)."""

    def service() -> ModelsService:
        return ModelsService.for_sidecar(get_sidecar())

    @routes.get(f"{PREFIX}/models/catalog")
    @guarded
    async def catalog(_request: web.Request) -> web.Response:
        return web.json_response(await asyncio.to_thread(service().list_catalog))

    @routes.get(f"{PREFIX}/models/custom")
    @guarded
    async def list_custom(_request: web.Request) -> web.Response:
        return web.json_response(await asyncio.to_thread(service().list_custom))

    @routes.post(f"{PREFIX}/models/custom")
    @guarded
    async def add_custom(request: web.Request) -> web.Response:
        body = AddCustomModelRequest.model_validate(await json_body(request))
        return web.json_response(await asyncio.to_thread(service().add_custom, body), status=201)

    @routes.post(PREFIX + "/models/{model_id}/download")
    @guarded
    async def download(request: web.Request) -> web.Response:
        ack = DownloadModelRequest.model_validate(await json_body(request))
        model_id = request.match_info["model_id"]
        started = await asyncio.to_thread(service().start_download, model_id, ack)
        return web.json_response(started, status=202)

    @routes.get(PREFIX + "/downloads/{download_id}")
    @guarded
    async def download_status(request: web.Request) -> web.Response:
        download_id = request.match_info["download_id"]
        return web.json_response(await asyncio.to_thread(service().download_status, download_id))

    @routes.post(PREFIX + "/downloads/{download_id}/cancel")
    @guarded
    async def cancel(request: web.Request) -> web.Response:
        await json_body(request)
        download_id = request.match_info["download_id"]
        return web.json_response(await asyncio.to_thread(service().cancel_download, download_id))
