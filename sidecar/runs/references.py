"""The 1–3 identity references of a run: the spec's `identity_reference` list, or a character's photos.

A preset takes the first photo as `identity_reference` and more as `identity_reference_2` and
`identity_reference_3` where its variant has them (spec §5.2, preset 3: "1-3 reference photos").
"""

from __future__ import annotations

from typing import Any

FIRST = "identity_reference"
MAX_REFERENCES = 3


def reference_inputs(first: str, accepted: set[str]) -> list[str]:
    """The inputs 1–3 reference photos bind to, in order: `identity_reference`, `identity_reference_2`, …"""
    more = [f"{first}_{n}" for n in range(2, MAX_REFERENCES + 1)]
    return [first, *[name for name in more if name in accepted]]


def with_character_references(
    inputs: dict[str, Any], accepted: set[str], character: dict[str, Any]
) -> dict[str, Any]:
    """The run's inputs with the character's first reference photos where the run names none itself."""
    if FIRST not in accepted or any(name.startswith(FIRST) for name in inputs):
        return inputs
    photos = [ref["image"] for ref in character.get("references") or [] if ref.get("image")]
    return {**inputs, **dict(zip(reference_inputs(FIRST, accepted), photos, strict=False))}
