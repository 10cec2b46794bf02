"""Specification of the 3D LUT pass: .cube parsing, baking, tetrahedral lookup and ffmpeg parity."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from ainfluencer.comfy_nodes.polish.colour import pack_rgb24, unpack_rgb24
from ainfluencer.comfy_nodes.polish.grade import GRADE_STYLES, apply_grade, apply_grade_style, grade_lut
from ainfluencer.comfy_nodes.polish.lut import (
    Lut3D,
    LutError,
    apply_lut,
    apply_lut_packed,
    bake,
    identity_lattice,
    load_cube,
    lut_table_u8,
    parse_cube,
    write_cube,
)
from ainfluencer.comfy_nodes.polish.tonemap import tonemap_rgb

LUTS = Path(__file__).parent / "data" / "luts"


def _ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        pytest.fail("ffmpeg is required for the LUT parity tests: apt-get install ffmpeg")
    return exe


def _frames(frames: int = 3, height: int = 72, width: int = 96) -> torch.Tensor:
    """8-bit-valued RGB frames: smooth ramps across the cube plus random pixels."""
    gen = torch.Generator().manual_seed(0)
    y = torch.linspace(0, 1, height).view(-1, 1).expand(height, width)
    x = torch.linspace(0, 1, width).view(1, -1).expand(height, width)
    ramps = torch.stack([x, y, (x + y) / 2], dim=-1)
    noise = torch.rand((frames - 1, height, width, 3), generator=gen)
    images = torch.cat([ramps.unsqueeze(0), noise])
    return (images * 255).round() / 255


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a.double() - b.double()).square().mean().item()
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _ffmpeg_lut3d(images: torch.Tensor, cube: Path) -> torch.Tensor:
    frames, height, width, _ = images.shape
    raw = (images * 255).round().to(torch.uint8).contiguous().numpy().tobytes()
    result = subprocess.run(
        [
            _ffmpeg(),
            "-v",
            "error",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            f"{width}x{height}",
            "-i",
            "-",
            "-vf",
            f"lut3d=file={cube}:interp=tetrahedral",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        input=raw,
        capture_output=True,
        check=True,
    )
    out = torch.frombuffer(bytearray(result.stdout), dtype=torch.uint8)
    return out.view(frames, height, width, 3).float()


def _twist(rgb: torch.Tensor) -> torch.Tensor:
    """A strongly non-linear, channel-mixing test look."""
    r, g, b = rgb.unbind(-1)
    return torch.stack([(r * 0.7 + b * 0.3) ** 0.8, g**1.6 * 0.9 + r * 0.1, (b + g * r) / 2], dim=-1)


@pytest.mark.parametrize("size", [17, 33])
def test_tetrahedral_lookup_matches_ffmpeg_lut3d(tmp_path: Path, size: int) -> None:
    lut = bake([_twist, lambda x: apply_grade_style(x, GRADE_STYLES["cinematic"])], size)
    cube = tmp_path / "look.cube"
    write_cube(lut, cube)
    images = _frames()
    theirs = _ffmpeg_lut3d(images, cube)
    ours = apply_lut(images, load_cube(cube))
    # ffmpeg truncates float results to 8 bits; compare like with like.
    assert _psnr((ours * 255 + 1e-4).floor(), theirs) >= 50.0
    assert _psnr(ours * 255, theirs) >= 45.0  # and rounding only costs truncation's half step


def test_identity_lut_is_exact_and_lattice_points_hit_table_entries() -> None:
    images = torch.rand((2, 9, 11, 3), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(
        apply_lut(images, load_cube(LUTS / "identity_2.cube")), images, atol=1e-6, rtol=0
    )
    lut = bake([_twist], 9)
    lattice = identity_lattice(9).view(1, 81, 9, 3)
    torch.testing.assert_close(apply_lut(lattice, lut), lut.table.view(1, 81, 9, 3), atol=1e-6, rtol=0)


def test_tetrahedral_is_exact_for_affine_colour_maps() -> None:
    matrix = torch.tensor([[0.8, 0.1, 0.1], [0.05, 0.9, 0.05], [0.2, 0.0, 0.7]])
    lut = bake([lambda x: x @ matrix.t() + 0.02], 5)
    images = torch.rand((1, 32, 32, 3), generator=torch.Generator().manual_seed(2))
    expected = (images @ matrix.t() + 0.02).clamp(0, 1)
    torch.testing.assert_close(apply_lut(images, lut), expected, atol=1e-5, rtol=0)


def test_cube_metadata_and_domain_are_honoured() -> None:
    lut = load_cube(LUTS / "swap_rb_domain2.cube")
    assert (lut.title, lut.size, lut.domain_max) == ("Swap R/B", 2, (2.0, 2.0, 2.0))
    rgb = torch.tensor([[[[0.6, 0.2, 0.4]]]])
    # Input 0..2 domain: 0.6 sits at 0.3 of the lattice; the table swaps red and blue (outputs 0..1).
    torch.testing.assert_close(apply_lut(rgb, lut), torch.tensor([[[[0.2, 0.1, 0.3]]]]), atol=1e-6, rtol=0)


def test_write_then_parse_round_trips(tmp_path: Path) -> None:
    lut = bake([_twist], 7, title="twist")
    write_cube(lut, tmp_path / "t.cube")
    again = load_cube(tmp_path / "t.cube")
    assert again.title == "twist" and again.size == 7
    torch.testing.assert_close(again.table, lut.table, atol=1e-7, rtol=0)


@pytest.mark.parametrize(
    ("name", "code", "words"),
    [
        ("wrong_count.cube", "LUT_ENTRY_COUNT", "needs 8 entries, found 7"),
        ("non_numeric.cube", "LUT_PARSE_ERROR", "line 5"),
        ("lut_1d.cube", "LUT_UNSUPPORTED", "1D"),
        ("missing.cube", "LUT_NOT_FOUND", "not found"),
    ],
)
def test_bad_lut_files_raise_clear_errors(name: str, code: str, words: str) -> None:
    with pytest.raises(LutError) as info:
        load_cube(LUTS / name)
    assert info.value.code == code
    assert words in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("0 0 0\n", "LUT_PARSE_ERROR"),  # no LUT_3D_SIZE
        ("LUT_3D_SIZE 1\n0 0 0\n", "LUT_BAD_SIZE"),
        ("LUT_3D_SIZE 300\n", "LUT_BAD_SIZE"),
        ("LUT_3D_SIZE two\n", "LUT_PARSE_ERROR"),
        ("LUT_3D_SIZE 2\nDOMAIN_MIN 0 0\n", "LUT_PARSE_ERROR"),
        ("LUT_3D_SIZE 2\nDOMAIN_MIN 1 1 1\nDOMAIN_MAX 0 0 0\n" + "0 0 0\n" * 8, "LUT_BAD_DOMAIN"),
        ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 7 + "0 0\n", "LUT_PARSE_ERROR"),
        ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 7 + "0 0 nan\n", "LUT_PARSE_ERROR"),
        ("LUT_3D_SIZE 2\nFROBNICATE 3\n" + "0 0 0\n" * 8, "LUT_PARSE_ERROR"),
    ],
)
def test_bad_cube_text_is_refused(text: str, code: str) -> None:
    with pytest.raises(LutError) as info:
        parse_cube(text, "x.cube")
    assert info.value.code == code
    assert "x.cube" in str(info.value) or code in ("LUT_BAD_DOMAIN",)


def test_intensity_mixes_linearly_and_alpha_passes_through() -> None:
    rgba = torch.rand((2, 8, 8, 4), generator=torch.Generator().manual_seed(3))
    lut = bake([_twist], 9)
    full = apply_lut(rgba, lut, 1.0)
    half = apply_lut(rgba, lut, 0.5)
    torch.testing.assert_close(half[..., :3], (rgba[..., :3] + full[..., :3]) / 2, atol=1e-6, rtol=0)
    assert torch.equal(full[..., 3], rgba[..., 3])
    assert torch.equal(apply_lut(rgba, lut, 0.0), rgba)
    with pytest.raises(ValueError):
        apply_lut(rgba, lut, 1.5)


def test_chunking_dtype_and_device_follow_the_input() -> None:
    images = torch.rand((5, 13, 17, 3), generator=torch.Generator().manual_seed(4))
    lut = bake([_twist], 9)
    calls: list[tuple[int, int]] = []
    chunked = apply_lut(images, lut, chunk_size=2, on_chunk=lambda d, t: calls.append((d, t)))
    torch.testing.assert_close(chunked, apply_lut(images, lut), atol=0, rtol=0)
    assert calls == [(1, 3), (2, 3), (3, 3)]
    half = apply_lut(images.half(), lut)
    assert half.dtype == torch.float16 and half.device == images.device
    meta = apply_lut(torch.empty((2, 8, 8, 3), device="meta"), Lut3D(lut.table.to("meta")))
    assert meta.device.type == "meta" and meta.shape == (2, 8, 8, 3)


def test_grade_then_look_compose_into_one_lut_matching_sequential_application() -> None:
    images = _frames(2, 40, 40)
    look = bake([_twist], 33)
    sequential = apply_lut(apply_grade(images, "warm", 0.8), look)
    composed = apply_grade(images, "warm", 0.8, look=look)
    assert _psnr(composed * 255, sequential * 255) > 40.0
    # Tone map -> grade baked into one LUT matches running them one after another.
    lut = grade_lut("cinematic", 0.7, before=[lambda x: tonemap_rgb(x, "reinhard", 0.35, 1.2746)], size=65)
    one_pass = apply_lut(images, lut)
    two_pass = apply_grade(tonemap_rgb(images, "reinhard", 0.35, 1.2746), "cinematic", 0.7)
    assert _psnr(one_pass * 255, two_pass * 255) > 60.0


def test_baked_builtin_looks_match_the_direct_grade() -> None:
    images = _frames(2, 48, 48)
    for style in GRADE_STYLES:
        baked = apply_lut(images, grade_lut(style, 1.0))
        direct = apply_grade(images, style, 1.0)
        assert _psnr(baked * 255, direct * 255) > 55.0, style


# --- 8-bit fast path: one gather from an exact 256^3 table ---


def _all_colours() -> torch.Tensor:
    """Every 8-bit RGB colour once, as uint8 ``[256, 256, 256, 3]`` (red fastest)."""
    index = torch.arange(1 << 24, dtype=torch.int32)
    rgb = torch.stack([index & 255, (index >> 8) & 255, index >> 16], dim=-1)
    return rgb.to(torch.uint8).view(256, 256, 256, 3)


@pytest.mark.parametrize("intensity", [1.0, 0.6])
def test_uint8_table_equals_the_float_path_rounded_for_every_colour(intensity: float) -> None:
    lut = bake([_twist, lambda x: apply_grade_style(x, GRADE_STYLES["cinematic"])], 17)
    colours = _all_colours()
    fast = apply_lut(colours, lut, intensity)
    assert fast.dtype == torch.uint8 and fast.shape == colours.shape
    exact = apply_lut(colours.float().div_(255.0), lut, intensity).mul_(255.0).round_().to(torch.uint8)
    assert torch.equal(fast, exact)


def test_uint8_truncating_table_matches_ffmpeg_lut3d(tmp_path: Path) -> None:
    lut = bake([_twist, lambda x: apply_grade_style(x, GRADE_STYLES["cinematic"])], 33)
    cube = tmp_path / "look.cube"
    write_cube(lut, cube)
    images = _frames()
    theirs = _ffmpeg_lut3d(images, cube)
    frames = (images * 255).round().to(torch.uint8)
    table = lut_table_u8(load_cube(cube), quantise="truncate")
    ours = unpack_rgb24(apply_lut_packed(pack_rgb24(frames), table))
    assert _psnr(ours.float(), theirs) >= 50.0
    # ... and equals the float path truncated the same way.
    floats = apply_lut(frames.float().div_(255.0), load_cube(cube))
    assert torch.equal(ours.float(), (floats.double() * 255 + 1e-4).floor().float())


def test_uint8_path_alpha_chunking_and_caching() -> None:
    rgba = torch.randint(0, 256, (5, 9, 11, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    lut = bake([_twist], 9)
    calls: list[tuple[int, int]] = []
    out = apply_lut(rgba, lut, chunk_size=2, on_chunk=lambda d, t: calls.append((d, t)))
    assert out.dtype == torch.uint8 and torch.equal(out[..., 3], rgba[..., 3])
    assert torch.equal(out, apply_lut(rgba, lut))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert torch.equal(apply_lut(rgba, lut, 0.0), rgba)
    assert lut_table_u8(lut) is lut_table_u8(lut)  # built once per (LUT, intensity, quantisation, device)
    with pytest.raises(ValueError):
        lut_table_u8(lut, quantise="nearest")


def test_pack_unpack_round_trip() -> None:
    frames = torch.randint(
        0, 256, (2, 7, 5, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(2)
    )
    packed = pack_rgb24(frames)
    assert packed.dtype == torch.int32 and packed.shape == (2, 7, 5)
    wide = frames.to(torch.int32)
    assert torch.equal(packed, wide[..., 0] | (wide[..., 1] << 8) | (wide[..., 2] << 16))
    assert torch.equal(unpack_rgb24(packed), frames)
