"""Start-up inside ComfyUI: build the sidecar (its vault registers keys first), hook runs, add routes."""

from __future__ import annotations

import logging
import sys

from .host.app import Sidecar, build_sidecar
from .host.bridge import ComfyBridge
from .http.routes import register_routes

log = logging.getLogger("ainfluencer")
_sidecar: Sidecar | None = None


def get_sidecar() -> Sidecar:
    """The process's sidecar (built by `install`)."""
    if _sidecar is None:
        raise RuntimeError("ainfluencer sidecar is not installed")
    return _sidecar


def install() -> Sidecar:
    """Build the sidecar on the host ComfyUI and register its routes; called once at pack import."""
    global _sidecar
    if _sidecar is not None:
        return _sidecar
    bridge = ComfyBridge()
    version = getattr(sys.modules.get("comfyui_version"), "__version__", None)
    sidecar = build_sidecar(
        bridge,
        bridge.user_dir,
        bridge.resolve_output,
        model_folders=bridge.model_folders,  # its catalog lets DEPENDENCY_MISSING name the ids to download
        comfyui_version=version,
        install_hooks=bridge.install_hooks,  # before jobs are queued again to re-poll their remote requests
    )
    register_routes(bridge.server.routes, get_sidecar)
    _sidecar = sidecar
    log.info("ainfluencer: sidecar ready with %d preset(s)", len(sidecar.catalog.ids()))
    return sidecar
