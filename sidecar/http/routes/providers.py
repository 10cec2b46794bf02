"""Provider routes: list engines, connect / test / disconnect a key."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ...host.app import Sidecar
from ...remote.registry import ProviderRegistry
from ..helpers import PREFIX, guarded, json_body, need
from ..openapi import ConnectBody, EmptyBody


def register(routes: web.RouteTableDef, get_sidecar: Callable[[], Sidecar]) -> None:
    """Add the provider and key routes."""

    def registry() -> ProviderRegistry:
        return need(get_sidecar().registry, "provider registry")

    @routes.get(f"{PREFIX}/providers")
    @guarded
    async def list_providers(_request: web.Request) -> web.Response:
        return web.json_response({"providers": registry().list_providers()})

    @routes.post(PREFIX + "/providers/{provider_id}/connect")
    @guarded
    async def connect_provider(request: web.Request) -> web.Response:
        body = ConnectBody.model_validate(await json_body(request))
        result = await registry().connect(request.match_info["provider_id"], body.api_key)
        return web.json_response(result)

    @routes.post(PREFIX + "/providers/{provider_id}/test")
    @guarded
    async def test_provider(request: web.Request) -> web.Response:
        EmptyBody.model_validate(await json_body(request))
        return web.json_response(await registry().test_provider(request.match_info["provider_id"]))

    @routes.post(PREFIX + "/providers/{provider_id}/disconnect")
    @guarded
    async def disconnect_provider(request: web.Request) -> web.Response:
        EmptyBody.model_validate(await json_body(request))
        return web.json_response(registry().disconnect(request.match_info["provider_id"]))
