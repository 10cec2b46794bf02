"""Characters (the v1 contract), their reference images and consent records, and run consent."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ..core.clock import iso_utc
from ..core.errors import AInfError, ErrorCode
from ..core.media import require_media
from ..core.paths import resolve_inside
from ..core.redact import redact_secrets
from ..core.storage import character_references, characters, consents, row_dict
from .store import sha256_file

MAX_METADATA_BYTES = 16_384


class CharacterCreate(BaseModel):
    """Body of `POST /ainfluencer/v1/characters` (name 1–100, description ≤ 1000; unknown fields rejected)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=1000)
    avatar_url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://\S+$")
    metadata: dict[str, Any] = {}

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(value)) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata must serialise to at most {MAX_METADATA_BYTES} bytes")
        return value


class ReferenceAdd(BaseModel):
    """Body of `POST …/characters/{id}/references`: an uploaded image's name in ComfyUI's input folder."""

    model_config = ConfigDict(extra="forbid")
    image: str = Field(min_length=1, max_length=500)


class ConsentChecklist(BaseModel):
    """The consent checklist; every answer must be true for a consent record to be stored."""

    model_config = ConfigDict(extra="forbid")
    is_adult: bool
    person_consented: bool
    may_withdraw: bool
    no_deception: bool


class ConsentCreate(BaseModel):
    """Body of `POST …/characters/{id}/consent`."""

    model_config = ConfigDict(extra="forbid")
    confirmed_by: str = Field(min_length=1, max_length=200)
    checklist: ConsentChecklist


class CharacterStore:
    """Characters, references and consent records in the job database; implements the ConsentLog seam."""

    def __init__(self, engine: Engine, input_dir: Path) -> None:
        self.engine = engine
        self.input_dir = Path(input_dir)

    def create(self, body: CharacterCreate) -> dict[str, Any]:
        """Store a new character."""
        character_id = f"chr_{uuid.uuid4().hex[:16]}"
        with self.engine.begin() as conn:
            conn.execute(
                characters.insert().values(
                    character_id=character_id,
                    name=body.name,
                    description=body.description or "",
                    avatar_url=body.avatar_url,
                    metadata_json=json.dumps(redact_secrets(body.metadata)),
                    created_at=time.time(),
                )
            )
        return self.get(character_id)

    def require_character(self, character_id: str) -> dict[str, Any]:
        """ConsentLog seam: the character, or CHARACTER_NOT_FOUND."""
        return self.get(character_id)

    def get(self, character_id: str) -> dict[str, Any]:
        """One character with its references and consent records."""
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(characters).where(characters.c.character_id == character_id))
                .mappings()
                .first()
            )
            if row is None:
                raise AInfError(ErrorCode.CHARACTER_NOT_FOUND, detail={"character_id": character_id[:64]})
            refs = conn.execute(
                select(character_references)
                .where(character_references.c.character_id == character_id)
                .order_by(character_references.c.id)
            ).mappings()
            records = conn.execute(
                select(consents)
                .where(consents.c.character_id == character_id, consents.c.source == "character")
                .order_by(consents.c.created_at)
            ).mappings()
            references = [
                {"image": r["image"], "sha256": r["sha256"], "created_at": r["created_at"]} for r in refs
            ]
            consent_rows = list(records)
        # no row is ever rewritten: a character changes when a reference or consent record is added
        changed = max([row["created_at"], *(r["created_at"] for r in references + consent_rows)])
        return {
            **row_dict(
                row, ("name", "description", "avatar_url"), id="character_id", metadata="metadata_json"
            ),
            "created_at": iso_utc(row["created_at"]),
            "updated_at": iso_utc(changed),
            "references": [{**r, "created_at": iso_utc(r["created_at"])} for r in references],
            "consents": [_consent_dict(c) for c in consent_rows],
        }

    def list(self, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        """Characters, newest first."""
        with self.engine.connect() as conn:
            ids = [
                r.character_id
                for r in conn.execute(
                    select(characters.c.character_id)
                    .order_by(characters.c.created_at.desc())
                    .limit(limit)
                    .offset(offset)
                )
            ]
            total = conn.execute(select(func.count()).select_from(characters)).scalar() or 0
        return {"characters": [self.get(i) for i in ids], "total": total}

    def delete(self, character_id: str) -> dict[str, Any]:
        """Remove a character and its reference list; its consent records stay as the audit trail of runs."""
        self.get(character_id)
        with self.engine.begin() as conn:
            conn.execute(
                character_references.delete().where(character_references.c.character_id == character_id)
            )
            conn.execute(characters.delete().where(characters.c.character_id == character_id))
        return {"id": character_id, "deleted": True}

    def add_reference(self, character_id: str, body: ReferenceAdd) -> dict[str, Any]:
        """Attach an uploaded image (checked to be a real image inside the input folder)."""
        self.get(character_id)
        path = resolve_inside(self.input_dir, *body.image.replace("\\", "/").split("/"))
        if not path.is_file():
            raise AInfError(ErrorCode.FILE_NOT_FOUND, detail={"image": body.image})
        require_media(path, "image", "image")
        with self.engine.begin() as conn:
            conn.execute(
                character_references.insert().values(
                    character_id=character_id,
                    image=body.image,
                    sha256=sha256_file(path),
                    created_at=time.time(),
                )
            )
        return self.get(character_id)

    def add_consent(self, character_id: str, body: ConsentCreate) -> dict[str, Any]:
        """Record who confirmed consent for a character, when, and the checklist answers (all must be yes)."""
        self.get(character_id)
        answers = body.checklist.model_dump()
        refused = sorted(k for k, v in answers.items() if not v)
        if refused:
            raise AInfError(
                ErrorCode.CONSENT_MISSING,
                "Every consent checklist item must be confirmed.",
                detail={"unconfirmed": refused},
            )
        consent_id = f"cns_{uuid.uuid4().hex[:16]}"
        with self.engine.begin() as conn:
            conn.execute(
                consents.insert().values(
                    consent_id=consent_id,
                    character_id=character_id,
                    confirmed_by=body.confirmed_by,
                    checklist_json=json.dumps(answers),
                    source="character",
                    created_at=time.time(),
                )
            )
        return self.get(character_id)

    def record_run_consent(self, job_id: str, character_id: str | None, confirmed_by: str) -> str:
        """ConsentLog seam: store the consent a run was given, linked to the character's latest record."""
        latest = None
        if character_id is not None:
            records = self.get(character_id)["consents"]
            latest = records[-1]["consent_id"] if records else None
        consent_id = f"cns_{uuid.uuid4().hex[:16]}"
        checklist = {"consent_given": True, "character_consent_id": latest}
        with self.engine.begin() as conn:
            conn.execute(
                consents.insert().values(
                    consent_id=consent_id,
                    character_id=character_id,
                    job_id=job_id,
                    confirmed_by=confirmed_by,
                    checklist_json=json.dumps(checklist),
                    source="run",
                    created_at=time.time(),
                )
            )
        return consent_id

    def consents_for_job(self, job_id: str) -> list[dict[str, Any]]:
        """The consent records stored with a job (the audit trail)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(consents).where(consents.c.job_id == job_id).order_by(consents.c.created_at)
            ).mappings()
            return [_consent_dict(r) for r in rows]


def _consent_dict(row: Any) -> dict[str, Any]:
    columns = ("consent_id", "character_id", "job_id", "confirmed_by", "source")
    return {**row_dict(row, columns, checklist="checklist_json"), "confirmed_at": iso_utc(row["created_at"])}
