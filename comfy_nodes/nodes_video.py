"""V3 ComfyUI nodes for the video polish passes (deflicker, upscale + denoise, interpolation, social export).

Video nodes take and return core ``VIDEO`` values lazily: each appends its pass to a ``StreamedVideo`` and
returns at once, and the consumer (the signed save node, the social export, any core node) runs the whole
chain in one streamed pass with one encode (see ``polish.stream_plan``). The ``IMAGE`` variants work on
batches for graph users. Progress is reported per chunk of frames or per tile through
``comfy.utils.ProgressBar``, and the interrupt is checked as often. Imported only inside ComfyUI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import comfy.model_management
import folder_paths
import torch
from comfy_api.latest import InputImpl, io, ui
from comfy_execution.utils import get_executing_context

from ..sidecar.runs.job_files import feeds_another_node
from .node_helpers import (
    check_choice,
    device,
    float_input,
    int_input,
    node_schema,
    progress_callback,
    run_on_device,
)
from .nodes_provenance import sign_export
from .nodes_video_look import LOOK_VIDEO_NODES
from .polish.deflicker import deflicker_frames
from .polish.interpolate import PRESETS as FLOW_PRESETS
from .polish.interpolate import interpolate_frames
from .polish.passes import DeflickerPass, InterpolatePass, UpscalePass
from .polish.social_export import FIT_MODES, PLATFORMS, export_social
from .polish.upscale import upscale_images
from .streamed_video import StreamedVideo, plan_of

__all__ = [
    "VIDEO_NODES",
    "DeflickerImagesNode",
    "DeflickerVideoNode",
    "InterpolateImagesNode",
    "InterpolateVideoNode",
    "SocialExportNode",
    "UpscaleImageNode",
    "UpscaleVideoNode",
]

CATEGORY = "AInfluencer/polish"
NO_MODEL = "none (weight-free)"
SCALES = ["2x", "4x"]
FLOW_QUALITY = list(FLOW_PRESETS)


def _upscale_model_names() -> list[str]:
    return [NO_MODEL, *folder_paths.get_filename_list("upscale_models")]


def _load_upscale_model(name: str) -> Any | None:
    """Load an installed upscale model through core's loader (spandrel), or None for the weight-free path."""
    if name == NO_MODEL:
        return None
    from comfy_extras.nodes_upscale_model import UpscaleModelLoader

    return UpscaleModelLoader.execute(name).result[0]


def _scale(value: str) -> int:
    return int(value.rstrip("x"))


def _deflicker_inputs() -> list[io.Input]:
    return [
        io.Int.Input(
            "window_size",
            default=9,
            min=2,
            max=129,
            tooltip="Frames in the centred averaging window (ffmpeg's deflicker uses 5, look-ahead only).",
        ),
        float_input("strength", 1.0, 0.0, 1.0, 0.01, "0 = untouched, 1 = full correction."),
        io.Boolean.Input(
            "colour",
            default=False,
            tooltip="Stabilise each colour channel (colour flicker), not only brightness.",
        ),
        float_input(
            "cut_threshold",
            0.2,
            0.05,
            1.0,
            0.01,
            "Scene-cut sensitivity: the window resets at cuts so shots never bleed into each other.",
        ),
    ]


def _upscale_inputs() -> list[io.Input]:
    return [
        io.Combo.Input("scale", options=SCALES, default="2x", tooltip="Output size factor."),
        float_input("denoise", 0.3, 0.0, 1.0, 0.01, "Edge-preserving denoise before upscaling."),
        float_input("sharpen", 0.4, 0.0, 1.0, 0.01, "Edge-aware sharpening after upscaling."),
        io.Combo.Input(
            "upscale_model",
            options=_upscale_model_names(),
            default=NO_MODEL,
            tooltip="A model from models/upscale_models, or the weight-free Lanczos path.",
        ),
        int_input("tile_size", 256, 64, 2048, "Tile edge in input pixels (bounds memory).", step=32),
    ]


def _interpolate_inputs() -> list[io.Input]:
    return [
        int_input("multiplier", 2, 1, 2, "2 doubles the frame rate; 1 passes the clip through."),
        io.Combo.Input(
            "flow_quality",
            options=FLOW_QUALITY,
            default="fast",
            tooltip="OpenCV DIS preset (medium is ~4x slower).",
        ),
    ]


def _clip_input() -> io.Video.Input:
    return io.Video.Input("video", tooltip="The clip; its audio is kept in sync.")


class DeflickerVideoNode(io.ComfyNode):
    """Remove brightness (and optionally colour) flicker from a video, streamed in chunks."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Describe the node: video + deflicker settings -> video."""
        return node_schema(
            "AInfluencerDeflickerVideo",
            "AInfluencer Deflicker (video)",
            CATEGORY,
            "Brightness/colour stabilisation over a sliding window, reset at scene cuts.",
            inputs=[_clip_input(), *_deflicker_inputs()],
            outputs=[io.Video.Output("deflickered_video", display_name="video")],
        )

    @classmethod
    def execute(
        cls, video: Any, window_size: int, strength: float, colour: bool, cut_threshold: float
    ) -> io.NodeOutput:
        """Append the deflicker to the clip's passes (nothing is decoded here)."""
        spec = DeflickerPass(window_size, strength, colour, cut_threshold)
        return io.NodeOutput(StreamedVideo.chained(video, spec))


