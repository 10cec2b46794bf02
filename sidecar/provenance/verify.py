"""Read content credentials back: valid, tampered or none, with the signer, actions and ingredients."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Literal

import c2pa

from .image_marks import WatermarkFinding, read_mark
from .manifest import mime_type

Status = Literal["valid", "tampered", "none"]
# codes a made-here or otherwise unlisted signer produces; they say who signed, not that bytes changed
_TRUST_CODES = {"signingCredential.untrusted"}


@dataclass(frozen=True)
class ActionSummary:
    """One action of the manifest, as a reader sees it."""

    action: str
    source_type: str | None
    step: str | None
    engine: dict[str, str]


@dataclass(frozen=True)
class IngredientSummary:
    """One ingredient: its title, format, relationship and (when this pack made it) sha256."""

    title: str
    media_type: str
    relationship: str
    sha256: str | None


@dataclass(frozen=True)
class VerifyReport:
    """The verdict on one file."""

    status: Status
    signer: str | None = None
    trusted: bool = False
    title: str | None = None
    generator: str | None = None
    actions: tuple[ActionSummary, ...] = ()
    ingredients: tuple[IngredientSummary, ...] = ()
    problems: tuple[str, ...] = field(default=())
    watermark: WatermarkFinding | None = None  # images only

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (the route's and `--json`'s answer)."""
        return {
            "status": self.status,
            "signer": self.signer,
            "trusted": self.trusted,
            "title": self.title,
            "generator": self.generator,
            "actions": [a.__dict__ for a in self.actions],
            "ingredients": [i.__dict__ for i in self.ingredients],
            "problems": list(self.problems),
            "watermark": self.watermark.as_dict() if self.watermark else None,
        }

    def summary(self) -> str:
        """A few readable lines: verdict, signer, each action and ingredient, then an image's watermark."""
        mark = [self.watermark.summary()] if self.watermark else []
        if self.status == "none":
            return "\n".join(["none: the file carries no content credentials", *mark])
        trust = "trusted signer" if self.trusted else "untrusted signer (not on the C2PA trust list)"
        lines = [f"{self.status}: signed by {self.signer} ({trust})", f"made with: {self.generator}"]
        for a in self.actions:
            engine = ", ".join(f"{k}={v}" for k, v in a.engine.items())
            source = f" [{a.source_type.rsplit('/', 1)[-1]}]" if a.source_type else ""
            lines.append(f"action: {a.action}{source} {a.step or ''} {engine}".rstrip())
        for i in self.ingredients:
            lines.append(f"ingredient: {i.title} ({i.media_type}, {i.relationship}) sha256={i.sha256 or '?'}")
        lines.extend(f"problem: {p}" for p in self.problems)
        lines.extend(mark)
        return "\n".join(lines)


def _actions(manifest: dict[str, Any]) -> tuple[ActionSummary, ...]:
    found = []
    for assertion in manifest.get("assertions") or []:
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            for action in (assertion.get("data") or {}).get("actions") or []:
                params = action.get("parameters") or {}
                found.append(
                    ActionSummary(
                        action=str(action.get("action")),
                        source_type=action.get("digitalSourceType"),
                        step=params.get("step"),
                        engine=dict(params.get("engine") or {}),
                    )
                )
    return tuple(found)


def _ingredients(manifest: dict[str, Any]) -> tuple[IngredientSummary, ...]:
    found = []
    for ingredient in manifest.get("ingredients") or []:
        instance = str(ingredient.get("instance_id") or "")
        found.append(
            IngredientSummary(
                title=str(ingredient.get("title")),
                media_type=str(ingredient.get("format")),
                relationship=str(ingredient.get("relationship")),
                sha256=instance.removeprefix("sha256:") if instance.startswith("sha256:") else None,
            )
        )
    return tuple(found)


def _failures(reader: c2pa.Reader) -> list[dict[str, Any]]:
    results = reader.get_validation_results() or {}
    active = results.get("activeManifest") or {}
    return list(active.get("failure") or [])


def verify_stream(stream: IO[bytes], media_type: str) -> VerifyReport:
    """Verify the manifest embedded in a readable binary stream of the given media type."""
    try:
        reader = c2pa.Reader(media_type, stream)
    except c2pa.C2paError as exc:
        if "ManifestNotFound" in type(exc).__name__ or "no JUMBF" in str(exc):
            return VerifyReport(status="none")
        return VerifyReport(status="tampered", problems=(str(exc)[:300],))
    with reader:
        manifest = reader.get_active_manifest() or {}
        failures = _failures(reader)
    codes = {str(f.get("code")) for f in failures}
    problems = tuple(
        f"{f.get('code')}: {f.get('explanation', '')}" for f in failures if f.get("code") not in _TRUST_CODES
    )
    signature = manifest.get("signature_info") or {}
    generator = (manifest.get("claim_generator_info") or [{}])[0]
    return VerifyReport(
        status="tampered" if problems else "valid",
        signer=signature.get("common_name") or signature.get("issuer"),
        trusted=not codes & _TRUST_CODES,
        title=manifest.get("title"),
        generator=" ".join(str(generator.get(k)) for k in ("name", "version") if generator.get(k)) or None,
        actions=_actions(manifest),
        ingredients=_ingredients(manifest),
        problems=problems,
    )


def verify_file(path: str | os.PathLike[str]) -> VerifyReport:
    """Verify a file on disk (its manifest read as a stream); for an image, look for the watermark too."""
    with open(Path(path), "rb") as stream:
        report = verify_stream(stream, mime_type(path))
    return replace(report, watermark=read_mark(path))
