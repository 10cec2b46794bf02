"""Model file rules: safe names and extensions, pickle flags, and `.safetensors` / GGUF header checks."""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path

from ..core.errors import AInfError, ErrorCode
from ..core.paths import sanitize_filename

SAFE_EXTENSIONS = frozenset({".safetensors", ".sft", ".gguf", ".onnx"})
PICKLE_EXTENSIONS = frozenset({".ckpt", ".pt", ".pt2", ".pth", ".bin", ".pkl", ".pickle"})
EXECUTABLE_EXTENSIONS = frozenset(
    {
        ".exe", ".com", ".scr", ".msi", ".bat", ".cmd", ".ps1", ".psm1", ".vbs", ".js", ".jar", ".sh",
        ".bash", ".zsh", ".py", ".pyc", ".pyw", ".pyz", ".dll", ".so", ".dylib", ".app", ".deb", ".rpm",
        ".apk", ".lnk", ".desktop", ".run", ".bin.exe",
    }
)  # fmt: skip
MAX_SAFETENSORS_HEADER = 100_000_000
# Bits per element of every dtype the safetensors format defines.
_DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16, "U16": 16,
    "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "I64": 64, "U64": 64, "F64": 64,
    "C64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}  # fmt: skip
GGUF_MAGIC = b"GGUF"
_GGUF_MAX_COUNT = 10_000_000


def is_pickle_name(filename: str) -> bool:
    """True when the file is a pickle-era format that can run code when loaded."""
    return Path(filename).suffix.lower() in PICKLE_EXTENSIONS


def check_model_filename(filename: str, *, allow_pickle: bool) -> str:
    """Refuse traversal, odd characters, executables, unknown formats and unacknowledged pickles."""
    safe = sanitize_filename(filename)
    if safe != filename:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            "The model file name contains characters that are not allowed.",
            detail={"name": filename, "suggestion": safe},
            remediation=[f"Use a plain name such as {safe!r} (letters, digits, '.', '_', '-', ' ')."],
        )
    lower = filename.lower()
    suffixes = [s.lower() for s in Path(filename).suffixes]
    if any(s in EXECUTABLE_EXTENSIONS for s in suffixes) or lower.endswith(tuple(EXECUTABLE_EXTENSIONS)):
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            "Executables and scripts are never downloaded as models.",
            detail={"name": filename},
            remediation=["Model files end in .safetensors, .sft, .gguf or .onnx."],
        )
    suffix = Path(filename).suffix.lower()
    if suffix in PICKLE_EXTENSIONS:
        if not allow_pickle:
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                f"{suffix} files are pickles: loading one can run code on this machine.",
                detail={"name": filename, "format": "pickle"},
                remediation=[
                    "Prefer a .safetensors version of this model.",
                    "If you trust the publisher, acknowledge it (acknowledge_pickle: true).",
                ],
            )
        return filename
    if suffix not in SAFE_EXTENSIONS:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            f"{suffix or 'A name without an extension'} is not a model format we install.",
            detail={"name": filename, "allowed": sorted(SAFE_EXTENSIONS | PICKLE_EXTENSIONS)},
        )
    return filename


def _bad(path: Path, reason: str) -> AInfError:
    return AInfError(
        ErrorCode.INVALID_MEDIA,
        f"{path.name} is not a valid {path.suffix or 'model'} file: {reason}.",
        detail={"name": path.name, "reason": reason},
        remediation=["The source served something else (an error page or a damaged file); try another URL."],
    )


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def validate_safetensors(path: Path) -> None:
    """Check a .safetensors header in O(header): bounded JSON object, contiguous offsets ending at EOF."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise _bad(path, "shorter than its 8-byte header length")
        (length,) = struct.unpack("<Q", head)
        if length > MAX_SAFETENSORS_HEADER or length > size - 8:
            raise _bad(path, "header length is larger than allowed or than the file")
        raw = fh.read(length)
    try:
        text = raw.decode("utf-8")
        if not text.startswith("{"):
            raise ValueError("header does not start with '{'")
        header = json.loads(text, object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad(path, f"header is not a JSON object ({exc})") from None
    if not isinstance(header, dict):
        raise _bad(path, "header is not a JSON object")
    spans = []
    for name, info in header.items():
        if name == "__metadata__":
            if not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values()):
                raise _bad(path, "__metadata__ must map strings to strings")
            continue
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise _bad(path, f"tensor {name!r} lacks dtype, shape or data_offsets")
        bits = _DTYPE_BITS.get(info["dtype"])
        shape, offsets = info["shape"], info["data_offsets"]
        if bits is None:
            raise _bad(path, f"tensor {name!r} has an unknown dtype")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise _bad(path, f"tensor {name!r} has a bad shape")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and o >= 0 for o in offsets)
            or offsets[0] > offsets[1]
        ):
            raise _bad(path, f"tensor {name!r} has bad data_offsets")
        if offsets[1] - offsets[0] != math.ceil(math.prod(shape) * bits / 8):
            raise _bad(path, f"tensor {name!r} size does not match its shape and dtype")
        spans.append((offsets[0], offsets[1]))
    spans.sort()
    position = 0
    for begin, end in spans:
        if begin != position:
            raise _bad(path, "tensor data has gaps or overlaps")
        position = end
    if position != size - 8 - length:
        raise _bad(path, "tensor data does not end at the end of the file")


def validate_gguf(path: Path) -> None:
    """Check the GGUF magic, version and that its counts are plausible."""
    with open(path, "rb") as fh:
        head = fh.read(24)
    if len(head) < 24 or head[:4] != GGUF_MAGIC:
        raise _bad(path, "missing the GGUF magic")
    version, tensors, kvs = struct.unpack("<IQQ", head[4:24])
    if version not in (1, 2, 3) or tensors > _GGUF_MAX_COUNT or kvs > _GGUF_MAX_COUNT:
        raise _bad(path, "unsupported GGUF version or implausible counts")


def validate_model_file(path: Path, suffix: str | None = None) -> None:
    """Validate the header the file's extension (or `suffix`) promises (safetensors, GGUF); others pass."""
    suffix = (suffix or path.suffix).lower()
    if suffix in (".safetensors", ".sft"):
        validate_safetensors(path)
    elif suffix == ".gguf":
        validate_gguf(path)


def fsync_dir(folder: Path) -> None:
    """Flush a directory entry (after a rename) where the platform allows it."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
