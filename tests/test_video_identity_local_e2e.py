"""video_identity_consistency_v1@local_comfy end to end through the real ComfyUI, with a stand-in ReActor.

The stand-in is a custom-node folder named like the real pack (ComfyUI-ReActor) whose NODE_CLASS_MAPPINGS
registers a ReActorFaceSwap with the real node's inputs; it paints the reference photo (cropped to the
frame's shape) over every frame it is given and logs each call's batch size, so the test can see every frame
went through it a bounded chunk at a time. The swap model file is a placeholder in models/insightface.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from ainfluencer.sidecar.cli.client import SidecarClient
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.host import runtime
from conftest import EXAMPLES, wait_for_job
from PIL import Image

pytestmark = pytest.mark.integration
PRESET = "video_identity_consistency_v1"
CLIP = "portrait_talking_source.mp4"  # 228 frames at 720x720 with an audio track
INPUTS = {"video": CLIP, "identity_reference": "portrait.png"}
SHORT_CLIP = "one_second.mp4"  # 30 frames: interpolation on a CPU is slow, a second shows the rate
WARM_CLIP = "portrait_push_in.mp4"  # 150 frames at 720x720
LONG_CLIP = "twenty_seconds.mp4"  # 600 frames, four times the warm-up clip
CHUNK = 8  # the stream plan's decode chunk

FAKE_REACTOR = textwrap.dedent(
    '''
    """A stand-in for Gourieff/ComfyUI-ReActor's ReActorFaceSwap: the source image painted over each frame."""
    from pathlib import Path

    import torch
    import torch.nn.functional as F

    CALLS = Path(__file__).with_name("calls.txt")


    class FakeReactor:
        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"enabled": ("BOOLEAN",), "input_image": ("IMAGE",),
                                 "swap_model": ("STRING",), "facedetection": ("STRING",),
                                 "face_restore_model": ("STRING",),
                                 "face_restore_visibility": ("FLOAT",), "codeformer_weight": ("FLOAT",),
                                 "detect_gender_input": ("STRING",), "detect_gender_source": ("STRING",),
                                 "input_faces_index": ("STRING",), "source_faces_index": ("STRING",),
                                 "console_log_level": ("INT",)},
                    "optional": {"source_image": ("IMAGE",)}}

        RETURN_TYPES = ("IMAGE", "FACE_MODEL", "IMAGE")
        FUNCTION = "execute"
        CATEGORY = "ReActor"

        def execute(self, enabled, input_image, swap_model, detect_gender_source, detect_gender_input,
                    source_faces_index, input_faces_index, console_log_level, face_restore_model,
                    face_restore_visibility, codeformer_weight, facedetection, source_image=None):
            assert swap_model == "inswapper_128.onnx" and source_image is not None
            with CALLS.open("a") as log:
                log.write(f"{input_image.shape[0]}\\n")
            batch, height, width, _ = input_image.shape
            face = source_image[:1].movedim(-1, 1)
            side = min(face.shape[2] * width // height, face.shape[3])
            tall = side * height // width
            top, left = (face.shape[2] - tall) // 2, (face.shape[3] - side) // 2
            crop = face[:, :, top : top + tall, left : left + side]
            painted = F.interpolate(crop, size=(height, width), mode="bilinear", align_corners=False)
            return (painted.movedim(1, -1).expand(batch, -1, -1, -1).contiguous(), None, input_image)


    NODE_CLASS_MAPPINGS = {"ReActorFaceSwap": FakeReactor}
    '''
)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[runtime.ComfyServer]:
    """A real ComfyUI with the stand-in ReActor folder and a placeholder swap model installed."""
    runtime.install()
    base = tmp_path_factory.mktemp("reactor") / "base"
    pack = base / "custom_nodes" / "ComfyUI-ReActor"
    (pack / "scripts").mkdir(parents=True)
    (pack / "__init__.py").write_text(FAKE_REACTOR, encoding="utf-8")
    model = base / "models" / "insightface" / "inswapper_128.onnx"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"\0placeholder")
    started = runtime.start_server(runtime.free_port(), base_dir=base, log_path=base.parent / "comfyui.log")
    yield started
    started.stop()


def _silent_clip(folder: Path, name: str, frames: int) -> Path:
    """`frames` frames of the clip (from its start, looped when it is shorter), silent, at 30 fps."""
    with av.open(str(EXAMPLES / CLIP)) as source:
        pictures = [f.to_ndarray(format="rgb24") for f in source.decode(video=0)][:frames]
    path = folder / name
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 720, 720, "yuv420p"
        for index in range(frames):
            picture = pictures[index % len(pictures)]
            out.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        out.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def client(server, tmp_path_factory) -> Iterator[SidecarClient]:
    api = SidecarClient(server.url, timeout=120)
    for name in (*INPUTS.values(), WARM_CLIP):
        api.upload(EXAMPLES / name)
    folder = tmp_path_factory.mktemp("clips")
    api.upload(_silent_clip(folder, SHORT_CLIP, 30))
    api.upload(_silent_clip(folder, LONG_CLIP, 600))
    yield api
    api.close()


def _calls(server: runtime.ComfyServer) -> list[int]:
    log = server.base_dir / "custom_nodes" / "ComfyUI-ReActor" / "calls.txt"
    sizes = [int(line) for line in log.read_text().split()] if log.exists() else []
    log.unlink(missing_ok=True)
    return sizes


def _run(client: SidecarClient, quality: str, clip: str = CLIP) -> dict:
    inputs = {**INPUTS, "video": clip}
    body = {"inputs": inputs, "engine": "local_comfy", "consent_given": True, "quality_level": quality}
    done = wait_for_job(client, client.run(PRESET, body)["job_id"], timeout_s=300)
    assert done["status"] == "completed", done["error_detail"]
    return done


def _clip(job: dict) -> Path:
    return Path(next(a["path"] for a in job["artifacts"] if a["path"].endswith(".mp4")))


def _reference_crop(size: int) -> np.ndarray:
    with Image.open(EXAMPLES / "portrait.png") as photo:
        photo = photo.convert("RGB")
        side = min(photo.size)
        left, top = (photo.width - side) // 2, (photo.height - side) // 2
        return np.asarray(photo.crop((left, top, left + side, top + side)).resize((size, size)), np.float32)


def _peak_rss_mb(server: runtime.ComfyServer) -> float:
    """The ComfyUI process's peak resident memory so far (Linux VmHWM), in MiB."""
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("the kernel reports no VmHWM")


def test_the_peak_memory_of_a_swap_does_not_grow_with_the_clips_length(server, client):
    for warm_up in (SHORT_CLIP, WARM_CLIP):  # what a run loads, and the allocators' first growth
        _run(client, "standard", warm_up)
    before = _peak_rss_mb(server)
    _run(client, "standard", LONG_CLIP)
    grown = _peak_rss_mb(server) - before
    # four times the frames of the last run (about 25 MiB more seen); as one IMAGE batch they take 3.5 GiB
    assert grown < 100, f"peak memory grew {grown:.0f} MiB"


def test_every_frame_goes_through_the_installed_pack_a_chunk_at_a_time_with_the_audio_kept(server, client):
    _calls(server)
    done = _run(client, "standard")
    sizes = _calls(server)
    with av.open(str(_clip(done))) as clip:
        assert [s.type for s in clip.streams] == ["video", "audio"]
        frames = [f.to_ndarray(format="rgb24") for f in clip.decode(video=0)]
    # each frame was swapped once for the save, plus the 16 the identity check samples; a chunk at most
    assert max(sizes) <= CHUNK and sum(sizes) == 228 + 16 and len(frames) == 228
    painted = np.abs(frames[100].astype(np.float32) - _reference_crop(720)).mean()
    assert painted < 12  # the frame is the reference face, up to the encoder's loss
    (check,) = done["identity"]["checks"]
    assert check["worst"] < 0.6 and not [w for w in done["warnings"] if w.startswith("identity drift")]


def test_at_pro_the_swapped_clip_is_interpolated_to_twice_the_frame_rate(server, client):
    done = _run(client, "pro", SHORT_CLIP)
    with av.open(str(_clip(done))) as clip:
        video = clip.streams.video[0]
        assert video.average_rate == 60 and sum(1 for _ in clip.decode(video=0)) == 2 * 30


def test_without_consent_the_local_run_is_refused_and_the_pack_is_never_called(server, client):
    _calls(server)
    with pytest.raises(AInfError) as refused:
        client.run(PRESET, {"inputs": INPUTS, "engine": "local_comfy"})
    assert refused.value.code == ErrorCode.CONSENT_MISSING and _calls(server) == []
