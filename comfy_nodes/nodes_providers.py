"""V3 provider nodes: one provider's model with its own parameters (fal.ai, Kling, Runware, Sync Labs).

They share the remote glue of the capability nodes (`RemoteCall`): the job's ledger step, the request id
recorded before polling, status text, interrupt → remote cancel. Keys come from the vault, never an input.
Imported only inside ComfyUI.
"""

from __future__ import annotations

from comfy_api.latest import io

from ..sidecar.remote.adapters import fal, fal_models, kling, kling_models, runware, synclabs
from .node_helpers import float_input, video_bytes
from .nodes_audio import speech_input, speech_wav
from .nodes_remote import _images, _prompt, _seed, _take, _video, remote_schema
from .remote_call import RemoteCall
from .remote_media import image_to_png

__all__ = ["PROVIDER_NODES"]

CATEGORY = "AInfluencer/providers"
_PULID_SIZES = list(fal_models.IMAGE_SIZE_PIXELS)
_KLING_CFG_TIP = "Prompt adherence (only kling-v1 models take it; v2 models ignore it)."


def _table_values(rules: tuple, name: str) -> list[str]:
    """Every value a parameter takes in a provider's model table, as combo strings, in table order."""
    sent = [c for rule in rules for c in rule.choices if c.name == name and c.sent]
    values = dict.fromkeys(str(v) for choice in sent for v in choice.allowed)
    return sorted(values, key=lambda v: (int("".join(d for d in v if d.isdigit()) or 0), v))


def _per_model(rules: tuple, name: str) -> str:
    """A tooltip naming what each model of the table takes for a parameter."""
    return "; ".join(
        f"{rule.model.removeprefix('fal-ai/').removesuffix('/image-to-video')}: "
        + "|".join(str(v) for v in rule.allowed(name))
        for rule in rules
        if rule.allowed(name)
    )


class FalFluxProNode(io.ComfyNode):
    """fal.ai Flux Pro v1.1 text → image."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Prompt, image size, safety tolerance, seed → IMAGE."""
        return remote_schema(
            "AInfluencerFalFluxPro",
            "AInfluencer fal.ai Flux Pro",
            CATEGORY,
            "FLUX1.1 [pro] on fal.ai.",
            inputs=[
                _prompt(),
                io.Combo.Input("image_size", options=list(fal.IMAGE_SIZES), default="portrait_4_3"),
                io.Combo.Input(
                    "safety_tolerance",
                    options=["1", "2", "3", "4", "5", "6"],
                    default="2",
                    tooltip="1 is the strictest moderation, 6 the most permissive.",
                ),
                _seed(),
            ],
            outputs=[io.Image.Output("image")],
        )

    @classmethod
    async def execute(cls, prompt, image_size, safety_tolerance, seed) -> io.NodeOutput:
        """Generate on fal.ai and return the image."""
        call = RemoteCall("image", "provider_fal")
        request = {"model": fal.FLUX_PRO, "prompt": prompt, "image_size": image_size,
                   "safety_tolerance": safety_tolerance, "seed": seed, "num_images": 1}  # fmt: skip
        return io.NodeOutput(await _images(call, [request], fal.FLUX_PRO))


class FalImageToVideoNode(io.ComfyNode):
    """fal.ai image → video (Minimax Hailuo 02, Wan)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Image, prompt, model, duration → VIDEO."""
        return remote_schema(
            "AInfluencerFalImageToVideo",
            "AInfluencer fal.ai Image to Video",
            CATEGORY,
            "Hailuo 02 (768p standard, 1080p pro) or Wan image-to-video on fal.ai.",
            inputs=[
                io.Image.Input("image", tooltip="The first image of the batch is animated."),
                _prompt(),
                io.Combo.Input("model", options=list(fal.VIDEO_MODELS), default=fal.HAILUO_STANDARD),
                io.Combo.Input(
                    "duration",
                    options=_table_values(fal_models.RULES, "duration"),
                    default="6",
                    tooltip="Seconds; a value the model does not take is refused before anything is held. "
                    + _per_model(fal_models.RULES, "duration"),
                ),
                io.Boolean.Input("prompt_optimizer", default=True, tooltip="Let Hailuo rewrite the prompt."),
                io.Combo.Input(
                    "resolution",
                    options=["default", *_table_values(fal_models.RULES, "resolution")],
                    default="default",
                    tooltip="default: the model's own (sent explicitly, so the price is known). "
                    + _per_model(fal_models.RULES, "resolution"),
                ),
                _take(),
            ],
            outputs=[io.Video.Output("video")],
        )

    @classmethod
    async def execute(
        cls, image, prompt, model, duration, prompt_optimizer, resolution="default", seed=0
    ) -> io.NodeOutput:
        """Animate on fal.ai and return the clip."""
        call = RemoteCall("video", "provider_fal")
        request = {"model": model, "image": image_to_png(image), "image_content_type": "image/png",
                   "prompt": prompt, "duration": duration, "prompt_optimizer": prompt_optimizer,
                   "resolution": resolution}  # fmt: skip
        return io.NodeOutput(await _video(call, request, model))


