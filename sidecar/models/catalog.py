"""The model catalog: curated entries, user (`custom-`) entries in the store, and what is installed."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from ..core.errors import AInfError, ErrorCode
from ..core.netguard import check_url, redact_url
from ..core.storage import add_missing_columns, metadata
from ..jobs.presets import WorkflowPreset
from .files import check_model_filename, is_pickle_name
from .tables import custom_models

CATALOG_FILE = Path(__file__).resolve().parent / "catalog_data" / "models.json"
FolderLookup = Callable[[str], list[Path]]

# Model type -> the ComfyUI models folder it installs into.
TYPE_FOLDERS: dict[str, str] = {
    "checkpoint": "checkpoints",
    "diffusion_model": "diffusion_models",
    "vae": "vae",
    "text_encoder": "text_encoders",
    "upscaler": "upscale_models",
    "lora": "loras",
    "controlnet": "controlnet",
    "clip_vision": "clip_vision",
    "ip_adapter": "ipadapter",
    "instantid": "instantid",
    "face_restore": "facerestore_models",
    "embedding": "embeddings",
    "other": "other",  # ComfyUI has no such folder: a node pack that loads these files must register it
}
ModelType = Literal[
    "checkpoint", "diffusion_model", "vae", "text_encoder", "upscaler", "lora", "controlnet",
    "clip_vision", "ip_adapter", "instantid", "face_restore", "embedding", "other",
]  # fmt: skip
# Licence id -> may outputs be used commercially (None: not known, needs an acknowledgment).
LICENSES: dict[str, bool | None] = {
    "apache-2.0": True,
    "mit": True,
    "bsd-3-clause": True,
    "cc0-1.0": True,
    "cc-by-4.0": True,
    "cc-by-sa-4.0": True,
    "creativeml-openrail-m": True,
    "creativeml-openrail++-m": True,
    "cc-by-nc-4.0": False,
    "cc-by-nc-sa-4.0": False,
    "flux-1-dev-non-commercial": False,
    "insightface-non-commercial": False,
    "other": None,
    "unknown": None,
}
# The spec's licence choices (its "Add Model Source" form) -> the SPDX-style ids above
# (https://spdx.org/licenses/); "Custom" terms are not known to us, so they count as `other`.
SPEC_LICENSES: dict[str, str] = {
    "MIT": "mit",
    "Apache 2.0": "apache-2.0",
    "CC0": "cc0-1.0",
    "Custom": "other",
    "Unknown": "unknown",
}
Tier = Literal["light", "standard", "heavy"]
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_SLUG = re.compile(r"[^a-z0-9]+")


def license_flags(license_id: str) -> list[str]:
    """Warnings a licence carries: `non-commercial` or `license-unknown`."""
    commercial = LICENSES.get(license_id)
    if commercial is False:
        return ["non-commercial"]
    if commercial is None:
        return ["license-unknown"]
    return []


def _allowed_license(value: str) -> str:
    value = SPEC_LICENSES.get(value, value)
    if value not in LICENSES:
        raise ValueError(f"licence must be one of {[*SPEC_LICENSES, *sorted(LICENSES)]}")
    return value


def _hex_digest(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not _SHA256.match(value):
        raise ValueError("sha256 must be 64 hexadecimal characters")
    return value.lower()


License = Annotated[str, AfterValidator(_allowed_license)]
Sha256 = Annotated[str | None, BeforeValidator(_hex_digest)]


class ModelEntry(BaseModel):
    """One model the catalog can install: where it comes from, what it must hash to, its licence."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    type: ModelType
    size_mb: float | None = None
    size_bytes: int | None = None
    license: License
    license_source: str = ""
    source: str = ""
    url: str
    filename: str
    sha256: Sha256 = None
    sha256_source: str = ""
    tier: Tier = "standard"
    tags: list[str] = []
    recommended_use: str = ""
    hardware_notes: str = ""
    notes: str = ""
    verified: bool = False
    recommended: bool = False
    custom: bool = False
    acknowledge_unknown_license: bool = False
    acknowledge_missing_checksum: bool = False
    acknowledge_pickle: bool = False

    @model_validator(mode="after")
    def _unverified_is_an_example(self) -> ModelEntry:
        if not self.custom and not self.verified:
            if not self.name.startswith("Example:"):
                raise ValueError(f"unverified curated entry {self.id!r} must be named 'Example: …'")
            self.recommended = False
        if not self.custom and self.verified and self.sha256 is None:
            raise ValueError(f"verified curated entry {self.id!r} has no sha256")
        return self

    @property
    def folder(self) -> str:
        """The ComfyUI models folder this entry installs into."""
        return TYPE_FOLDERS[self.type]

    @property
    def pickle(self) -> bool:
        """True when the file is a pickle format (can run code when loaded)."""
        return is_pickle_name(self.filename)

    @property
    def expected_bytes(self) -> int | None:
        """The size the download is held to (exact bytes, else size_mb)."""
        if self.size_bytes:
            return self.size_bytes
        return int(self.size_mb * 1_000_000) if self.size_mb else None

    def public(self) -> dict[str, Any]:
        """The entry as routes show it (redacted URL, flags, folder)."""
        data = self.model_dump(
            exclude={"acknowledge_unknown_license", "acknowledge_missing_checksum", "acknowledge_pickle"}
        )
        data["url"] = redact_url(self.url)
        data["folder"] = self.folder
        data["pickle"] = self.pickle
        data["commercial_use"] = LICENSES[self.license]
        data["license_flags"] = license_flags(self.license)
        data["warnings"] = _warnings(self)
        return data


