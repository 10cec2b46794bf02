"""Route tables, one module per resource; `register_routes` adds them all under `/ainfluencer/v1`."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ...host.app import Sidecar
from . import characters, credits, generate, jobs, models, presets, providers, setup, uploads

RESOURCES = (presets, jobs, uploads, providers, credits, characters, setup, models, generate)


def register_routes(routes: web.RouteTableDef, get_sidecar: Callable[[], Sidecar]) -> None:
    """Add every resource's routes to a RouteTableDef (ComfyUI's, or a test app's)."""
    for resource in RESOURCES:
        resource.register(routes, get_sidecar)
