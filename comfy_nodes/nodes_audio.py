"""V3 node "AInfluencer Load Audio" and the AUDIO input the lip-sync nodes share; ComfyUI only.

The embedded ComfyUI has no torchaudio, so the file is decoded here with PyAV (``.audio_media``) rather than
through core's LoadAudio; the result is core's AUDIO value, so a text-to-speech node can feed the same input.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import folder_paths
from comfy_api.latest import io

from ..sidecar.core.errors import AInfError, ErrorCode
from .audio_media import AudioClip, load_audio
from .node_helpers import node_schema

__all__ = ["AUDIO_NODES", "LoadAudioNode", "speech_input", "speech_wav"]

CATEGORY = "AInfluencer/audio"
NO_AUDIO = "(upload an audio file)"


def _audio_files() -> list[str]:
    folder = folder_paths.get_input_directory()
    files = [f for f in os.listdir(folder) if os.path.isfile(os.path.join(folder, f))]
    return sorted(folder_paths.filter_files_content_types(files, ["audio"])) or [NO_AUDIO]


def _audio_path(name: str) -> str:
    """The file behind a combo choice; FILE_NOT_FOUND (with the upload step) when it is not there."""
    path = folder_paths.get_annotated_filepath(name)
    if not path or not os.path.isfile(path):
        raise AInfError(
            ErrorCode.FILE_NOT_FOUND,
            f"No audio file named {name!r} in ComfyUI's input folder.",
            remediation=[
                "Upload the audio (Setup Hub or POST /ainfluencer/v1/uploads), then pick it on the node."
            ],
            detail={"audio": name[:200]},
        )
    return path


def _file_input() -> io.Combo.Input:
    # A plain combo: the editor's audio upload button (Comfy.UploadAudio) needs the audio player widget only
    # core's audio nodes get, and the sidecar's converter refuses such editor-only widgets.
    return io.Combo.Input(
        "audio",
        options=_audio_files(),
        tooltip="An audio file in ComfyUI's input folder (upload it in the AInfluencer Setup Hub or with "
        "POST /ainfluencer/v1/uploads).",
    )


def speech_input() -> io.Audio.Input:
    """The lip-sync nodes' core AUDIO input."""
    return io.Audio.Input(
        "audio", tooltip="The speech: AInfluencer Load Audio, a text-to-speech node or any other AUDIO."
    )


def speech_wav(audio: dict[str, Any]) -> tuple[bytes, str]:
    """A core AUDIO value as WAV bytes and their content type, as providers take them."""
    return AudioClip.from_comfy(audio).wav_bytes(), "audio/wav"


class LoadAudioNode(io.ComfyNode):
    """Load an audio file from ComfyUI's input folder as AUDIO."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Audio file → AUDIO."""
        return node_schema(
            "AInfluencerLoadAudio",
            "AInfluencer Load Audio",
            CATEGORY,
            "Decodes an audio file (WAV, MP3, M4A, FLAC, OGG) at its own rate and channels.",
            inputs=[_file_input()],
            outputs=[io.Audio.Output("loaded_audio", display_name="audio")],
        )

    @classmethod
    def fingerprint_inputs(cls, audio: str) -> str:
        """The file's content hash, so a re-uploaded file under the same name runs again."""
        try:
            with open(_audio_path(audio), "rb") as fh:
                return hashlib.sha256(fh.read()).hexdigest()
        except AInfError:
            return audio  # execute reports the missing file

    @classmethod
    def execute(cls, audio: str) -> io.NodeOutput:
        """Decode the file with PyAV."""
        return io.NodeOutput(load_audio(_audio_path(audio)).to_comfy())


AUDIO_NODES: list[type[io.ComfyNode]] = [LoadAudioNode]