class FalUpscaleNode(io.ComfyNode):
    """fal.ai clarity upscaler."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Images, factor, prompt → IMAGE."""
        return remote_schema(
            "AInfluencerFalUpscale",
            "AInfluencer fal.ai Upscale",
            CATEGORY,
            "fal.ai's clarity upscaler (adds detail; every image of the batch in parallel).",
            inputs=[
                io.Image.Input("images"),
                io.Float.Input("upscale_factor", default=2.0, min=1.0, max=4.0, step=0.5),
                _prompt("prompt", "masterpiece, best quality, highres"),
                _take(),
            ],
            outputs=[io.Image.Output("upscaled_images", display_name="images")],
        )

    @classmethod
    async def execute(cls, images, upscale_factor, prompt, seed=0) -> io.NodeOutput:
        """Upscale every image on fal.ai."""
        call = RemoteCall("upscale", "provider_fal")
        common = {"model": fal.CLARITY_UPSCALER, "upscale_factor": upscale_factor, "prompt": prompt}
        requests = [
            {**common, "image": image_to_png(images, i), "image_content_type": "image/png"}
            for i in range(len(images))
        ]
        return io.NodeOutput(await _images(call, requests, fal.CLARITY_UPSCALER))


class FalFluxPulidNode(io.ComfyNode):
    """fal.ai FLUX PuLID: a new image of the person in the reference photo."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Reference IMAGE, prompt, negative prompt, size, identity weight, steps, guidance, seed → IMAGE."""
        return remote_schema(
            "AInfluencerFalFluxPulid",
            "AInfluencer fal.ai FLUX PuLID (identity)",
            CATEGORY,
            "FLUX with PuLID on fal.ai: the prompt's scene with the face of the reference photo (the first "
            "image of the batch is sent). Billed per output megapixel. Use only faces you have consent for.",
            inputs=[
                io.Image.Input("reference", tooltip="The face to keep (the first image of the batch)."),
                _prompt(),
                _prompt("negative_prompt"),
                io.Combo.Input("image_size", options=_PULID_SIZES, default="portrait_4_3"),
                float_input("id_weight", 1.0, 0.0, 3.0, 0.05, "How strongly the face is kept."),
                io.Int.Input("num_inference_steps", default=20, min=1, max=50),
                float_input("guidance_scale", 4.0, 0.0, 20.0, 0.5, "How closely the prompt is followed."),
                _seed(),
            ],
            outputs=[io.Image.Output("image")],
        )

    @classmethod
    async def execute(cls, reference, prompt, negative_prompt, image_size, **settings) -> io.NodeOutput:
        """Generate on fal.ai and return the image (settings: id_weight, steps, guidance, seed)."""
        call = RemoteCall("image", "provider_fal")
        request = {"model": fal.FLUX_PULID, "prompt": prompt, "negative_prompt": negative_prompt,
                   "reference_image": image_to_png(reference), "reference_image_content_type": "image/png",
                   "image_size": image_size, **settings}  # fmt: skip
        return io.NodeOutput(await _images(call, [request], fal.FLUX_PULID))


