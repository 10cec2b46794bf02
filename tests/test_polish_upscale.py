"""Upscale + denoise: tiled == untiled, Lanczos quality, denoise/sharpen behaviour, the model path, bounded
memory for 4x of 1080p (a measured proxy plus the tile math), bad images refused with nothing written."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from ainfluencer.comfy_nodes.polish.memwatch import PeakRSS
from ainfluencer.comfy_nodes.polish.synth import make_frames, make_tone, write_clip
from ainfluencer.comfy_nodes.polish.upscale import (
    SHARPEN_BAND,
    _sharpen_cpu,
    edge_aware_sharpen,
    guided_denoise,
    lanczos_resize,
    load_rgb_image,
    tile_working_bytes,
    upscale_frame_cpu,
    upscale_image_file,
    upscale_images,
    upscale_video,
)
from ainfluencer.comfy_nodes.polish.video_probe import probe_video
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from PIL import Image
from torch import nn


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(-10 * torch.log10(((a - b) ** 2).mean()))


def _nchw(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 3, 1, 2)


def test_2x_and_4x_shapes_and_tiling_is_seamless() -> None:
    images = make_frames(2, 50, 70)
    for scale in (2, 4):
        tiled = upscale_images(images, scale, 0.3, 0.4, tile=32)
        whole = upscale_images(images, scale, 0.3, 0.4, tile=4096)
        assert tiled.shape == (2, 50 * scale, 70 * scale, 3)
        assert torch.allclose(tiled, whole, atol=1e-5)


def test_lanczos_keeps_flat_colour_and_is_at_least_as_good_as_bicubic() -> None:
    flat = torch.full((1, 3, 9, 11), 0.37)
    assert torch.allclose(lanczos_resize(flat, 27, 33), flat.new_full((1, 3, 27, 33), 0.37), atol=1e-5)
    truth = make_frames(1, 128, 128, pattern=2)
    small = F.interpolate(_nchw(truth), scale_factor=0.5, mode="area")
    ours = upscale_images(small.permute(0, 2, 3, 1), 2, 0.0, 0.0)
    bicubic = F.interpolate(small, scale_factor=2, mode="bicubic").clamp(0, 1).permute(0, 2, 3, 1)
    assert _psnr(ours, truth) >= _psnr(bicubic, truth) - 0.05


def test_denoise_removes_noise_and_keeps_edges() -> None:
    gen = torch.Generator().manual_seed(0)
    clean = torch.zeros(1, 3, 64, 64)
    clean[..., 32:] = 0.8
    noisy = (clean + 0.03 * torch.randn(clean.shape, generator=gen)).clamp(0, 1)
    out = guided_denoise(noisy, 0.6)
    assert float(out[..., 4:28].std()) < 0.5 * float(noisy[..., 4:28].std())
    step = float(out[..., 34:].mean() - out[..., :30].mean())
    assert step > 0.95 * float(noisy[..., 34:].mean() - noisy[..., :30].mean())


def test_sharpening_steepens_edges_but_leaves_flat_noise_and_has_no_halo() -> None:
    gen = torch.Generator().manual_seed(1)
    soft = torch.linspace(0.2, 0.8, 8).repeat_interleave(2)
    edge = (
        torch.cat([torch.full((24,), 0.2), soft, torch.full((24,), 0.8)])
        .view(1, 1, 1, -1)
        .expand(1, 3, 16, -1)
    )
    sharp = edge_aware_sharpen(edge.contiguous(), 1.0)
    assert float(sharp.diff(dim=-1).abs().max()) > float(edge.diff(dim=-1).abs().max())
    assert float(sharp.min()) >= 0.2 - 0.021 and float(sharp.max()) <= 0.8 + 0.021  # clamped to local range
    flat = 0.5 + 0.002 * torch.randn(1, 3, 32, 32, generator=gen)
    assert float((edge_aware_sharpen(flat, 1.0) - flat).abs().max()) < 0.002


class _NearestUpscaler(nn.Module):
    """Stand-in following spandrel's ImageModelDescriptor contract: ``.scale`` and BCHW 0..1 in -> out."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale
        self.conv = nn.Conv2d(3, 3 * scale * scale, 1, bias=False)
        with torch.no_grad():  # every sub-pixel copies its source pixel: exact nearest-neighbour upscaling
            self.conv.weight.zero_()
            for c in range(3):
                self.conv.weight[c * scale * scale : (c + 1) * scale * scale, c] = 1.0
        self.moved_to: list[torch.device] = []

    def to(self, *args: object, **kwargs: object) -> _NearestUpscaler:  # type: ignore[override]
        self.moved_to.append(torch.device(args[0]))  # type: ignore[arg-type]
        return super().to(*args, **kwargs)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(x), self.scale)


def test_the_model_path_runs_the_model_per_tile() -> None:
    images = make_frames(1, 50, 70)
    model = _NearestUpscaler(2)
    out = upscale_images(images, 2, 0.0, 0.0, model=model, tile=32)
    expected = F.interpolate(_nchw(images), scale_factor=2, mode="nearest").permute(0, 2, 3, 1)
    assert torch.allclose(out, expected, atol=1e-6)
    assert model.moved_to == [images.device]


def test_a_4x_model_asked_for_2x_is_resized_to_the_requested_scale() -> None:
    images = make_frames(1, 40, 40)
    out = upscale_images(images, 2, 0.0, 0.0, model=_NearestUpscaler(4), tile=64)
    assert out.shape == (1, 80, 80, 3)
    assert _psnr(out, upscale_images(images, 2, 0.0, 0.0)) > 25


