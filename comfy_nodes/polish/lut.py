"""3D LUTs for colour grading: ``.cube`` files, baking, composition and tetrahedral lookup (pure torch).

``.cube`` (Adobe/IRIDAS Cube LUT Specification 1.0): keywords ``TITLE``, ``LUT_3D_SIZE N``,
``DOMAIN_MIN r g b``, ``DOMAIN_MAX r g b`` (``LUT_3D_INPUT_RANGE lo hi`` is accepted as a scalar domain),
``#`` comments, then N^3 lines of output ``R G B`` with red changing fastest, then green, then blue. The
table is held as ``[N(b), N(g), N(r), 3]``. 1D LUTs are rejected explicitly.

Lookup is tetrahedral (the industry default and ffmpeg ``lut3d``'s default): the lattice cell is split into
six tetrahedra along the ordering of the fractional coordinates, and four corners are blended. Per-pixel
colour operations compose into one LUT by evaluating them, in order, on the LUT's own lattice
(:func:`bake`), so a chain of grades costs one lookup per pixel.
"""

from __future__ import annotations

import math
import re
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .colour import check_images, check_unit_interval, chunk_plan, pack_rgb24, unpack_rgb24

__all__ = [
    "DEFAULT_BAKE_SIZE",
    "MAX_LUT_SIZE",
    "MIN_LUT_SIZE",
    "QUANTISE_MODES",
    "Lut3D",
    "LutError",
    "apply_lut",
    "apply_lut_packed",
    "bake",
    "identity_lattice",
    "load_cube",
    "lut_table_u8",
    "parse_cube",
    "write_cube",
]

MIN_LUT_SIZE = 2
MAX_LUT_SIZE = 256
# Lattice size for baked looks; 33^3 is the common grading size and keeps lookups cache-friendly.
DEFAULT_BAKE_SIZE = 33

# How a float result in 0..1 becomes 8 bits: "round" = round(v * 255) (half away from zero, as torch's
# round on non-negative values), "truncate" = floor(v * 255 + 1e-4), ffmpeg lut3d's truncation.
QUANTISE_MODES = ("round", "truncate")

ColourFn = Callable[[torch.Tensor], torch.Tensor]


class LutError(ValueError):
    """A LUT that cannot be used; ``code`` is a stable machine-readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, eq=False)
class Lut3D:
    """A 3D LUT: ``table[b, g, r] = (R, G, B)`` over an input domain per channel."""

    table: torch.Tensor
    domain_min: tuple[float, float, float] = (0.0, 0.0, 0.0)
    domain_max: tuple[float, float, float] = (1.0, 1.0, 1.0)
    title: str = ""

    def __post_init__(self) -> None:
        t = self.table
        if t.ndim != 4 or t.shape[-1] != 3 or not (t.shape[0] == t.shape[1] == t.shape[2]):
            raise LutError("LUT_BAD_SHAPE", f"a 3D LUT table must be [N, N, N, 3], got {tuple(t.shape)}")
        if not MIN_LUT_SIZE <= t.shape[0] <= MAX_LUT_SIZE:
            raise LutError(
                "LUT_BAD_SIZE", f"LUT size must be {MIN_LUT_SIZE}..{MAX_LUT_SIZE}, got {t.shape[0]}"
            )
        if any(hi <= lo for lo, hi in zip(self.domain_min, self.domain_max, strict=True)):
            raise LutError("LUT_BAD_DOMAIN", "DOMAIN_MAX must be greater than DOMAIN_MIN on every channel")

    @property
    def size(self) -> int:
        """Lattice points per axis."""
        return int(self.table.shape[0])

    def __call__(self, rgb: torch.Tensor) -> torch.Tensor:
        """Look up RGB values ``[..., 3]`` (tetrahedral); a new tensor on ``rgb``'s device."""
        return _lookup_rgb(self, rgb)


def _parse_floats(parts: Sequence[str], count: int, line_no: int, source: str, what: str) -> list[float]:
    if len(parts) != count:
        raise LutError("LUT_PARSE_ERROR", f"{source}: line {line_no}: {what} needs {count} numbers")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise LutError(
            "LUT_PARSE_ERROR", f"{source}: line {line_no}: non-numeric value in {what}: {' '.join(parts)!r}"
        ) from None
    if not all(math.isfinite(v) for v in values):
        raise LutError("LUT_PARSE_ERROR", f"{source}: line {line_no}: non-finite value in {what}")
    return values