def _warnings(entry: ModelEntry) -> list[str]:
    notes = []
    if LICENSES[entry.license] is False:
        notes.append("Non-commercial licence: outputs may not be used commercially.")
    if LICENSES[entry.license] is None:
        notes.append("Licence unknown: check it at the source before using the outputs.")
    if entry.pickle:
        notes.append("Pickle format: loading it can run code; prefer a .safetensors version.")
    if entry.sha256 is None:
        notes.append("No published checksum: the download cannot be verified.")
    if not entry.custom and not entry.verified:
        notes.append("Example entry: its source and checksum were not verified.")
    return notes


class AddCustomModelRequest(BaseModel):
    """`POST /ainfluencer/v1/models/custom`: a user's own model entry."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    type: ModelType
    url: str = Field(min_length=1, max_length=4000)
    filename: str = Field(min_length=1, max_length=200)
    license: License
    sha256: Sha256 = None
    size_mb: float | None = Field(default=None, gt=0, le=1_000_000)
    tags: list[str] = Field(default=[], max_length=32)
    recommended_use: str = Field(default="", max_length=2000)
    hardware_notes: str = Field(default="", max_length=2000)
    notes: str | None = Field(default=None, max_length=1000)
    acknowledge_unknown_license: bool = False
    acknowledge_missing_checksum: bool = False
    acknowledge_pickle: bool = False


def load_curated(path: Path = CATALOG_FILE) -> list[ModelEntry]:
    """The curated entries shipped with the pack."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [ModelEntry.model_validate(item) for item in data["models"]]


def _check_custom(request: AddCustomModelRequest) -> None:
    check_url(request.url)
    check_model_filename(request.filename, allow_pickle=request.acknowledge_pickle)
    unknown_license = LICENSES[request.license] is None
    missing = []
    if unknown_license and not request.acknowledge_unknown_license:
        missing.append("acknowledge_unknown_license")
    if request.sha256 is None and not request.acknowledge_missing_checksum:
        missing.append("acknowledge_missing_checksum")
    if not missing:
        return
    both = len(missing) == 2
    code = (
        ErrorCode.LICENSE_UNKNOWN
        if missing[0] == "acknowledge_unknown_license"
        else ErrorCode.CHECKSUM_MISSING
    )
    message = {
        "acknowledge_unknown_license": "The licence is unknown",
        "acknowledge_missing_checksum": "There is no sha256 to verify the download",
    }
    raise AInfError(
        code,
        "; ".join(message[m] for m in missing) + (": both need an acknowledgment." if both else "."),
        detail={"required_acknowledgments": missing},
        remediation=[f'Confirm by sending {m}: true ("I understand the risks").' for m in missing],
    )