def test_4x_of_1080p_fits_bounded_memory() -> None:
    # the tile math: 1080p -> 4x needs the 8K output plus one tile's working set, not a full-frame working set
    output = 1080 * 4 * 1920 * 4 * 3 * 4
    per_tile = tile_working_bytes(256, 4)
    untiled = tile_working_bytes(1920, 4)
    assert per_tile < 0.3e9 and output + per_tile < 0.75e9 and untiled > 10 * per_tile
    # measured on a 216x384 proxy (a fifth of 1080p per side): peak = output + about one tile
    proxy = make_frames(1, 216, 384)
    upscale_images(proxy[:, :96, :96], 4, 0.3, 0.4, tile=64)  # warm-up (allocator, kernels)
    with PeakRSS() as watch:
        out = upscale_images(proxy, 4, 0.3, 0.4, tile=64)
    out_bytes = out.numel() * out.element_size()
    assert watch.peak_delta < out_bytes + 3 * tile_working_bytes(64, 4) + 40e6, watch.peak_delta
    assert watch.peak_delta < tile_working_bytes(384, 4) / 2


def test_odd_sizes_and_float64_follow_the_input() -> None:
    images = make_frames(1, 17, 33).double()
    out = upscale_images(images, 2, 0.2, 0.2, tile=32)
    assert out.shape == (1, 34, 66, 3) and out.dtype == torch.float64 and out.device == images.device


def _save(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    Image.fromarray(array, mode=mode).save(path) if mode else Image.fromarray(array).save(path)
    return path


def test_image_files_16bit_grayscale_rgba_and_corrupt_are_refused_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(0)
    sixteen = tmp_path / "sixteen.png"
    Image.fromarray(rng.integers(0, 65535, (16, 16), dtype=np.uint16)).save(sixteen)
    gray = _save(tmp_path / "gray.png", rng.integers(0, 255, (16, 16), dtype=np.uint8))
    rgba = _save(tmp_path / "rgba.png", rng.integers(0, 255, (16, 16, 4), dtype=np.uint8))
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    expected = {sixteen: "16", gray: "grayscale", rgba: "RGBA", corrupt: "corrupt"}
    for path, word in expected.items():
        dst = tmp_path / f"out_{path.stem}.png"
        with pytest.raises(AInfError) as caught:
            upscale_image_file(path, dst)
        assert caught.value.code == ErrorCode.INVALID_MEDIA and word in caught.value.message
        assert not dst.exists()
    assert not list(tmp_path.glob("out_*")) and not list(tmp_path.glob(".*partial*"))


def test_an_rgb_png_upscales_to_a_file(tmp_path: Path) -> None:
    src = _save(tmp_path / "in.png", make_frames(1, 20, 30)[0].mul(255).to(torch.uint8).numpy())
    out = upscale_image_file(src, tmp_path / "out.png", 2)
    assert load_rgb_image(out).shape == (1, 40, 60, 3)


def test_rgba_and_grayscale_tensors_are_validation_errors() -> None:
    for channels in (1, 4):
        with pytest.raises(AInfError) as caught:
            upscale_images(torch.rand(1, 8, 8, channels), 2)
        assert caught.value.code == ErrorCode.VALIDATION_ERROR
    with pytest.raises(AInfError):
        upscale_images(torch.rand(1, 8, 8, 3), 5)


def test_video_upscale_streams_and_keeps_audio(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mp4", make_frames(12, 32, 48), 24, audio=make_tone(0.5))
    info = probe_video(upscale_video(src, tmp_path / "out.mp4", 2, tile=32))
    assert (info.width, info.height, info.frame_count, info.has_audio) == (96, 64, 12, True)


def test_a_real_4x_upscale_of_a_1080p_frame_completes_within_output_plus_a_few_tiles() -> None:
    frame = make_frames(1, 1080, 1920)
    upscale_images(frame[:, :64, :64], 4, 0.3, 0.4)  # warm-up (allocator, kernels)
    with PeakRSS() as watch:
        out = upscale_images(frame, 4, 0.3, 0.4)
    assert out.shape == (1, 4320, 7680, 3)
    out_bytes = out.numel() * out.element_size()
    # peak = the 8K output + a bounded tile working set, far below the untiled working set (~10.8 GB)
    assert watch.peak_delta < out_bytes + 3 * tile_working_bytes(256, 4), watch.peak_delta
    assert watch.peak_delta < tile_working_bytes(1920, 4) / 8


def test_the_cpu_video_upscale_sharpens_band_by_band_exactly_as_on_the_whole_frame():
    rng = np.random.default_rng(5)
    frame = cv2.GaussianBlur(
        rng.integers(0, 256, (3 * SHARPEN_BAND // 2 + 7, 40, 3), dtype=np.uint8), (5, 5), 1
    )
    x = cv2.resize(
        frame.astype(np.float32) / np.float32(255.0),
        (80, frame.shape[0] * 2),
        interpolation=cv2.INTER_LANCZOS4,
    )
    whole = cv2.convertScaleAbs(_sharpen_cpu(x, 1.0, 1, 0.6), alpha=255.0)
    assert np.array_equal(upscale_frame_cpu(frame, 2, 0.0, 0.6), whole)