class DeflickerImagesNode(io.ComfyNode):
    """Remove flicker from an IMAGE batch (frames in order)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Describe the node: images + deflicker settings -> images."""
        return node_schema(
            "AInfluencerDeflickerImages",
            "AInfluencer Deflicker (images)",
            CATEGORY,
            "Deflicker for frame batches; use the video node for long clips (it streams).",
            inputs=[io.Image.Input("images", tooltip="Frames in playback order."), *_deflicker_inputs()],
            outputs=[io.Image.Output("deflickered_images", display_name="images")],
        )

    @classmethod
    def execute(
        cls, images: torch.Tensor, window_size: int, strength: float, colour: bool, cut_threshold: float
    ) -> io.NodeOutput:
        """Deflicker the batch on the torch device."""
        return io.NodeOutput(
            run_on_device(images, lambda x: deflicker_frames(x, window_size, strength, colour, cut_threshold))
        )


class UpscaleImageNode(io.ComfyNode):
    """2x/4x upscale + denoise of an IMAGE batch, weight-free or with an installed upscale model, tiled."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Describe the node: images + upscale settings -> images."""
        return node_schema(
            "AInfluencerUpscaleImage",
            "AInfluencer Upscale + Denoise (image)",
            CATEGORY,
            "Denoise, upscale (Lanczos or an upscale model), edge-aware sharpen; tile by tile.",
            inputs=[io.Image.Input("images", tooltip="RGB images to upscale."), *_upscale_inputs()],
            outputs=[io.Image.Output("upscaled_images", display_name="images")],
        )

    @classmethod
    def validate_inputs(cls, scale: str | None = None, upscale_model: str | None = None) -> bool | str:
        """Re-check the combos (V3 combos skip core's list check)."""
        checked = check_choice("scale", scale, SCALES)
        if checked is not True:
            return checked
        return check_choice("upscale_model", upscale_model, _upscale_model_names())

    @classmethod
    def execute(
        cls,
        images: torch.Tensor,
        scale: str,
        denoise: float,
        sharpen: float,
        upscale_model: str,
        tile_size: int,
    ) -> io.NodeOutput:
        """Upscale tile by tile on the torch device."""
        model = _load_upscale_model(upscale_model)
        result = upscale_images(
            images.to(device()),
            _scale(scale),
            denoise,
            sharpen,
            model=model,
            tile=tile_size,
            on_tile=progress_callback(),
        )
        return io.NodeOutput(result.to(comfy.model_management.intermediate_device()))


class UpscaleVideoNode(io.ComfyNode):
    """2x/4x upscale + denoise of a video, streamed in chunks (audio kept)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Describe the node: video + upscale settings -> video."""
        return node_schema(
            "AInfluencerUpscaleVideo",
            "AInfluencer Upscale + Denoise (video)",
            CATEGORY,
            "Streams the clip through denoise + upscale + sharpen; memory stays flat.",
            inputs=[_clip_input(), *_upscale_inputs()],
            outputs=[io.Video.Output("upscaled_video", display_name="video")],
        )

    @classmethod
    def validate_inputs(cls, scale: str | None = None, upscale_model: str | None = None) -> bool | str:
        """Re-check the combos (V3 combos skip core's list check)."""
        return UpscaleImageNode.validate_inputs(scale=scale, upscale_model=upscale_model)

    @classmethod
    def execute(
        cls, video: Any, scale: str, denoise: float, sharpen: float, upscale_model: str, tile_size: int
    ) -> io.NodeOutput:
        """Append the upscale to the clip's passes (the model is loaded now, run when rendered)."""
        spec = UpscalePass(_scale(scale), denoise, sharpen, _load_upscale_model(upscale_model), tile_size)
        return io.NodeOutput(StreamedVideo.chained(video, spec))


class InterpolateVideoNode(io.ComfyNode):
    """Double a video's frame rate with weight-free optical flow; duration and audio sync are kept."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Describe the node: video + interpolation settings -> video."""
        return node_schema(
            "AInfluencerInterpolateVideo",
            "AInfluencer Frame Interpolation (video)",
            CATEGORY,
            "DIS optical flow both ways, warped to the midpoint with an occlusion-aware blend.",
            inputs=[_clip_input(), *_interpolate_inputs()],
            outputs=[io.Video.Output("interpolated_video", display_name="video")],
        )

    @classmethod
    def validate_inputs(cls, flow_quality: str | None = None) -> bool | str:
        """Re-check the combo (V3 combos skip core's list check)."""
        return check_choice("flow_quality", flow_quality, FLOW_QUALITY)

    @classmethod
    def execute(cls, video: Any, multiplier: int, flow_quality: str) -> io.NodeOutput:
        """Append the interpolation to the clip's passes (or pass the clip through at multiplier 1)."""
        if multiplier == 1:
            return io.NodeOutput(video)
        return io.NodeOutput(StreamedVideo.chained(video, InterpolatePass(flow_quality)))