class FalTalkingHeadNode(io.ComfyNode):
    """fal.ai OmniHuman: one photo speaks the audio."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Portrait IMAGE and AUDIO → VIDEO as long as the speech."""
        return remote_schema(
            "AInfluencerFalTalkingHead",
            "AInfluencer fal.ai Talking Head (OmniHuman)",
            CATEGORY,
            "ByteDance OmniHuman on fal.ai: the person in one photo speaks the audio (under 30 s), with head "
            "and body motion; the clip is as long as the speech. Billed per second; needs consent.",
            inputs=[
                io.Image.Input("image", tooltip="The portrait; the first image of the batch is sent."),
                speech_input(),
            ],
            outputs=[io.Video.Output("video")],
        )

    @classmethod
    async def execute(cls, image, audio) -> io.NodeOutput:
        """Animate on fal.ai and return the clip."""
        call = RemoteCall("talking_head", "provider_fal")
        audio_data, audio_type = speech_wav(audio)
        request = {"model": fal.OMNIHUMAN, "image": image_to_png(image), "image_content_type": "image/png",
                   "audio": audio_data, "audio_content_type": audio_type}  # fmt: skip
        return io.NodeOutput(await _video(call, request, fal.OMNIHUMAN))


class FalFaceSwapVideoNode(io.ComfyNode):
    """fal.ai video face swap: the face of one photo onto the person in a clip."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """VIDEO and face IMAGE → VIDEO."""
        return remote_schema(
            "AInfluencerFalFaceSwapVideo",
            "AInfluencer fal.ai Video Face Swap",
            CATEGORY,
            "Half Moon AI face swap on fal.ai: keeps one face through every frame of the clip. Needs consent "
            "for the face.",
            inputs=[
                io.Video.Input("video", tooltip="The clip whose person gets the face."),
                io.Image.Input("face", tooltip="The face to keep (the first image of the batch)."),
            ],
            outputs=[io.Video.Output("swapped_video", display_name="video")],
        )

    @classmethod
    async def execute(cls, video, face) -> io.NodeOutput:
        """Swap on fal.ai and return the clip."""
        call = RemoteCall("face_swap", "provider_fal")
        request = {"model": fal.FACE_SWAP_VIDEO, "video": video_bytes(video),
                   "video_content_type": "video/mp4", "face": image_to_png(face),
                   "face_content_type": "image/png"}  # fmt: skip
        return io.NodeOutput(await _video(call, request, fal.FACE_SWAP_VIDEO))


class KlingImageToVideoNode(io.ComfyNode):
    """Kling image → video."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Image, prompt, negative prompt, model, mode, duration, cfg → VIDEO."""
        return remote_schema(
            "AInfluencerKlingImageToVideo",
            "AInfluencer Kling Image to Video",
            CATEGORY,
            "Kling image-to-video on your own Kling API key (billed in resource-pack units).",
            inputs=[
                io.Image.Input("image", tooltip="The first image of the batch (at least 300 px a side)."),
                _prompt(),
                _prompt("negative_prompt"),
                io.Combo.Input("model", options=list(kling.I2V_MODELS), default=kling.DEFAULT_VIDEO_MODEL),
                io.Combo.Input(
                    "mode",
                    options=_table_values(kling_models.VIDEO_RULES, "mode"),
                    default="pro",
                    tooltip="pro: 1080p, more units. kling-v2-5-turbo runs in pro only.",
                ),
                io.Combo.Input(
                    "duration",
                    options=_table_values(kling_models.VIDEO_RULES, "duration"),
                    default="5",
                    tooltip="Seconds.",
                ),
                float_input("cfg_scale", 0.5, 0.0, 1.0, 0.05, _KLING_CFG_TIP),
                _take(),
            ],
            outputs=[io.Video.Output("video")],
        )

    @classmethod
    async def execute(
        cls, image, prompt, negative_prompt, model, mode, duration, cfg_scale, seed=0
    ) -> io.NodeOutput:
        """Animate on Kling and return the clip."""
        call = RemoteCall("video", "provider_kling")
        request = {"model": model, "image": image_to_png(image), "prompt": prompt, "mode": mode,
                   "duration": duration, "negative_prompt": negative_prompt or None}  # fmt: skip
        if model.startswith("kling-v1"):
            request["cfg_scale"] = cfg_scale
        return io.NodeOutput(await _video(call, request, model))


