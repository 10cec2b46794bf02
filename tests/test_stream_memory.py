"""Specification: a long-lived process (ComfyUI) that renders streamed passes again and again stays flat.

Each render runs in a fresh interpreter here, so the figures are that process's own resident memory
(``/proc/self/statm``) after each run, not the test session's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from ainfluencer.comfy_nodes.polish.synth import make_frames, make_tone, write_clip

RUNS = 8
SETTLED = 2  # the first runs build the colour tables of both settings; they are kept for the next runs
GROWTH_BOUND_MB = 64  # well under one colour table (64 MiB) or one chunk of 1080p frames

_SCRIPT = """
import json, sys
from pathlib import Path
from ainfluencer.comfy_nodes.polish.passes import GradePass, GrainPass, ToneMapPass
from ainfluencer.comfy_nodes.polish.stream_plan import StreamPlan

clip, out, runs = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
settings = [
    (GradePass("cinematic", 0.7), ToneMapPass("reinhard", 0.0, 1.0), GrainPass(0.3, 1.0, 0.0, 0)),
    (GradePass("cinematic", 0.85), ToneMapPass("reinhard", 0.35, 1.2746), GrainPass(0.35, 1.25, 0.15, 7)),
]
resident = []
for run in range(runs):
    StreamPlan(clip, settings[run % 2]).render(out)
    resident.append(int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 1e6)
print(json.dumps(resident))
"""


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("memory")
    return write_clip(folder / "clip.mp4", make_frames(24, 360, 640, seed=3), 24, audio=make_tone(1.0))


def test_rendering_again_and_again_in_one_process_does_not_grow_its_memory(clip, tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(clip), str(tmp_path / "out.mp4"), str(RUNS)],
        check=True,
        capture_output=True,
        text=True,
    )
    resident = json.loads(done.stdout.strip().splitlines()[-1])
    growth = max(resident[SETTLED:]) - resident[SETTLED - 1]
    assert growth < GROWTH_BOUND_MB, f"resident MB after each run: {[round(r) for r in resident]}"
