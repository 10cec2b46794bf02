"""Serving an emulator's aiohttp app on a free loopback port, and stopping it (shared by every emulator)."""

from __future__ import annotations

import asyncio

from aiohttp import web


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    """Start `app` on 127.0.0.1 at a free port; returns the runner and the base URL."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def shutdown(runner: web.AppRunner | None, release: asyncio.Event | None) -> None:
    """Free any handler held by a "hang" fault, then stop serving."""
    if release is not None:
        release.set()
    if runner is not None:
        await runner.cleanup()