class ModelCatalog:
    """Curated + custom entries and their installed status; the pipeline's ModelRequirements."""

    def __init__(
        self, engine: Engine, folders: FolderLookup, curated: list[ModelEntry] | None = None
    ) -> None:
        self.engine = engine
        self.folders = folders
        self.curated = {e.id: e for e in (curated if curated is not None else load_curated())}
        metadata.create_all(engine, tables=[custom_models])
        add_missing_columns(engine, custom_models)

    # -- entries ----------------------------------------------------------------------------------
    def custom_entries(self) -> list[ModelEntry]:
        """Every user entry, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(custom_models).order_by(custom_models.c.created_at)).mappings().all()
        return [_entry_from_row(row) for row in rows]

    def entries(self) -> list[ModelEntry]:
        """Curated entries, then custom ones."""
        return [*self.curated.values(), *self.custom_entries()]

    def find(self, model_id: str) -> ModelEntry | None:
        """An entry by id, or None."""
        if model_id in self.curated:
            return self.curated[model_id]
        with self.engine.connect() as conn:
            row = conn.execute(select(custom_models).where(custom_models.c.id == model_id)).mappings().first()
        return _entry_from_row(row) if row else None

    def get(self, model_id: str) -> ModelEntry:
        """An entry by id, or MODEL_NOT_FOUND."""
        entry = self.find(model_id)
        if entry is None:
            raise AInfError(ErrorCode.MODEL_NOT_FOUND, f"No model {model_id!r} in the catalog.")
        return entry

    def add_custom(self, request: AddCustomModelRequest) -> ModelEntry:
        """Validate and store a user entry; returns it with its new `custom-` id."""
        _check_custom(request)
        slug = _SLUG.sub("-", request.name.lower()).strip("-")[:60] or "model"
        model_id = f"custom-{slug}-{uuid.uuid4().hex[:6]}"
        row = {
            "id": model_id,
            "name": request.name,
            "type": request.type,
            "fetch_url": request.url,
            "url": redact_url(request.url),
            "filename": request.filename,
            "license": request.license,
            "sha256": request.sha256,
            "size_mb": request.size_mb,
            "tags_json": json.dumps(request.tags),
            "recommended_use": request.recommended_use,
            "hardware_notes": request.hardware_notes,
            "notes": request.notes or "",
            "acknowledge_unknown_license": request.acknowledge_unknown_license,
            "acknowledge_missing_checksum": request.acknowledge_missing_checksum,
            "acknowledge_pickle": request.acknowledge_pickle,
            "created_at": time.time(),
        }
        with self.engine.begin() as conn:
            conn.execute(insert(custom_models).values(**row))
        return self.get(model_id)

    # -- installed status -------------------------------------------------------------------------
    def folder_paths(self, entry: ModelEntry) -> list[Path]:
        """The folders ComfyUI searches for this entry's kind (empty when it knows none)."""
        try:
            return [Path(p) for p in self.folders(entry.folder)]
        except (KeyError, AInfError):
            return []

    def installed_path(self, entry: ModelEntry) -> Path | None:
        """Where the entry's file is installed, or None."""
        for folder in self.folder_paths(entry):
            candidate = folder / entry.filename
            if candidate.is_file():
                return candidate
        return None

    def describe(self, entry: ModelEntry) -> dict[str, Any]:
        """The entry as routes answer it, with `installed` and `installed_path`."""
        path = self.installed_path(entry)
        data = entry.public()
        data["installed"] = path is not None
        data["installed_path"] = str(path) if path else None
        return data

    def missing(self, preset: WorkflowPreset) -> list[dict[str, str]]:
        """Models the preset needs that are not installed, each with the catalog id that installs it."""
        out: list[dict[str, str]] = []
        for model_id in preset.required_models:
            entry = self.find(model_id)
            if entry is None:
                out.append({"id": model_id, "name": model_id, "reason": "not in the model catalog"})
            elif self.installed_path(entry) is None:
                out.append(
                    {
                        "id": entry.id,
                        "name": entry.name,
                        "filename": entry.filename,
                        "folder": entry.folder,
                        "license": entry.license,
                    }
                )
        return out


def _entry_from_row(row: Any) -> ModelEntry:
    return ModelEntry(
        id=row["id"],
        name=row["name"],
        type=row["type"],
        size_mb=row["size_mb"],
        license=row["license"],
        source=row["url"],
        url=row["fetch_url"],
        filename=row["filename"],
        sha256=row["sha256"],
        sha256_source="given by the user" if row["sha256"] else "",
        tags=json.loads(row["tags_json"] or "[]"),
        recommended_use=row["recommended_use"],
        hardware_notes=row["hardware_notes"],
        notes=row["notes"],
        custom=True,
        acknowledge_unknown_license=row["acknowledge_unknown_license"],
        acknowledge_missing_checksum=row["acknowledge_missing_checksum"],
        acknowledge_pickle=row["acknowledge_pickle"],
    )
