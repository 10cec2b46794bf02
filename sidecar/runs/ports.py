"""What the pipeline needs from the services below it (registry, ledger, catalog, characters)."""

from __future__ import annotations

from typing import Protocol

from ..core.errors import AInfError
from ..jobs.presets import WorkflowPreset


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
    def reserve_steps(self, job_id: str, steps: list[tuple[str, float, str]]) -> None: ...
    def void(self, job_id: str, step_id: str = "run", reason: str = "") -> bool: ...


class ConsentLog(Protocol):
    """Checks characters and records the consent a run was given (the character store implements this)."""

    def require_character(self, character_id: str) -> dict: ...
    def record_run_consent(self, job_id: str, character_id: str | None, confirmed_by: str) -> str: ...


class NodePackAdvice(Protocol):
    """Names the node pack a graph's unregistered nodes come from, and its licence trap (the registry)."""

    def missing_nodes_error(self, node_types: set[str]) -> AInfError | None: ...
    def called_nodes(self, node_types: set[str]) -> set[str]: ...
    def licence_notes(self, node_types: set[str]) -> list[str]: ...
