"""Test doubles for the ComfyUI host, driven by node definitions captured from the real server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"


def captured_node_defs() -> dict[str, dict[str, Any]]:
    """The /object_info entries of the nodes our presets use, captured from ComfyUI 0.3.75 with the pack."""
    return json.loads((DATA / "node_defs.json").read_text(encoding="utf-8"))


def third_party_node_defs() -> dict[str, dict[str, Any]]:
    """The /object_info entries ComfyUI would serve for the optional packs some variants are built on
    (kijai/ComfyUI-LivePortraitKJ, cubiq/PuLID_ComfyUI), written from their INPUT_TYPES; never installed."""
    packs = ("liveportrait_node_defs.json", "pulid_node_defs.json")
    return {k: v for pack in packs for k, v in json.loads((DATA / pack).read_text(encoding="utf-8")).items()}


class FakeComfyHost:
    """Records what the pipeline queues; validation checks node types and linked outputs like ComfyUI."""

    def __init__(self, input_dir: Path, output_dir: Path) -> None:
        self.input_dir = input_dir
        self.output_dir = output_dir
        self.defs = captured_node_defs()
        self.queued: list[dict[str, Any]] = []
        self.cancelled: list[str] = []
        self.running: set[str] = set()

    def node_definitions(self) -> dict[str, dict[str, Any]]:
        return self.defs

    async def validate(self, prompt_id: str, prompt: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        for node_id, node in prompt.items():
            assert node["class_type"] in self.defs, node
            for value in node["inputs"].values():
                if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                    assert value[0] in prompt, f"{node_id} links to missing node {value[0]}"
        return [k for k, v in prompt.items() if self.defs[v["class_type"]].get("output_node")], {}

    def enqueue(self, prompt_id: str, prompt: dict, extra_data: dict, outputs: list[str]) -> None:
        self.queued.append(
            {"prompt_id": prompt_id, "prompt": prompt, "extra_data": extra_data, "outputs": outputs}
        )

    def cancel(self, prompt_id: str) -> str:
        self.cancelled.append(prompt_id)
        return "interrupted" if prompt_id in self.running else "dequeued"

    def resolve_output(self, filename: str, subfolder: str, folder_type: str) -> Path | None:
        return self.output_dir / subfolder / filename


class FakePackTree:
    """A fake ComfyUI tree (custom_nodes, models/<kind>) and the node class names it registered."""

    def __init__(self, root: Path) -> None:
        self.custom_nodes, self.models = root / "custom_nodes", root / "models"
        self.custom_nodes.mkdir(parents=True)
        self.registered: set[str] = {"LoadImage", "LoadVideo", "KSampler"}

    def install(self, folder: str, library: str, nodes: set[str], weights: dict[str, str]) -> None:
        """A pack's folder (with its library sub-folder), its registered node names, and weights by kind."""
        (self.custom_nodes / folder / library).mkdir(parents=True)
        (self.custom_nodes / folder / "__init__.py").write_text("", encoding="utf-8")
        self.registered |= nodes
        for kind, name in weights.items():
            path = self.models / kind / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"\0weights")

    def adapter(self):
        """The face identity packs' adapter over this tree."""
        from ainfluencer.sidecar.remote.adapters.identity_packs import IdentityPacksAdapter

        return IdentityPacksAdapter(
            lambda: set(self.registered), lambda: [self.custom_nodes], lambda kind: [self.models / kind]
        )