class RunwareImageNode(io.ComfyNode):
    """Runware text → image (FLUX schnell / dev / 1.1 pro)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Prompt, negative prompt, model, size, steps, CFG, seed → IMAGE."""
        return remote_schema(
            "AInfluencerRunwareImage",
            "AInfluencer Runware Image",
            CATEGORY,
            "FLUX on Runware; the posted cost is the one Runware reports for the task.",
            inputs=[
                _prompt(),
                _prompt("negative_prompt"),
                io.Combo.Input("model", options=list(runware.IMAGE_MODELS), default=runware.FLUX_SCHNELL),
                io.Int.Input("width", default=1024, min=256, max=2048, step=64),
                io.Int.Input("height", default=1024, min=256, max=2048, step=64),
                io.Int.Input("steps", default=4, min=1, max=100, tooltip="FLUX schnell/dev only."),
                float_input("cfg_scale", 3.5, 0.0, 50.0, 0.5, "FLUX dev only."),
                _seed(),
            ],
            outputs=[io.Image.Output("image")],
        )

    @classmethod
    async def execute(
        cls, prompt, negative_prompt, model, width, height, steps, cfg_scale, seed
    ) -> io.NodeOutput:
        """Generate on Runware and return the image."""
        call = RemoteCall("image", "provider_runware")
        request = {"model": model, "prompt": prompt, "width": width, "height": height, "seed": seed}
        if model != runware.FLUX_PRO:
            request.update(steps=steps, negative_prompt=negative_prompt or None)
            if model == runware.FLUX_DEV:
                request["cfg_scale"] = cfg_scale
        return io.NodeOutput(await _images(call, [request], model))


class RunwareUpscaleNode(io.ComfyNode):
    """Runware image upscale."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Images and factor → IMAGE."""
        return remote_schema(
            "AInfluencerRunwareUpscale",
            "AInfluencer Runware Upscale",
            CATEGORY,
            "Runware imageUpscale, 2–4x (every image of the batch in parallel).",
            inputs=[
                io.Image.Input("images"),
                io.Int.Input("upscale_factor", default=2, min=2, max=4),
                _take(),
            ],
            outputs=[io.Image.Output("upscaled_images", display_name="images")],
        )

    @classmethod
    async def execute(cls, images, upscale_factor, seed=0) -> io.NodeOutput:
        """Upscale every image on Runware."""
        call = RemoteCall("upscale", "provider_runware")
        requests = [
            {
                "image": image_to_png(images, i),
                "image_content_type": "image/png",
                "upscale_factor": upscale_factor,
            }
            for i in range(len(images))
        ]
        return io.NodeOutput(await _images(call, requests, runware.UPSCALE_MODEL))


class SyncLipSyncNode(io.ComfyNode):
    """Sync Labs lip-sync."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Video, AUDIO, model, sync mode, temperature → VIDEO."""
        return remote_schema(
            "AInfluencerSyncLipSync",
            "AInfluencer Sync Labs Lip-Sync",
            CATEGORY,
            "Sync Labs lipsync-2 / lipsync-2-pro: the person in the clip speaks the audio.",
            inputs=[
                io.Video.Input("video"),
                speech_input(),
                io.Combo.Input("model", options=list(synclabs.MODELS), default=synclabs.LIPSYNC_2),
                io.Combo.Input(
                    "sync_mode",
                    options=list(synclabs.SYNC_MODES),
                    default="cut_off",
                    tooltip="What to do when the audio and the video differ in length.",
                ),
                float_input("temperature", 0.5, 0.0, 1.0, 0.05, "How expressive the mouth movement is."),
                _take(),
            ],
            outputs=[io.Video.Output("synced_video", display_name="video")],
        )

    @classmethod
    async def execute(cls, video, audio, model, sync_mode, temperature, seed=0) -> io.NodeOutput:
        """Lip-sync on Sync Labs and return the clip."""
        call = RemoteCall("lipsync", "provider_synclabs")
        audio_data, audio_type = speech_wav(audio)
        request = {"model": model, "video": video_bytes(video), "video_content_type": "video/mp4",
                   "audio": audio_data, "audio_content_type": audio_type, "sync_mode": sync_mode,
                   "temperature": temperature}  # fmt: skip
        return io.NodeOutput(await _video(call, request, model))


PROVIDER_NODES: list[type[io.ComfyNode]] = [
    FalFluxProNode,
    FalImageToVideoNode,
    FalUpscaleNode,
    FalFluxPulidNode,
    FalTalkingHeadNode,
    FalFaceSwapVideoNode,
    KlingImageToVideoNode,
    RunwareImageNode,
    RunwareUpscaleNode,
    SyncLipSyncNode,
]
