"""V3 engine-agnostic capability nodes (generate image, image → video, lip-sync, upscale) and their helpers.

Every node is async (ComfyUI awaits them concurrently inside a prompt), returns core IMAGE / VIDEO values,
shows live status text, honours interrupts (the remote job is cancelled where the API allows) and never takes
a key as an input (it would be saved into every output's metadata): keys come from the Setup Hub's vault.
Imported only inside ComfyUI.
"""

from __future__ import annotations

from typing import Any

import torch
from comfy_api.latest import InputImpl, io

from ..sidecar.remote import capabilities as cap
from ..sidecar.remote.engines import CAPABILITIES
from .node_helpers import node_schema, video_bytes
from .nodes_audio import speech_input, speech_wav
from .remote_call import RemoteCall
from .remote_media import bytes_to_image, image_to_png, stack_images

__all__ = ["REMOTE_NODES"]

CATEGORY = "AInfluencer/remote"
_NO_KEY_NOTE = " Uses the API key saved in the Setup Hub (never a node input)."


def remote_schema(
    node_id: str, name: str, category: str, about: str, inputs: list, outputs: list, **extra: Any
) -> io.Schema:
    """A remote node's schema: its description ends with where the key comes from."""
    return node_schema(node_id, name, category, about + _NO_KEY_NOTE, inputs, outputs, **extra)


def _engine_input(choices: list[str]) -> io.Combo.Input:
    return io.Combo.Input(
        "engine",
        options=choices,
        default="auto",
        tooltip="`auto` takes the first connected engine in the preset's preference order at run time.",
    )


def _prompt(name: str = "prompt", default: str = "") -> io.String.Input:
    return io.String.Input(name, multiline=True, default=default)


def _seed() -> io.Int.Input:
    return io.Int.Input("seed", default=0, min=0, max=2**31 - 1, control_after_generate=True)


def _take() -> io.Int.Input:
    """The take number of a node whose API has no seed: a new value is a new provider request.

    ComfyUI reuses a node's cached output while its inputs are unchanged, so without this input a second run
    would silently return the first run's result. It is named `seed` so a run's seed (or the random one a
    seedless run gets) reaches it like every other seed widget; it is never sent to the provider.
    """
    return io.Int.Input(
        "seed",
        default=0,
        min=0,
        max=2**31 - 1,
        control_after_generate=True,
        optional=True,  # graphs and API prompts saved before this input existed still validate
        tooltip="Take number: a new value asks the provider again (this API has no seed, so it is not sent); "
        "the same value may reuse the cached result of the last run.",
    )


async def _images(call: RemoteCall, requests: list[dict[str, Any]], model: str | None) -> torch.Tensor:
    results = await call.call_many(requests, model)
    for index, result in enumerate(results):
        call.keep(result, index, ".png")
    return stack_images([bytes_to_image(r.data) for r in results])


async def _video(call: RemoteCall, request: dict[str, Any], model: str | None) -> Any:
    result = await call.call(request, 0, model)
    return InputImpl.VideoFromFile(str(call.keep(result, 0, ".mp4")))


# capability nodes --------------------------------------------------------------------------------------
class GenerateImageNode(io.ComfyNode):
    """Text → image on any connected engine."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Prompt, size, seed and engine → IMAGE."""
        return remote_schema(
            "AInfluencerGenerateImage",
            "AInfluencer Generate Image",
            CATEGORY,
            "Generates an image on the chosen engine (fal.ai Flux Pro, Runware Flux, Kling).",
            inputs=[
                _prompt(),
                _prompt("negative_prompt"),
                io.Int.Input("width", default=1024, min=256, max=2048, step=64),
                io.Int.Input("height", default=1024, min=256, max=2048, step=64),
                _seed(),
                _engine_input(CAPABILITIES["image"].choices()),
            ],
            outputs=[io.Image.Output("image")],
            hidden=[io.Hidden.extra_pnginfo],
        )

    @classmethod
    async def execute(cls, prompt, negative_prompt, width, height, seed, engine) -> io.NodeOutput:
        """Generate on the resolved engine and return the image."""
        call = RemoteCall("image", engine, cls.hidden.extra_pnginfo)
        request = cap.image_request(call.engine, prompt, negative_prompt, width, height, seed)
        return io.NodeOutput(await _images(call, [request], request.get("model")))


