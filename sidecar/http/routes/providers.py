"""Provider routes: list engines, connect / test / disconnect a key."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ...host.app import Sidecar
from ...remote.registry import ProviderRegistry
from ..helpers import Endpoints, need
from ..schemas import ConnectAnswer, ConnectBody, EmptyBody, ProvidersAnswer


def register(routes: web.RouteTableDef, get_sidecar: Callable[[], Sidecar]) -> None:
    """Add the provider and key routes."""

    api = Endpoints(routes)

    def registry() -> ProviderRegistry:
        return need(get_sidecar().registry, "provider registry")

    @api.get(
        "/providers",
        "Engines and providers with status, balance, last check and error",
        answer=ProvidersAnswer,
    )
    async def list_providers(_request: web.Request) -> dict:
        return {"providers": registry().list_providers()}

    @api.post(
        "/providers/{provider_id}/connect",
        "Verify a key with the provider and store it if valid",
        body=ConnectBody,
        answer=ConnectAnswer,
    )
    async def connect_provider(request: web.Request, body: ConnectBody) -> dict:
        return await registry().connect(request.match_info["provider_id"], body.api_key, verify=body.verify)

    @api.post("/providers/{provider_id}/test", "Re-check the stored key", body=EmptyBody)
    async def test_provider(request: web.Request, _body: EmptyBody) -> dict:
        return await registry().test_provider(request.match_info["provider_id"])

    @api.post("/providers/{provider_id}/disconnect", "Forget the stored key", body=EmptyBody)
    async def disconnect_provider(request: web.Request, _body: EmptyBody) -> dict:
        return registry().disconnect(request.match_info["provider_id"])
