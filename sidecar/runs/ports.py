"""Interfaces later pieces plug into: engine availability (provider registry) and cost (credit ledger)."""

from __future__ import annotations

from typing import Protocol

from ..core.errors import AInfError, ErrorCode
from ..jobs.presets import WorkflowPreset

LOCAL_ENGINE = "local_comfy"


class EngineAvailability(Protocol):
    """Answers whether an engine can run now (the provider registry implements this)."""

    def availability(self, engine_id: str) -> tuple[bool, str]: ...


class CostEstimator(Protocol):
    """Prices a run before it is queued (the credit ledger implements this)."""

    def estimate(self, preset: WorkflowPreset, quality_level: str) -> float: ...


class ModelRequirements(Protocol):
    """Finds the models a preset needs that are not installed (the model catalog implements this)."""

    def missing(self, preset: WorkflowPreset) -> list[dict[str, str]]: ...


class CreditReservations(Protocol):
    """Holds and releases credits around queueing (the credit ledger implements this)."""

    def reserve(self, job_id: str, credits: float, engine: str, step_id: str = "run") -> str: ...
    def void(self, job_id: str, step_id: str = "run", reason: str = "") -> bool: ...


class ConsentLog(Protocol):
    """Checks characters and records the consent a run was given (the character store implements this)."""

    def require_character(self, character_id: str) -> dict: ...
    def record_run_consent(self, job_id: str, character_id: str | None, confirmed_by: str) -> str: ...


class LocalEngines:
    """Availability when no provider registry is installed: only the host ComfyUI."""

    def availability(self, engine_id: str) -> tuple[bool, str]:
        """The host ComfyUI is available; remote engines are not configured."""
        if engine_id == LOCAL_ENGINE:
            return True, "the host ComfyUI"
        return False, f"{engine_id} is not configured (no provider registry is installed)"


class LocalCosts:
    """Costs when no ledger is installed: local runs are free, remote runs cannot be priced."""

    def estimate(self, preset: WorkflowPreset, quality_level: str) -> float:
        """Zero credits for local runs; remote runs need the ledger."""
        if preset.engine == LOCAL_ENGINE:
            return 0.0
        raise AInfError(
            ErrorCode.DEPENDENCY_MISSING,
            f"Runs on {preset.engine} are priced by the credit ledger, which is not set up.",
            remediation=[
                "Set a credit budget in the Setup Hub, or run the local variant (engine: local_comfy)."
            ],
        )
