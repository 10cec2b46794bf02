"""Runware's PuLID identity options for `imageInference`: one face photo kept in a FLUX dev image.

Sources: the `puLID` object of the image inference API (https://runware.ai/docs/en/image-inference/
api-reference, "puLID") and Runware's own Python SDK (https://github.com/Runware/sdk-python,
`runware/types.py`, `IPuLID`): `inputImages` holds exactly one reference (min 1, max 1; a UUID, data URI,
base64 or URL like every Runware image input), `idWeight` 0–3 (default 1), `trueCFGScale` 0–10,
`CFGStartStep` 0–10 or `CFGStartStepPercentage` 0–100 (one of the two). PuLID for FLUX is built on FLUX.1
dev (https://github.com/ToTheBeginning/PuLID, "PuLID-FLUX"), so only Runware's FLUX dev AIR takes it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...core.errors import AInfError, ErrorCode

PULID_MODEL = "runware:101@1"  # FLUX.1 dev on Runware
REFERENCE = "reference"  # the request key holding the face photo (bytes, a file, `reference_url`, …)
ID_WEIGHT = (0, 3)
TRUE_CFG = (0.0, 10.0)
START_STEP = (0, 10)


@dataclass(frozen=True)
class PulidSettings:
    """What the `puLID` object carries besides its one input image."""

    id_weight: int = 1
    true_cfg_scale: float | None = None
    cfg_start_step: int | None = None

    def task_field(self, reference: str) -> dict[str, Any]:
        """The `puLID` object of an `imageInference` task, around the uploaded reference."""
        field: dict[str, Any] = {"inputImages": [reference], "idWeight": self.id_weight}
        if self.true_cfg_scale is not None:
            field["trueCFGScale"] = self.true_cfg_scale
        if self.cfg_start_step is not None:
            field["CFGStartStep"] = self.cfg_start_step
        return field


def wants_pulid(request: dict[str, Any]) -> bool:
    """Whether a generate request carries a face reference for PuLID."""
    return any(request.get(key) for key in (REFERENCE, f"{REFERENCE}_url", f"{REFERENCE}_uuid"))


def _refused(name: str, allowed: str) -> AInfError:
    return AInfError(
        ErrorCode.VALIDATION_ERROR,
        f"Runware's PuLID takes `{name}` {allowed}.",
        detail={"engine": "provider_runware", "field": name},
    )


def _number(request: dict[str, Any], name: str, bounds: tuple[float, float], whole: bool) -> Any:
    value = request.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not bounds[0] <= value <= bounds[1]:
        raise _refused(name, f"from {bounds[0]:g} to {bounds[1]:g}")
    if whole and value != int(value):
        raise _refused(name, f"as a whole number from {bounds[0]:g} to {bounds[1]:g}")
    return int(value) if whole else float(value)


def pulid_settings(model: str, request: dict[str, Any]) -> PulidSettings:
    """The checked PuLID settings of a request (VALIDATION_ERROR before anything is uploaded or paid)."""
    if model != PULID_MODEL:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            f"Runware runs PuLID on FLUX.1 dev ({PULID_MODEL}), not {model[:80]}.",
            remediation=[f"Leave the model out or choose {PULID_MODEL}."],
            detail={"engine": "provider_runware", "model": model},
        )
    weight = _number(request, "id_weight", ID_WEIGHT, whole=True)
    return PulidSettings(
        id_weight=1 if weight is None else weight,
        true_cfg_scale=_number(request, "true_cfg_scale", TRUE_CFG, whole=False),
        cfg_start_step=_number(request, "cfg_start_step", START_STEP, whole=True),
    )
