"""Runware request values checked before anything is sent: whole numbers and ranges, image sides, formats."""

from __future__ import annotations

import uuid
from typing import Any

from ...core.errors import AInfError, ErrorCode

IMAGE_FORMATS = ("PNG", "JPG", "WEBP")
SIZE_RANGE, SIZE_STEP = (256, 2048), 64


def invalid(field: str, message: str, **extra: Any) -> AInfError:
    return AInfError(ErrorCode.VALIDATION_ERROR, message, detail={"field": field, **extra})


def is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def int_in(request: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = request.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise invalid(name, f"`{name}` must be a whole number.") from None
    if not low <= number <= high or number != int(number):
        raise invalid(name, f"`{name}` must be a whole number from {low} to {high}.", range=[low, high])
    return int(number)


def float_in(request: dict[str, Any], name: str, low: float, high: float) -> float:
    try:
        number = float(request[name])
    except (TypeError, ValueError):
        raise invalid(name, f"`{name}` must be a number.") from None
    if not low <= number <= high:
        raise invalid(name, f"`{name}` must be from {low:g} to {high:g}.", range=[low, high])
    return number


def image_side(request: dict[str, Any], name: str) -> int:
    low, high = SIZE_RANGE
    value = int_in(request, name, 1024, 0, 1 << 20)
    if not low <= value <= high or value % SIZE_STEP:
        raise invalid(
            name, f"`{name}` must be a multiple of {SIZE_STEP} from {low} to {high}.", range=[low, high]
        )
    return value


def image_format(request: dict[str, Any]) -> str:
    value = str(request.get("output_format") or "PNG").upper().replace("JPEG", "JPG")
    if value not in IMAGE_FORMATS:
        raise invalid("output_format", "The output format is PNG, JPG or WEBP.", allowed=list(IMAGE_FORMATS))
    return value
