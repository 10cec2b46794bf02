"""Start-up inside ComfyUI: register known secrets, build the sidecar, hook executions, add routes."""

from __future__ import annotations

import logging
import os
import re
import sys

from .comfy_bridge import ComfyBridge
from .models_service import ModelsService
from .redact import register_secret
from .routes import register_routes
from .service import Sidecar, build_sidecar

log = logging.getLogger("ainfluencer")
_SECRET_ENV = re.compile(r"^AINFLUENCER_PROVIDER_[A-Z0-9]+_API_KEY$")
_sidecar: Sidecar | None = None


def register_env_secrets() -> None:
    """Mask every provider key given in the environment from the first line we write."""
    for name, value in os.environ.items():
        if _SECRET_ENV.match(name):
            register_secret(value)


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
    register_env_secrets()
    bridge = ComfyBridge()
    version = getattr(sys.modules.get("comfyui_version"), "__version__", None)
    sidecar = build_sidecar(bridge, bridge.user_dir, bridge.resolve_output, comfyui_version=version)
    sidecar.pipeline.models = ModelsService.for_sidecar(sidecar).catalog  # DEPENDENCY_MISSING names ids
    bridge.install_hooks(sidecar.tracker)
    register_routes(bridge.server.routes, get_sidecar)
    _sidecar = sidecar
    log.info("ainfluencer: sidecar ready with %d preset(s)", len(sidecar.catalog.ids()))
    return sidecar
