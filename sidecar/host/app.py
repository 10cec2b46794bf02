"""The sidecar's services wired together once per ComfyUI process (or per test)."""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from ..billing.ledger import CreditLedger
from ..core.paths import PACK_ROOT, WORKFLOWS_DIR, data_dir
from ..core.storage import open_database
from ..jobs.characters import CharacterStore
from ..jobs.presets import PresetCatalog
from ..jobs.store import JobStore
from ..models.catalog import FolderLookup
from ..models.service import ModelsService
from ..remote.adapters.base import EngineAdapter
from ..remote.adapters.fal import FalAdapter
from ..remote.adapters.identity_packs import IdentityPacksAdapter
from ..remote.adapters.kling import KlingAdapter
from ..remote.adapters.liveportrait import KJ, LivePortraitAdapter
from ..remote.adapters.local_comfy import LocalComfyAdapter
from ..remote.adapters.runware import RunwareAdapter
from ..remote.adapters.synclabs import SyncLabsAdapter
from ..remote.registry import ProviderRegistry
from ..remote.reuse import CachedResults
from ..remote.steps import RemoteSteps
from ..remote.vault import KeyVault
from ..runs.pipeline import ComfyHost, PipelineManager
from ..runs.ports import CostEstimator, EngineAvailability, ModelRequirements
from ..runs.timing import ThroughputLog
from ..runs.tracker import ExecutionTracker
from .bridge import running_in_comfyui
from .health import recent_logs

log = logging.getLogger("ainfluencer")


def pack_version() -> str:
    """The installed pack's version (from pyproject when not installed)."""
    try:
        return importlib.metadata.version("comfyui-ainfluencer")
    except importlib.metadata.PackageNotFoundError:
        import tomllib

        with open(PACK_ROOT / "pyproject.toml", "rb") as fh:
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
    registry: ProviderRegistry | None = None
    ledger: CreditLedger | None = None
    characters: CharacterStore | None = None
    data_dir: Path | None = None
    output_dir: Path | None = None
    remote: RemoteSteps | None = None
    models_service: ModelsService | None = None  # None: built on first use (`ModelsService.for_sidecar`)

    def version_info(self) -> dict[str, Any]:
        """What `GET /ainfluencer/v1/version` answers."""
        return {
            "name": "comfyui-ainfluencer",
            "version": pack_version(),
            "api": "v1",
            "comfyui_version": self.comfyui_version,
            "presets": len(self.catalog.ids()),
        }


def _registry(database: Engine, vault: KeyVault, adapters: list[EngineAdapter] | None) -> ProviderRegistry:
    """The provider registry with the real adapters, the host's own engine inside ComfyUI, then `adapters`."""
    registry = ProviderRegistry(database, vault)
    for real in (  # real adapters first; ones passed in (tests) replace them
        FalAdapter(),
        KlingAdapter(),
        RunwareAdapter(),
        SyncLabsAdapter(),
        LivePortraitAdapter.from_comfy(packs=(KJ,)),  # talking_clip_v1's fallback graph uses KJ's nodes
        IdentityPacksAdapter.from_comfy(),
    ):
        registry.register_provider(real)
    if running_in_comfyui():  # the host's GPU, models and queue (a stand-in host has none to report)
        registry.register_provider(LocalComfyAdapter.from_comfy())
    for adapter in adapters or []:
        registry.register_provider(adapter)
    return registry


def build_sidecar(
    host: ComfyHost,
    user_dir: Path,
    resolve_output: Any,
    *,
    workflows_dir: Path = WORKFLOWS_DIR,
    engines: EngineAvailability | None = None,
    costs: CostEstimator | None = None,
    models: ModelRequirements | None = None,
    model_folders: FolderLookup | None = None,
    comfyui_version: str | None = None,
    adapters: list[EngineAdapter] | None = None,
    install_hooks: Callable[[ExecutionTracker], None] | None = None,
) -> Sidecar:
    """Open the store, vault and ledger, settle what a crash left, load presets, wire the pipeline.

    `model_folders` (where the host keeps each model kind) builds the models service, whose catalog tells
    the pipeline which required models are missing; `models` replaces that catalog.
    """
    recent_logs()  # the last log lines, redacted, for the diagnostics bundle
    folder = data_dir(user_dir)
    database = open_database(folder)
    vault = KeyVault(folder)  # registers every known key with the redactor before anything is logged
    registry = _registry(database, vault, adapters)
    ledger = CreditLedger(database, folder)
    catalog = PresetCatalog(workflows_dir)
    timing = ThroughputLog(database, catalog, host.input_dir)
    # post on completed; void on failed/cancelled/orphaned; a completed run's work rate is recorded
    store = JobStore(database, folder, final_hooks=[ledger.settle_job, timing.on_final])
    remote = RemoteSteps(database, registry, ledger, store)
    resumable = remote.resumable_jobs()
    orphans = store.fail_orphans(keep=set(resumable))
    if orphans:
        log.warning("ainfluencer: marked %d job(s) left by a previous run as failed", len(orphans))
    output_dir = getattr(host, "output_dir", None)
    if orphans and output_dir is not None:  # a killed writer's partial or torn file must never be served
        removed = store.remove_crash_leftovers(orphans, output_dir)
        if removed:
            log.warning("ainfluencer: removed %d partial output file(s) of failed jobs", len(removed))
    settled = ledger.reconcile(store)
    if settled["posted"] or settled["voided"]:
        log.warning("ainfluencer: settled reservations left by a previous run: %s", settled)
    characters = CharacterStore(database, host.input_dir)
    broadcast = getattr(host, "broadcast", None)  # the real host's editor events; a test host has none
    tracker = ExecutionTracker(
        store,
        resolve_output,
        save_prompt=remote.save_prompt,
        step_error=remote.step_error,
        on_cached=CachedResults(database, ledger, store).note_cached,
        interrupt=getattr(host, "interrupt", None),
        listeners=(broadcast,) if broadcast is not None else (),
    )
    models_service = ModelsService(database, model_folders) if model_folders is not None else None
    if models is None and models_service is not None:
        models = models_service.catalog  # DEPENDENCY_MISSING names the catalog ids to download
    pipeline = PipelineManager(
        catalog,
        store,
        host,
        tracker,
        engines or registry,
        costs or ledger,
        models=models,
        credits=ledger,
        consent_log=characters,
        remote=remote,
        timing=timing,
        node_packs=registry,
    )
    if install_hooks is not None:
        install_hooks(tracker)
    if resumable:
        resumed = remote.resume(resumable, host.enqueue)
        log.warning("ainfluencer: queued %d job(s) again to re-poll their remote requests", len(resumed))
    return Sidecar(
        store,
        catalog,
        tracker,
        pipeline,
        host.input_dir,
        host,
        comfyui_version,
        registry,
        ledger,
        characters,
        folder,
        output_dir,
        remote,
        models_service,
    )
