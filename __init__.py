"""AInfluencer for ComfyUI: inside ComfyUI this registers the nodes, the web folder and the sidecar routes.

Imported anywhere else (tests, the CLI) it does nothing, so `ainfluencer.sidecar` works without ComfyUI.
"""

from .sidecar.host.bridge import running_in_comfyui

WEB_DIRECTORY = "./web"

if running_in_comfyui():
    from .comfy_nodes.extension import comfy_entrypoint
    from .sidecar.entry import install as _install_sidecar

    _install_sidecar()
    __all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
else:
    __all__ = ["WEB_DIRECTORY"]
