"""Route tables, one module per resource; `register_routes` adds them all under `/ainfluencer/v1`."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ...host.app import Sidecar, pack_version
from ..helpers import PREFIX, Endpoints
from ..openapi import documented_routes, openapi_document
from . import (
    characters,
    credits,
    editor,
    generate,
    jobs,
    models,
    presets,
    provenance,
    providers,
    setup,
    studio,
    uploads,
)

# registration order is the order of the OpenAPI document
RESOURCES = (
    presets,
    generate,
    jobs,
    uploads,
    providers,
    credits,
    characters,
    setup,
    models,
    provenance,
    editor,
    studio,
)


def register_routes(routes: web.RouteTableDef, get_sidecar: Callable[[], Sidecar]) -> None:
    """Add every resource's routes, and the OpenAPI document of them, to a RouteTableDef."""
    for resource in RESOURCES:
        resource.register(routes, get_sidecar)

    @Endpoints(routes).get("/openapi.json", "This document")
    async def openapi(_request: web.Request) -> dict:
        return openapi_document(PREFIX, pack_version(), documented_routes(routes))
