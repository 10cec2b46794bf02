"""Face embeddings with dlib's ResNet face descriptor, from the weights shipped in `face-recognition-models`.

The models and their licences (https://github.com/davisking/dlib-models): the ResNet face descriptor
(`dlib_face_recognition_resnet_model_v1`) and the 5-point landmark model are CC0 (public domain), so usable
commercially; the package's 68-point predictor is trained on iBUG 300-W, whose terms exclude commercial use,
so it is never loaded. Faces are found with dlib's built-in HOG detector (no weights file). The
`face_recognition_models` module itself is not imported (its `__init__` needs `pkg_resources`); only its
data files are read. dlib comes from the prebuilt `dlib-bin` wheel.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from ...sidecar.core.errors import AInfError, ErrorCode
from ..polish.video_probe import probe_video

RECOGNITION_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
LANDMARK_MODEL = "shape_predictor_5_face_landmarks.dat"
INSTALL = "pip install dlib-bin face-recognition-models"
# dlib's HOG detector finds faces from about 80 px; smaller frames are upsampled once before detection
UPSAMPLE_BELOW = 640


def _missing(what: str) -> AInfError:
    return AInfError(
        ErrorCode.DEPENDENCY_MISSING,
        f"The identity check needs {what}.",
        remediation=[f"Run `{INSTALL}` in ComfyUI's Python environment, then restart ComfyUI."],
        detail={"missing": what, "install": INSTALL},
    )


def model_folder() -> Path:
    """The folder of `face-recognition-models`' weight files (DEPENDENCY_MISSING when not installed)."""
    spec = importlib.util.find_spec("face_recognition_models")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        folder = Path(location) / "models"
        if (folder / RECOGNITION_MODEL).is_file() and (folder / LANDMARK_MODEL).is_file():
            return folder
    raise _missing("the face-recognition-models package")


@dataclass(frozen=True)
class FaceEmbedder:
    """dlib's face detector, 5-point landmarks and ResNet descriptor, loaded once."""

    detector: Any
    landmarks: Any
    recognizer: Any

    def embed(self, rgb: np.ndarray) -> np.ndarray | None:
        """The 128-d descriptor of the largest face in an RGB uint8 image, or None when no face is found."""
        image = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
        upsample = 1 if max(image.shape[:2]) < UPSAMPLE_BELOW else 0
        faces = list(self.detector(image, upsample))
        if not faces:
            return None
        face = max(faces, key=lambda r: r.area())
        shape = self.landmarks(image, face)
        return np.asarray(self.recognizer.compute_face_descriptor(image, shape), dtype=np.float64)


_lock = threading.Lock()
_loaded: list[FaceEmbedder] = []


def face_embedder() -> FaceEmbedder:
    """The process-wide embedder (the weights load once, about 30 MB)."""
    with _lock:
        if not _loaded:
            try:
                import dlib
            except ImportError:
                raise _missing("dlib (the prebuilt dlib-bin wheel)") from None
            folder = model_folder()
            _loaded.append(
                FaceEmbedder(
                    dlib.get_frontal_face_detector(),
                    dlib.shape_predictor(str(folder / LANDMARK_MODEL)),
                    dlib.face_recognition_model_v1(str(folder / RECOGNITION_MODEL)),
                )
            )
        return _loaded[0]


def sample_frame_indices(frame_count: int, samples: int) -> list[int]:
    """Evenly spaced frame indices (first and last included) — at most `samples`, at most every frame."""
    if frame_count <= 0 or samples <= 0:
        return []
    if samples >= frame_count:
        return list(range(frame_count))
    if samples == 1:
        return [0]
    return sorted({round(i * (frame_count - 1) / (samples - 1)) for i in range(samples)})


def sampled_frames(path: Path, samples: int) -> Iterator[tuple[int, np.ndarray]]:
    """(index, RGB frame) for evenly spaced frames of a clip, decoded one at a time."""
    wanted = set(sample_frame_indices(probe_video(path).frame_count, samples))
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for index, frame in enumerate(container.decode(stream)):
            if index in wanted:
                yield index, frame.to_ndarray(format="rgb24")
            if index >= max(wanted, default=-1):
                return