class InterpolateImagesNode(io.ComfyNode):
    """Double the frame count of an IMAGE batch with flow-based midpoints (set the video fps x2)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Describe the node: images + interpolation settings -> images."""
        return node_schema(
            "AInfluencerInterpolateImages",
            "AInfluencer Frame Interpolation (images)",
            CATEGORY,
            "N frames in, 2N out (the last frame is held); use twice the fps in CreateVideo.",
            inputs=[io.Image.Input("images", tooltip="Frames in playback order."), *_interpolate_inputs()],
            outputs=[io.Image.Output("interpolated_images", display_name="images")],
        )

    @classmethod
    def validate_inputs(cls, flow_quality: str | None = None) -> bool | str:
        """Re-check the combo (V3 combos skip core's list check)."""
        return check_choice("flow_quality", flow_quality, FLOW_QUALITY)

    @classmethod
    def execute(cls, images: torch.Tensor, multiplier: int, flow_quality: str) -> io.NodeOutput:
        """Interpolate the batch."""
        if multiplier == 1:
            return io.NodeOutput(images)
        return io.NodeOutput(run_on_device(images, lambda x: interpolate_frames(x, flow_quality)))


class SocialExportNode(io.ComfyNode):
    """Write a TikTok / Reels / Shorts-ready MP4 (9:16 1080x1920, H.264, AAC 48 kHz at -14 LUFS)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Describe the output node: video + platform settings -> saved MP4 (and the VIDEO)."""
        return node_schema(
            "AInfluencerSocialExport",
            "AInfluencer Social Export",
            CATEGORY,
            (
                "1080x1920 by crop, pad or blur-fill; H.264 yuv420p BT.709 CFR; AAC 48 kHz at -14 LUFS / "
                "-1 dBTP; platform duration and size limits checked."
            ),
            is_output_node=True,
            inputs=[
                io.Video.Input("video", tooltip="The finished clip."),
                io.Combo.Input(
                    "platform", options=list(PLATFORMS), default="tiktok", tooltip="Delivery target."
                ),
                io.Combo.Input(
                    "fit",
                    options=list(FIT_MODES),
                    default="blur",
                    tooltip="blur: blurred fill behind; crop: fill the frame; pad: black bars.",
                ),
                float_input("fps", 0.0, 0.0, 60.0, 0.001, "Output frame rate; 0 keeps the source."),
                io.Int.Input(
                    "crf", default=20, min=12, max=32, tooltip="H.264 quality (lower = larger, better)."
                ),
                io.String.Input(
                    "filename_prefix", default="ainfluencer/social", tooltip="Saved under output/."
                ),
            ],
            outputs=[io.Video.Output("exported_video", display_name="video")],
        )

    @classmethod
    def validate_inputs(cls, platform: str | None = None, fit: str | None = None) -> bool | str:
        """Re-check the combos (V3 combos skip core's list check)."""
        checked = check_choice("platform", platform, list(PLATFORMS))
        if checked is not True:
            return checked
        return check_choice("fit", fit, list(FIT_MODES))

    @classmethod
    def execute(
        cls, video: Any, platform: str, fit: str, fps: float, crf: int, filename_prefix: str
    ) -> io.NodeOutput:
        """Export into the output folder and preview it (into temp when a later node saves the export)."""
        target = PLATFORMS[platform]
        context = get_executing_context()
        intermediate = context is not None and feeds_another_node(cls.hidden.prompt, str(context.node_id))
        root, kind = (
            (folder_paths.get_temp_directory(), io.FolderType.temp)
            if intermediate
            else (folder_paths.get_output_directory(), io.FolderType.output)
        )
        folder, filename, counter, subfolder, _ = folder_paths.get_save_image_path(
            filename_prefix, root, target.width, target.height
        )
        name = f"{filename}_{counter:05}_.mp4"
        plan = plan_of(video)
        report = export_social(
            plan,
            Path(folder) / name,
            platform,
            fit,
            fps=fps,
            crf=crf,
            device=device(),
            on_chunk=progress_callback(),
            tick=comfy.model_management.throw_exception_if_processing_interrupted,
        )
        sign_export(report.path, plan.source)
        return io.NodeOutput(
            InputImpl.VideoFromFile(str(report.path)),
            ui=ui.PreviewVideo([ui.SavedResult(name, subfolder, kind)]),
        )


VIDEO_NODES: list[type[io.ComfyNode]] = [
    *LOOK_VIDEO_NODES,
    DeflickerVideoNode,
    DeflickerImagesNode,
    UpscaleImageNode,
    UpscaleVideoNode,
    InterpolateVideoNode,
    InterpolateImagesNode,
    SocialExportNode,
]