class ImageToVideoNode(io.ComfyNode):
    """Image → video on any connected engine."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Image, prompt, duration and engine → VIDEO."""
        return remote_schema(
            "AInfluencerImageToVideo",
            "AInfluencer Image to Video",
            CATEGORY,
            "Animates the first image of the batch on the chosen engine (Kling, fal.ai Hailuo).",
            inputs=[
                io.Image.Input("image"),
                _prompt(),
                _prompt("negative_prompt"),
                io.Combo.Input(
                    "duration",
                    options=["short", "long"],
                    default="short",
                    tooltip="short: the engine's shortest clip, long: its longest (5–6 s and 10 s on the "
                    "default models), from each provider's model table.",
                ),
                _engine_input(CAPABILITIES["video"].choices()),
                _take(),
            ],
            outputs=[io.Video.Output("video")],
            hidden=[io.Hidden.extra_pnginfo],
        )

    @classmethod
    async def execute(cls, image, prompt, negative_prompt, duration, engine, seed=0) -> io.NodeOutput:
        """Animate on the resolved engine and return the clip."""
        call = RemoteCall("video", engine, cls.hidden.extra_pnginfo)
        request = cap.video_request(call.engine, image_to_png(image), prompt, negative_prompt, duration)
        return io.NodeOutput(await _video(call, request, request.get("model")))


class LipSyncNode(io.ComfyNode):
    """Lip-sync a clip to speech audio on any connected engine."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Video, AUDIO and engine → VIDEO."""
        return remote_schema(
            "AInfluencerLipSync",
            "AInfluencer Lip-Sync",
            CATEGORY,
            "Makes the person in the clip speak the audio (Sync Labs lipsync-2).",
            inputs=[
                io.Video.Input("video"),
                speech_input(),
                io.Combo.Input(
                    "sync_mode",
                    options=list(cap.SYNC_MODES),
                    default="cut_off",
                    tooltip="What to do when audio and video lengths differ.",
                ),
                _engine_input(CAPABILITIES["lipsync"].choices()),
                _take(),
            ],
            outputs=[io.Video.Output("synced_video", display_name="video")],
            hidden=[io.Hidden.extra_pnginfo],
        )

    @classmethod
    async def execute(cls, video, audio, sync_mode, engine, seed=0) -> io.NodeOutput:
        """Lip-sync on the resolved engine and return the clip."""
        call = RemoteCall("lipsync", engine, cls.hidden.extra_pnginfo)
        audio_data, audio_type = speech_wav(audio)
        request = cap.lipsync_request(call.engine, video_bytes(video), audio_data, audio_type, sync_mode)
        return io.NodeOutput(await _video(call, request, request["model"]))  # every lip-sync engine names one


class UpscaleNode(io.ComfyNode):
    """Upscale images on this machine or on a connected provider."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Images, factor and engine → IMAGE."""
        return remote_schema(
            "AInfluencerUpscale",
            "AInfluencer Upscale (any engine)",
            CATEGORY,
            "Upscales locally (weight-free, no download) or on fal.ai / Runware.",
            inputs=[
                io.Image.Input("images"),
                io.Combo.Input("scale", options=["2x", "4x"], default="2x"),
                _engine_input(CAPABILITIES["upscale"].choices()),
                _take(),
            ],
            outputs=[io.Image.Output("upscaled_images", display_name="images")],
            hidden=[io.Hidden.extra_pnginfo],
        )

    @classmethod
    async def execute(cls, images, scale, engine, seed=0) -> io.NodeOutput:
        """Upscale every image of the batch (remote calls in flight together)."""
        call = RemoteCall("upscale", engine, cls.hidden.extra_pnginfo)
        factor = int(scale.rstrip("x"))
        if call.engine == "local_comfy":
            from .polish.upscale import upscale_images

            return io.NodeOutput(upscale_images(images, factor, denoise=0.35, sharpen=0.4))
        requests = [
            cap.upscale_request(call.engine, image_to_png(images, i), factor) for i in range(len(images))
        ]
        return io.NodeOutput(await _images(call, requests, requests[0].get("model")))


REMOTE_NODES: list[type[io.ComfyNode]] = [GenerateImageNode, ImageToVideoNode, LipSyncNode, UpscaleNode]