def parse_cube(text: str, source: str = "<cube>") -> Lut3D:
    """Parse ``.cube`` text into a :class:`Lut3D`; raises :class:`LutError` with the line at fault."""
    title = ""
    size: int | None = None
    domain_min = [0.0, 0.0, 0.0]
    domain_max = [1.0, 1.0, 1.0]
    rows: list[list[float]] = []
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        head = line.split(None, 1)[0]
        if head[0].isalpha() or head[0] == "_":
            if rows:
                raise LutError(
                    "LUT_PARSE_ERROR", f"{source}: line {line_no}: keyword {head} after table data"
                )
            keyword = head.upper()
            rest = line[len(head) :].strip()
            if keyword == "TITLE":
                match = re.fullmatch(r'"(.*)"', rest)
                title = match.group(1) if match else rest
            elif keyword == "LUT_3D_SIZE":
                try:
                    size = int(rest)
                except ValueError:
                    raise LutError(
                        "LUT_PARSE_ERROR", f"{source}: line {line_no}: LUT_3D_SIZE must be an integer"
                    ) from None
                if not MIN_LUT_SIZE <= size <= MAX_LUT_SIZE:
                    raise LutError(
                        "LUT_BAD_SIZE",
                        f"{source}: LUT_3D_SIZE must be {MIN_LUT_SIZE}..{MAX_LUT_SIZE}, got {size}",
                    )
            elif keyword == "LUT_1D_SIZE":
                raise LutError("LUT_UNSUPPORTED", f"{source}: 1D LUTs are not supported; use a 3D .cube LUT")
            elif keyword in ("DOMAIN_MIN", "DOMAIN_MAX"):
                values = _parse_floats(rest.split(), 3, line_no, source, keyword)
                if keyword == "DOMAIN_MIN":
                    domain_min = values
                else:
                    domain_max = values
            elif keyword == "LUT_3D_INPUT_RANGE":
                lo, hi = _parse_floats(rest.split(), 2, line_no, source, keyword)
                domain_min, domain_max = [lo] * 3, [hi] * 3
            else:
                raise LutError("LUT_PARSE_ERROR", f"{source}: line {line_no}: unknown keyword {head!r}")
            continue
        rows.append(_parse_floats(line.split(), 3, line_no, source, "a table entry"))
    if size is None:
        raise LutError("LUT_PARSE_ERROR", f"{source}: no LUT_3D_SIZE line; not a 3D .cube LUT")
    expected = size**3
    if len(rows) != expected:
        raise LutError(
            "LUT_ENTRY_COUNT",
            f"{source}: LUT_3D_SIZE {size} needs {expected} entries, found {len(rows)}",
        )
    table = torch.tensor(rows, dtype=torch.float32).view(size, size, size, 3)
    return Lut3D(table, tuple(domain_min), tuple(domain_max), title)  # type: ignore[arg-type]


