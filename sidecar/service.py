"""The sidecar's services wired together once per ComfyUI process (or per test)."""

from __future__ import annotations

import importlib.metadata
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .jobs import JobStore
from .paths import WORKFLOWS_DIR, data_dir
from .pipeline import ComfyHost, PipelineManager
from .presets import PresetCatalog
from .seams import CostEstimator, EngineAvailability, LocalCosts, LocalEngines, ModelRequirements
from .storage import open_database
from .tracker import ExecutionTracker

log = logging.getLogger("ainfluencer")


def pack_version() -> str:
    """The installed pack's version (from pyproject when not installed)."""
    try:
        return importlib.metadata.version("comfyui-ainfluencer")
    except importlib.metadata.PackageNotFoundError:
        import tomllib

        with open(Path(__file__).resolve().parent.parent / "pyproject.toml", "rb") as fh:
            return tomllib.load(fh)["project"]["version"]


@dataclass
class Sidecar:
    """Store, presets, tracker and pipeline of one ComfyUI host."""

    store: JobStore
    catalog: PresetCatalog
    tracker: ExecutionTracker
    pipeline: PipelineManager
    input_dir: Path
    host: ComfyHost
    comfyui_version: str | None = None

    def version_info(self) -> dict[str, Any]:
        """What `GET /ainfluencer/v1/version` answers."""
        return {
            "name": "comfyui-ainfluencer",
            "version": pack_version(),
            "api": "v1",
            "comfyui_version": self.comfyui_version,
            "presets": len(self.catalog.ids()),
        }


def build_sidecar(
    host: ComfyHost,
    user_dir: Path,
    resolve_output: Any,
    *,
    workflows_dir: Path = WORKFLOWS_DIR,
    engines: EngineAvailability | None = None,
    costs: CostEstimator | None = None,
    models: ModelRequirements | None = None,
    comfyui_version: str | None = None,
) -> Sidecar:
    """Open the store, fail jobs orphaned by a previous crash, load presets, wire the pipeline."""
    folder = data_dir(user_dir)
    store = JobStore(open_database(folder), folder)
    orphans = store.fail_orphans()
    if orphans:
        log.warning("ainfluencer: marked %d job(s) left by a previous run as failed", len(orphans))
    catalog = PresetCatalog(workflows_dir)
    tracker = ExecutionTracker(store, resolve_output)
    pipeline = PipelineManager(
        catalog, store, host, tracker, engines or LocalEngines(), costs or LocalCosts(), models
    )
    return Sidecar(store, catalog, tracker, pipeline, host.input_dir, host, comfyui_version)
