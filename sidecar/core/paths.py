"""Where data lives and the one rule for turning user-given names into safe paths."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import AInfError, ErrorCode

PACK_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS_DIR = PACK_ROOT / "workflows"
EXAMPLES_DIR = PACK_ROOT / "assets" / "examples"
DATA_DIR_NAME = "__ainfluencer"

_WINDOWS_DEVICES = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}
_SAFE_CHARS = re.compile(r"[^A-Za-z0-9._ -]+")


def data_dir(user_dir: str | os.PathLike[str]) -> Path:
    """`<comfy user dir>/__ainfluencer`, created on first use (never served by ComfyUI's /userdata)."""
    path = Path(user_dir) / DATA_DIR_NAME
    path.mkdir(parents=True, exist_ok=True)
    return path


def sanitize_filename(name: str) -> str:
    """Reduce a user-given file name to a safe single path component, or raise VALIDATION_ERROR."""
    if not name or "\x00" in name:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR, "The file name is empty or contains NUL.", detail={"name": name}
        )
    if "/" in name or "\\" in name or name in (".", "..") or ".." in name.split("."):
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            "The file name must not contain path separators or '..'.",
            detail={"name": name},
            remediation=["Send a plain file name such as 'clip.mp4'."],
        )
    cleaned = _SAFE_CHARS.sub("_", name).strip(" .")
    stem = cleaned.split(".")[0].upper()
    if not cleaned or stem in _WINDOWS_DEVICES:
        raise AInfError(ErrorCode.VALIDATION_ERROR, "The file name is not allowed.", detail={"name": name})
    return cleaned[:200]


NAME_MAX = 255  # bytes in one file name on Linux, macOS and Windows file systems
PATH_MAX = 4096  # bytes in a whole path on Linux


def _encoded_length(name: str) -> int:
    """Bytes `name` takes on disk; a name no file system encoding can write counts as too long."""
    try:
        return len(os.fsencode(name))
    except UnicodeEncodeError:
        return PATH_MAX + 1


def resolve_inside(root: str | os.PathLike[str], *parts: str) -> Path:
    """Join `parts` under `root` and refuse anything that escapes it or that no file system could hold."""
    for part in parts:
        if "\x00" in part or _encoded_length(part) > NAME_MAX:
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                f"A file name is longer than {NAME_MAX} bytes or holds a character no file name can hold.",
                detail={"name": part[:80] + ("…" if len(part) > 80 else "")},
                remediation=["Use the name the upload answered with."],
            )
    base = Path(root).resolve()
    if _encoded_length(str(base.joinpath(*parts))) > PATH_MAX:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            f"The path is longer than {PATH_MAX} bytes.",
            detail={"path": "/".join(parts)[:80] + "…"},
        )
    target = base.joinpath(*parts).resolve()
    if target != base and base not in target.parents:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            "The path leaves its allowed folder.",
            detail={"path": "/".join(parts)},
        )
    return target
