"""The host ComfyUI as an engine: its device and VRAM, installed model counts and queue length.

Local work runs as graph nodes on ComfyUI's own queue, so every generation operation stays NOT_SUPPORTED
here; this adapter only reports health. The production readers mirror ComfyUI's `/system_stats` route
(server.py: `comfy.model_management.get_torch_device()`, `get_torch_device_name(device)`,
`get_total_memory(device, torch_total_too=True)`, `get_free_memory(device, torch_free_too=True)`,
`torch_version`), `folder_paths.get_filename_list(folder)` for model counts and
`PromptServer.instance.prompt_queue.get_tasks_remaining()` (queued + running) for the queue. They look the
modules up in `sys.modules` when called and never import ComfyUI or torch.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

from ...core.errors import AInfError, ErrorCode
from ..engines import LOCAL_ENGINE
from .base import EngineAdapter

MODEL_FOLDERS = (
    "checkpoints",
    "diffusion_models",
    "loras",
    "vae",
    "text_encoders",
    "clip_vision",
    "controlnet",
    "upscale_models",
)
GIB = 1024**3

SystemStats = Callable[[], dict[str, Any]]
ModelCounts = Callable[[], dict[str, int]]
QueueLength = Callable[[], int]


class LocalComfyAdapter(EngineAdapter):
    """Health of the ComfyUI this pack runs in; the work itself is queued as graph nodes, not called here."""

    engine_id = LOCAL_ENGINE

    def __init__(
        self, system_stats: SystemStats, model_counts: ModelCounts, queue_length: QueueLength
    ) -> None:
        super().__init__(None)
        self.system_stats = system_stats
        self.model_counts = model_counts
        self.queue_length = queue_length

    @classmethod
    def from_comfy(cls) -> LocalComfyAdapter:
        """Read the live ComfyUI from sys.modules at call time; a missing module becomes a message."""
        return cls(comfy_system_stats, comfy_model_counts, comfy_queue_length)

    def _read(self) -> dict[str, Any]:
        problems: list[str] = []
        stats = _attempt(self.system_stats, problems)
        models = _attempt(self.model_counts, problems)
        queue = _attempt(self.queue_length, problems)
        if stats is None:
            return {
                "ok": False,
                "message": "The host ComfyUI cannot be read: " + "; ".join(problems),
                "gpu": None,
                "models": models,
                "queue": queue,
                "torch_version": None,
                "problems": problems,
            }
        gpu = _gpu(stats)
        device = (
            f"{gpu['name']} ({_gib(gpu['vram_free_bytes'])} of {_gib(gpu['vram_total_bytes'])} VRAM free)"
            if gpu
            else "the CPU (no GPU: generation will be slow)"
        )
        parts = [f"ComfyUI runs on {device}"]
        if models is not None:
            parts.append(f"{sum(models.values())} models installed")
        if queue is not None:
            parts.append(f"{queue} job{'s' if queue != 1 else ''} queued or running")
        message = "; ".join(parts) + "."
        if problems:
            message += " Not readable: " + "; ".join(problems) + "."
        return {
            "ok": True,
            "message": message,
            "gpu": gpu,
            "models": models,
            "queue": queue,
            "torch_version": stats.get("torch_version"),
            "problems": problems,
        }

    async def health_check(self, api_key: str | None = None) -> dict[str, Any]:
        """{'ok', 'message', 'gpu' (None on CPU), 'models' (count per folder), 'queue', 'torch_version'}."""
        return await asyncio.to_thread(self._read)


def _attempt(reader: Callable[[], Any], problems: list[str]) -> Any:
    try:
        return reader()
    except AInfError as exc:
        problems.append(exc.message)
    except Exception as exc:
        problems.append(f"{getattr(reader, '__name__', 'reader')} failed ({type(exc).__name__})")
    return None


def _gib(value: int | None) -> str:
    return "?" if value is None else f"{value / GIB:.1f} GiB"


def _gpu(stats: dict[str, Any]) -> dict[str, Any] | None:
    if stats.get("device_type") in (None, "cpu"):
        return None
    return {
        "name": stats.get("device_name"),
        "type": stats.get("device_type"),
        "index": stats.get("device_index"),
        "vram_total_bytes": stats.get("vram_total"),
        "vram_free_bytes": stats.get("vram_free"),
        "torch_vram_total_bytes": stats.get("torch_vram_total"),
        "torch_vram_free_bytes": stats.get("torch_vram_free"),
    }


# -- production readers: the live ComfyUI, never imported here ----------------------------------------
def loaded_module(name: str) -> Any:
    """A module of the running ComfyUI by name; ENGINE_OFFLINE when ComfyUI is not running here."""
    module = sys.modules.get(name)
    if module is None:
        raise AInfError(
            ErrorCode.ENGINE_OFFLINE, f"{name} is not loaded (ComfyUI is not running in this process)"
        )
    return module


def comfy_system_stats() -> dict[str, Any]:
    """The device, its VRAM and the torch version, as ComfyUI's /system_stats reports them."""
    mm = loaded_module("comfy.model_management")
    device = mm.get_torch_device()
    total, torch_total = mm.get_total_memory(device, torch_total_too=True)
    free, torch_free = mm.get_free_memory(device, torch_free_too=True)
    return {
        "device_type": getattr(device, "type", None) or "cuda",  # a bare index means a CUDA device
        "device_index": getattr(device, "index", device if isinstance(device, int) else None),
        "device_name": mm.get_torch_device_name(device),
        "vram_total": int(total),
        "vram_free": int(free),
        "torch_vram_total": int(torch_total),
        "torch_vram_free": int(torch_free),
        "torch_version": getattr(mm, "torch_version", None),
    }


def comfy_model_counts() -> dict[str, int]:
    """How many model files ComfyUI lists per folder kind (the ones its loaders offer)."""
    folder_paths = loaded_module("folder_paths")
    known = getattr(folder_paths, "folder_names_and_paths", {})
    return {f: len(folder_paths.get_filename_list(f)) for f in MODEL_FOLDERS if f in known}


def comfy_queue_length() -> int:
    """Prompts queued or running on ComfyUI's queue."""
    instance = getattr(getattr(loaded_module("server"), "PromptServer", None), "instance", None)
    if instance is None:
        raise AInfError(
            ErrorCode.ENGINE_OFFLINE, "ComfyUI's server has not started (no PromptServer.instance)"
        )
    return int(instance.prompt_queue.get_tasks_remaining())