def load_cube(path: str | Path) -> Lut3D:
    """Read and parse a ``.cube`` file; a missing or unreadable file raises :class:`LutError`."""
    path = Path(path)
    if not path.is_file():
        raise LutError("LUT_NOT_FOUND", f"LUT file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LutError("LUT_UNREADABLE", f"cannot read LUT file {path.name}: {exc}") from None
    return parse_cube(text, path.name)


def write_cube(lut: Lut3D, path: str | Path) -> None:
    """Write a LUT as a ``.cube`` file (red fastest) readable by ffmpeg, Resolve and this module."""
    lines = []
    if lut.title:
        lines.append(f'TITLE "{lut.title}"')
    lines.append(f"LUT_3D_SIZE {lut.size}")
    if lut.domain_min != (0.0, 0.0, 0.0) or lut.domain_max != (1.0, 1.0, 1.0):
        lines.append("DOMAIN_MIN " + " ".join(f"{v:.9g}" for v in lut.domain_min))
        lines.append("DOMAIN_MAX " + " ".join(f"{v:.9g}" for v in lut.domain_max))
    rows = lut.table.reshape(-1, 3).double().cpu().tolist()
    lines.extend(f"{r:.9f} {g:.9f} {b:.9f}" for r, g, b in rows)
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def identity_lattice(
    size: int,
    domain_min: Sequence[float] = (0.0, 0.0, 0.0),
    domain_max: Sequence[float] = (1.0, 1.0, 1.0),
    *,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The lattice's input colours ``[N(b), N(g), N(r), 3]`` (RGB), i.e. the identity LUT table."""
    steps = torch.linspace(0.0, 1.0, size, dtype=torch.float64, device=device)
    b, g, r = torch.meshgrid(steps, steps, steps, indexing="ij")
    unit = torch.stack([r, g, b], dim=-1)
    lo = torch.tensor(domain_min, dtype=torch.float64, device=device)
    hi = torch.tensor(domain_max, dtype=torch.float64, device=device)
    return (lo + unit * (hi - lo)).to(torch.float32)


def bake(
    ops: Sequence[ColourFn],
    size: int = DEFAULT_BAKE_SIZE,
    *,
    title: str = "",
    device: torch.device | str | None = None,
) -> Lut3D:
    """Compose per-pixel colour functions (applied in order; LUTs are functions too) into one 3D LUT."""
    if not MIN_LUT_SIZE <= size <= MAX_LUT_SIZE:
        raise LutError("LUT_BAD_SIZE", f"LUT size must be {MIN_LUT_SIZE}..{MAX_LUT_SIZE}, got {size}")
    rgb = identity_lattice(size, device=device)
    for op in ops:
        rgb = op(rgb)
    return Lut3D(rgb.to(torch.float32).contiguous(), title=title)


# Pixels looked up per block on CPU: temporaries stay small (a few MB) while each op still has enough work
# to amortise intra-op thread start-up, which dominates with small blocks on a busy machine.
LOOKUP_BLOCK = 1 << 20


def _lookup_block(table_rows: torch.Tensor, size: int, coords: torch.Tensor) -> torch.Tensor:
    """Tetrahedral lookup of lattice coordinates ``[P, 3]`` (RGB, 0..N-1; modified) -> ``[P, 4]`` rows."""
    top = float(size - 1)
    n1, n2 = size, size * size
    corner = 1 + n1 + n2
    coords.clamp_(0.0, top)
    cell = coords.floor().clamp_(max=top - 1.0)
    frac = coords.sub_(cell)
    strides = torch.tensor([1.0, float(n1), float(n2)], dtype=cell.dtype, device=cell.device)
    base = (cell @ strides).to(torch.int32)
    dr, dg, db = frac.unbind(1)
    # The tetrahedron's vertices are 000, (max axis), (all but the min axis), 111. Ties: the max axis
    # prefers red, then green; the min axis prefers blue, then green, so they differ even when all are equal.
    r_ge_g, r_ge_b, g_ge_b = dr >= dg, dr >= db, dg >= db
    max_r = r_ge_g & r_ge_b
    max_g = g_ge_b & ~max_r
    min_b = g_ge_b & r_ge_b
    min_g = r_ge_g & ~min_b
    # Offsets: red 1, green N, blue N^2 (from the booleans, without scalar `where`s).
    off_max = torch.full_like(base, n2).sub_(max_r.to(torch.int32), alpha=n2 - 1)
    off_max.sub_(max_g.to(torch.int32), alpha=n2 - n1)
    off_two = torch.full_like(base, corner - 1).sub_(min_b.to(torch.int32), alpha=n2 - 1)
    off_two.sub_(min_g.to(torch.int32), alpha=n1 - 1)
    ordered = frac.sort(dim=1, descending=True).values  # [P, 3]: max, mid, min
    weights = torch.empty((frac.shape[0], 4), dtype=frac.dtype, device=frac.device)
    weights[:, 0] = 1.0 - ordered[:, 0]
    torch.sub(ordered[:, :2], ordered[:, 1:], out=weights[:, 1:3])
    weights[:, 3] = ordered[:, 2]
    out = table_rows.index_select(0, base).mul_(weights[:, 0:1])
    out.addcmul_(table_rows.index_select(0, off_max.add_(base)), weights[:, 1:2])
    out.addcmul_(table_rows.index_select(0, off_two.add_(base)), weights[:, 2:3])
    out.addcmul_(table_rows.index_select(0, base.add_(corner)), weights[:, 3:4])
    return out


def _lookup_rows(
    lut: Lut3D, table_rows: torch.Tensor, rgb: torch.Tensor, out: torch.Tensor, mix: float
) -> None:
    """Look up ``rgb`` ``[P, 3]`` (domain values) block by block into ``out`` ``[P, 3]``, mixed by ``mix``."""
    pixels = rgb.shape[0]
    top = lut.size - 1
    lo = torch.tensor(lut.domain_min, dtype=table_rows.dtype, device=table_rows.device)
    hi = torch.tensor(lut.domain_max, dtype=table_rows.dtype, device=table_rows.device)
    scale = top / (hi - lo)
    block = LOOKUP_BLOCK if rgb.device.type == "cpu" else max(pixels, 1)
    for start in range(0, pixels, block):
        source = rgb[start : start + block].to(table_rows.dtype)
        coords = (source - lo).mul_(scale)
        result = _lookup_block(table_rows, lut.size, coords)[:, :3]
        if mix != 1.0:
            result = source.clamp(0.0, 1.0).lerp_(result, mix)
        out[start : start + block] = result.clamp_(0.0, 1.0)


def _table_rows(lut: Lut3D, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    rows = lut.table.to(device=device, dtype=dtype).reshape(-1, 3)
    # Pad rows to four values: aligned 16-byte gathers are faster than 12-byte ones.
    return torch.nn.functional.pad(rows, (0, 1)).contiguous()


def _lookup_rgb(lut: Lut3D, rgb: torch.Tensor) -> torch.Tensor:
    work = torch.promote_types(rgb.dtype, torch.float32)
    flat = rgb.reshape(-1, 3)
    out = torch.empty(flat.shape, dtype=rgb.dtype, device=rgb.device)
    _lookup_rows(lut, _table_rows(lut, rgb.device, work), flat, out, 1.0)
    return out.view(rgb.shape)


@torch.no_grad()
def apply_lut(
    images: torch.Tensor,
    lut: Lut3D,
    intensity: float = 1.0,
    *,
    chunk_size: int | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Apply a 3D LUT (tetrahedral) to an IMAGE batch ``[B,H,W,C]``, mixed with the input by intensity.

    Float input gives float output (the exact tetrahedral path). uint8 frames (video) take the fast path:
    one gather per pixel from :func:`lut_table_u8`, equal to the float path on ``x / 255`` rounded to 8 bits.
    """
    intensity = check_unit_interval("intensity", intensity)
    if isinstance(images, torch.Tensor) and images.dtype == torch.uint8:
        return _apply_lut_u8(images, lut, intensity, chunk_size=chunk_size, on_chunk=on_chunk)
    check_images(images)
    if intensity == 0.0 or images.shape[0] == 0:
        return images
    frames, height, width = images.shape[0], images.shape[1], images.shape[2]
    step, total = chunk_plan(images, chunk_size)
    work = torch.promote_types(images.dtype, torch.float32)
    rows = _table_rows(lut, images.device, work)
    out = torch.empty(images.shape, dtype=images.dtype, device=images.device)
    channels = images.shape[-1]
    for index, start in enumerate(range(0, frames, step)):
        chunk = images[start : start + step]
        pixels = chunk.shape[0] * height * width
        target = out[start : start + step].view(pixels, channels)[:, :3]
        _lookup_rows(lut, rows, chunk.reshape(pixels, channels)[:, :3], target, intensity)
        if images.shape[-1] > 3:
            out[start : start + step, ..., 3:] = chunk[..., 3:]
        if on_chunk is not None:
            on_chunk(index + 1, total)
    return out


# 8-bit tables: 2^24 packed int32 entries (64 MiB) per (LUT, intensity, quantisation, device); a few kept.
_U8_TABLES: weakref.WeakKeyDictionary[Lut3D, dict[tuple, torch.Tensor]] = weakref.WeakKeyDictionary()
_U8_TABLES_PER_LUT = 2
# Blue levels evaluated per block while building a table (16 x 65536 = 1 Mi colours).
_U8_BUILD_BLUES = 16


def _quantise_u8(values: torch.Tensor, quantise: str) -> torch.Tensor:
    """Float results in 0..1 -> integer codes 0..255 (int32) by ``quantise`` (see QUANTISE_MODES)."""
    if quantise == "round":
        return values.mul(255.0).round_().to(torch.int32)
    return values.double().mul_(255.0).add_(1e-4).floor_().clamp_(0.0, 255.0).to(torch.int32)


def lut_table_u8(
    lut: Lut3D, intensity: float = 1.0, *, quantise: str = "round", device: torch.device | str = "cpu"
) -> torch.Tensor:
    """The LUT as an exact 8-bit -> 8-bit table: int32 ``[2^24]``, index and value ``r | g << 8 | b << 16``.

    Entry ``i`` is the float path (tetrahedral lookup of ``x / 255`` in float32, mixed by ``intensity``,
    clamped to 0..1) quantised by ``quantise``; built once per (LUT, intensity, quantisation, device).
    """
    intensity = check_unit_interval("intensity", intensity)
    if quantise not in QUANTISE_MODES:
        raise ValueError(f"quantise must be one of {QUANTISE_MODES}, got {quantise!r}")
    device = torch.device(device)
    key = (intensity, quantise, str(device))
    per_lut = _U8_TABLES.setdefault(lut, {})
    table = per_lut.get(key)
    if table is not None:
        return table
    build = device if device.type != "meta" else torch.device("cpu")
    rows = _table_rows(lut, build, torch.float32)
    # Exactly the float path's input values: uint8 -> float32, / 255.
    levels = torch.arange(256, dtype=torch.uint8, device=build).to(torch.float32).div_(255.0)
    blues = _U8_BUILD_BLUES
    g, r = torch.meshgrid(levels, levels, indexing="ij")
    plane = torch.stack([r.reshape(-1), g.reshape(-1)], dim=-1)  # [65536, 2], red fastest
    table = torch.empty(1 << 24, dtype=torch.int32, device=build)
    for b0 in range(0, 256, blues):
        rgb = torch.cat(
            [plane.repeat(blues, 1), levels[b0 : b0 + blues].repeat_interleave(1 << 16).unsqueeze(1)], dim=1
        )
        result = torch.empty_like(rgb)
        _lookup_rows(lut, rows, rgb, result, intensity)
        codes = _quantise_u8(result, quantise)
        packed = codes[:, 0] | (codes[:, 1] << 8) | (codes[:, 2] << 16)
        table[b0 << 16 : (b0 + blues) << 16] = packed
    table = table.to(device)
    if len(per_lut) >= _U8_TABLES_PER_LUT:
        per_lut.pop(next(iter(per_lut)))
    per_lut[key] = table
    return table


def apply_lut_packed(packed: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Look packed 8-bit colours (int32 ``r | g << 8 | b << 16``, any shape) up in a :func:`lut_table_u8`."""
    return table.index_select(0, packed.reshape(-1)).view(packed.shape)


def _apply_lut_u8(
    images: torch.Tensor,
    lut: Lut3D,
    intensity: float,
    *,
    chunk_size: int | None,
    on_chunk: Callable[[int, int], None] | None,
) -> torch.Tensor:
    """uint8 ``[B,H,W,3|4]`` frames through the LUT's 8-bit table (round to nearest); alpha passes through."""
    if images.ndim != 4 or images.shape[-1] not in (3, 4):
        raise ValueError(f"images must be [B,H,W,3] (or RGBA [B,H,W,4]), got shape {tuple(images.shape)}")
    if intensity == 0.0 or images.shape[0] == 0:
        return images
    frames = images.shape[0]
    step, total = chunk_plan(images, chunk_size)
    table = lut_table_u8(lut, intensity, device=images.device)
    out = torch.empty(images.shape, dtype=torch.uint8, device=images.device)
    for index, start in enumerate(range(0, frames, step)):
        chunk = images[start : start + step]
        unpack_rgb24(apply_lut_packed(pack_rgb24(chunk), table), out[start : start + step, ..., :3])
        if images.shape[-1] > 3:
            out[start : start + step, ..., 3:] = chunk[..., 3:]
        if on_chunk is not None:
            on_chunk(index + 1, total)
    return out
