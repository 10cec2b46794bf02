"""The server-side converter must build exactly the prompt the real editor builds (`app.graphToPrompt()`).

Every UI graph shipped in `workflows/` and every oracle graph in `tests/data/convert/oracle/` is loaded
into the editor of the ComfyUI at `comfy_url` (headless chromium) and compared with `ui_to_api()`.
A shipped workflow that cannot be checked (the server lacks one of its node types, or the converter
refuses it) fails the test: shipping it unchecked is not an option.
"""

from __future__ import annotations

import difflib
import json
import random
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest
from ainfluencer.sidecar.graph.convert import RENAMED_TYPES, VIRTUAL_TITLES, ui_to_api
from ainfluencer.sidecar.jobs.presets import preset_files
from browser_oracle import BrowserOracleError, browser_graph_to_prompt

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
ORACLE_DIR = Path(__file__).resolve().parent / "data" / "convert" / "oracle"
# Pinned for both sides: Math.random() during graphToPrompt, and the clock for %date:...% prefixes.
RANDOM_VALUES = [0.0, 0.5, 0.99, 0.25, 0.75, 0.4]
FIXED_TIME_S = 1_746_515_289  # 2025-05-06 07:08:09 UTC


def _is_api_prompt(data: object) -> bool:
    """An API-format prompt (`{"id": {"class_type": ...}}`) is already converted: nothing to check."""
    return (
        isinstance(data, dict)
        and bool(data)
        and all(isinstance(v, dict) and "class_type" in v for v in data.values())
    )


# Variants built on an optional third-party node pack the test server does not have: their conversion is
# checked against that pack's captured definitions instead (tests/test_preset_liveportrait.py,
# tests/test_identity_local_variant.py).
THIRD_PARTY_PACK_VARIANTS = ("@provider_liveportrait", "identity_lock_portrait_v1@local_comfy")


def _graph_files() -> list[Path]:
    shipped = [
        p
        for p in preset_files(REPO / "workflows")
        if not _is_api_prompt(_load(p)) and not p.stem.endswith(THIRD_PARTY_PACK_VARIANTS)
    ]
    return shipped + sorted(ORACLE_DIR.glob("*.json"))


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _missing_types(graph: dict, node_defs: dict) -> list[str]:
    if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list):
        return ["<not a UI-format graph: no nodes list>"]
    types = {n.get("type") for n in graph["nodes"] if isinstance(n, dict)}
    types = {RENAMED_TYPES.get(t, t) for t in types}
    return sorted(str(t) for t in types if t not in node_defs and t not in VIRTUAL_TITLES)


class _CycleRandom(random.Random):
    """random() walks RANDOM_VALUES, exactly like the Math.random the oracle installs."""

    def __init__(self) -> None:
        super().__init__()
        self._i = 0

    def random(self) -> float:
        value = RANDOM_VALUES[self._i % len(RANDOM_VALUES)]
        self._i += 1
        return value


# DOM preview widgets the editor adds once a clip has loaded in the page (timing-dependent, not in the
# node's definition, ignored by ComfyUI's validation): not part of what the converter must reproduce.
EDITOR_PREVIEW_KEYS = ("video-preview",)


def _without_previews(prompt: dict) -> dict:
    for node in prompt.values():
        for key in EDITOR_PREVIEW_KEYS:
            node.get("inputs", {}).pop(key, None)
    return prompt


def _canonical(prompt: dict) -> list[str]:
    return json.dumps(prompt, indent=1, sort_keys=True, ensure_ascii=False).splitlines()


@pytest.fixture(scope="module")
def node_defs(comfy_url: str) -> dict:
    with urllib.request.urlopen(f"{comfy_url.rstrip('/')}/object_info", timeout=60) as resp:
        return json.loads(resp.read())


@pytest.fixture(scope="module")
def editor_prompts(comfy_url: str, node_defs: dict) -> dict[Path, dict]:
    """What the editor makes of every checkable graph, in one browser session."""
    paths = [p for p in _graph_files() if not _missing_types(_load(p), node_defs)]
    try:
        outputs = browser_graph_to_prompt(
            comfy_url, [_load(p) for p in paths], random_values=RANDOM_VALUES, fixed_time_s=FIXED_TIME_S
        )
    except BrowserOracleError as exc:
        pytest.fail(f"{paths[exc.index].name}: {exc}", pytrace=False)
    return dict(zip(paths, outputs, strict=True))


def test_oracle_graphs_exist() -> None:
    assert len(list(ORACLE_DIR.glob("*.json"))) >= 4


@pytest.mark.parametrize("path", _graph_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_converter_matches_editor(
    path: Path, comfy_url: str, node_defs: dict, editor_prompts: dict[Path, dict]
) -> None:
    graph = _load(path)
    missing = _missing_types(graph, node_defs)
    if missing:
        pytest.fail(
            f"{path.name} uses node types the ComfyUI at {comfy_url} does not have: {missing}; "
            "it cannot be checked against the editor (run this test against a ComfyUI with those packs)",
            pytrace=False,
        )
    ours = ui_to_api(graph, node_defs, rng=_CycleRandom(), now=datetime.fromtimestamp(FIXED_TIME_S))
    theirs = _without_previews(json.loads(json.dumps(editor_prompts[path])))
    ours = json.loads(json.dumps(ours))
    if _canonical(ours) != _canonical(theirs):
        diff = "\n".join(
            difflib.unified_diff(
                _canonical(theirs), _canonical(ours), "editor graphToPrompt()", "ui_to_api()", lineterm=""
            )
        )
        pytest.fail(f"{path.name}: ui_to_api() differs from the editor:\n{diff}", pytrace=False)
