"""User-installed ComfyUI node packs as keyless local engines: detected by folder, file and node names only.

A pack runs as its own nodes inside a ComfyUI graph, so an adapter here offers no generation call. It only
answers whether a pack of its family is usable and, when not, exactly what is missing and what the user must
do, including a licence trap (weights that may not be used commercially) the user should know before use.
Nothing here imports, opens or executes anything from a pack or a weight folder: it lists folder names,
checks that named paths exist, and reads ComfyUI's registered node class names.

- ComfyUI skips custom-node folders whose name ends in `.disabled` (nodes.py, init_external_custom_nodes);
  ComfyUI-Manager disables a pack that way or by moving it under `custom_nodes/.disabled/`. Registry
  installs name the folder in lower case, sometimes with `@<version>` (hence `_folder_key`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ...core.errors import AInfError, ErrorCode
from .base import EngineAdapter
from .local_comfy import loaded_module

_VERSION_SUFFIX = re.compile(r"(@.*|-(main|master))$")
PICKLE_CAUTION = " (a pickle-format file: take it only from that source)"


@dataclass(frozen=True)
class WeightFile:
    """One weight the pack loads: accepted paths relative to a weight folder, the first is the one we name."""

    label: str
    paths: tuple[str, ...]

    @property
    def name(self) -> str:
        """The file name we tell the user to put in place."""
        return self.paths[0]


@dataclass(frozen=True)
class PackSpec:
    """A node pack: its folder name, the nodes it registers, the files it reads and where they come from.

    `weights` live in the `weights_kind` model folder, the optional `detector` files in `detector_kind`;
    `licence` is the trap the user must know before running it (empty when there is none); `called_by`
    names our own nodes that call the pack's required nodes from inside (a graph with one needs the pack).
    """

    id: str
    name: str
    author: str
    library_folder: str
    required_nodes: tuple[str, ...]
    known_nodes: tuple[str, ...]
    weights: tuple[WeightFile, ...]
    weights_kind: str
    weights_source: str
    detector: WeightFile | None = None
    detector_kind: str = ""
    detector_source: str = ""
    detector_caution: str = ""
    licence: str = ""
    called_by: tuple[str, ...] = ()

    @property
    def repo(self) -> str:
        """The pack's GitHub repository (every pack here is published there under author/name)."""
        return f"https://github.com/{self.author}/{self.name}"

    @property
    def folder_names(self) -> tuple[str, ...]:
        """The folder names it installs under, compared by `_folder_key` (the registry lowercases them)."""
        return (self.name.lower(),)


@dataclass(frozen=True)
class PackFamily:
    """Interchangeable packs for one job (LivePortrait, face identity): the engine and how it is named."""

    engine_id: str
    title: str  # "LivePortrait": "no LivePortrait node pack is installed", "LivePortrait ready: …"
    packs: tuple[PackSpec, ...]  # every pack of the family, named when none is installed


NodeClasses = Callable[[], set[str]]
Folders = Callable[[], list[Path]]
KindFolders = Callable[[str], list[Path]]  # model folder kind → the folders a pack reads it from


def _folder_key(name: str) -> str:
    """A custom-node folder name compared the way packs are installed (case, `.disabled`, `@ver`, `-main`)."""
    key = name.lower().removesuffix(".disabled")
    return _VERSION_SUFFIX.sub("", key)


def _present(folder: Path, relative: str) -> bool:
    """A non-empty file exists at folder/relative (existence and size only; never opened)."""
    try:
        path = folder / relative
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


class NodePackAdapter(EngineAdapter):
    """Detects a user-installed pack of one family and its weights; the work runs as graph nodes."""

    def __init__(
        self,
        family: PackFamily,
        node_classes: NodeClasses,
        custom_nodes_dirs: Folders,
        kind_dirs: KindFolders,
        packs: tuple[PackSpec, ...] | None = None,
    ) -> None:
        super().__init__(None)
        self.engine_id = family.engine_id
        self.family = family
        self.packs = packs or family.packs  # which packs count as installed (a shipped graph may need one)
        self.node_classes = node_classes
        self.custom_nodes_dirs = custom_nodes_dirs
        self.kind_dirs = kind_dirs

    # -- detection --------------------------------------------------------------------------------
    def _pack_folders(self, spec: PackSpec, roots: list[Path]) -> list[tuple[Path, bool]]:
        found: list[tuple[Path, bool]] = []
        for root in roots:
            for parent, disabled_parent in ((root, False), (root / ".disabled", True)):
                try:
                    entries = sorted(p for p in parent.iterdir() if p.is_dir())
                except OSError:
                    continue
                for entry in entries:
                    if _folder_key(entry.name) in spec.folder_names:
                        found.append((entry, disabled_parent or entry.name.lower().endswith(".disabled")))
        found.sort(key=lambda item: item[1])  # an enabled copy first
        return found

    def _missing_files(self, files: tuple[WeightFile, ...], folders: list[Path] | None) -> list[str] | None:
        if folders is None:
            return None  # the folders could not be listed: unknown, not missing
        return [w.name for w in files if not any(_present(f, rel) for f in folders for rel in w.paths)]

    def _inspect(self, spec: PackSpec, roots: list[Path], registered: set[str] | None) -> dict[str, Any]:
        weight_dirs = _attempt(lambda: _dedupe(self.kind_dirs(spec.weights_kind)))
        detector_dirs = _attempt(lambda: _dedupe(self.kind_dirs(spec.detector_kind))) if spec.detector else []
        folders = self._pack_folders(spec, roots)
        folder, disabled = folders[0] if folders else (None, False)
        nodes_registered = sorted(n for n in spec.known_nodes if registered and n in registered)
        nodes_missing = [n for n in spec.required_nodes if registered is None or n not in registered]
        distinctive = len(nodes_missing) < len(spec.required_nodes)  # generic names alone prove nothing
        found_by = (["folder"] if folder else []) + (["nodes"] if distinctive else [])
        weights_missing = self._missing_files(spec.weights, weight_dirs)
        detector_missing = self._missing_files((spec.detector,), detector_dirs) if spec.detector else []
        incomplete = []
        if folder is not None and not disabled and nodes_missing:
            incomplete = [n for n in ("__init__.py", spec.library_folder) if not (folder / n).exists()]
        return {
            "id": spec.id,
            "name": spec.name,
            "author": spec.author,
            "repo": spec.repo,
            "folder": str(folder) if folder else None,
            "disabled": disabled,
            "found_by": found_by,
            "nodes_registered": nodes_registered,
            "nodes_missing": nodes_missing,
            "incomplete": incomplete,
            "weights_folder": _first(weight_dirs, spec.weights_kind),
            "weights_missing": weights_missing,
            "detector_folder": _first(detector_dirs, spec.detector_kind),
            "detector_missing": detector_missing,
            "licence": spec.licence,
            "ready": registered is not None
            and not nodes_missing
            and weights_missing == [] == detector_missing,
        }

    def detect(self) -> dict[str, Any]:
        """Which pack is installed, which of its nodes registered, exactly what is missing, and the fix."""
        registered = _attempt(lambda: set(self.node_classes()))
        roots = _attempt(lambda: _dedupe(self.custom_nodes_dirs()))
        reports = [self._inspect(spec, roots or [], registered) for spec in self.packs]
        ready = [r for r in reports if r["ready"]]
        present = [r for r in reports if r["found_by"]]
        chosen = (ready or present or [None])[0]
        missing: list[dict[str, Any]] = []
        remediation: list[str] = []
        if not ready:
            if registered is None:
                missing.append(
                    {
                        "kind": "comfyui_offline",
                        "message": "ComfyUI is not running in this process, so its nodes cannot be read",
                    }
                )
                remediation.append(
                    "Start AInfluencer inside ComfyUI (`ainfluencer serve`), then check again."
                )
            if present or registered is not None or roots is not None:  # else absence cannot be told
                for report in present or [reports[0]]:
                    self._explain(report, bool(present), registered is not None, missing, remediation)
        return {
            "installed": bool(ready),
            "pack": _pack_summary(chosen),
            "packs": reports,
            "nodes_registered": sorted({n for r in reports for n in r["nodes_registered"]}),
            "missing": missing,
            "remediation": remediation,
            "licence": [r["licence"] for r in (ready or present or reports[:1]) if r["licence"]],
        }

    def require_installed(self) -> dict[str, Any]:
        """The detect() result when a pack is ready; DEPENDENCY_MISSING naming what is missing otherwise."""
        found = self.detect()
        if found["installed"]:
            return found
        raise self.dependency_error(found)

    def dependency_error(self, found: dict[str, Any], context: str = "") -> AInfError:
        """DEPENDENCY_MISSING with every missing item, its fix, and the licence trap of the packs named."""
        reasons = "; ".join(item["message"] for item in found["missing"])
        return AInfError(
            ErrorCode.DEPENDENCY_MISSING,
            f"{context}{self.family.title} is not ready: {reasons}",
            remediation=found["remediation"] + found["licence"],
            detail={"engine": self.engine_id, "pack": found["pack"], "missing": found["missing"]},
        )

    def packs_providing(self, node_types: set[str]) -> tuple[PackSpec, ...]:
        """The family's packs that register any of these node classes."""
        return tuple(p for p in self.family.packs if node_types & set(p.known_nodes))

    def called_nodes(self, node_types: set[str]) -> set[str]:
        """The pack nodes that our nodes among `node_types` call from inside (not wired in the graph)."""
        return {n for p in self.family.packs if node_types & set(p.called_by) for n in p.required_nodes}

    def missing_nodes_error(self, node_types: set[str]) -> AInfError | None:
        """DEPENDENCY_MISSING for unregistered graph nodes a pack of this family provides, else None."""
        packs = self.packs_providing(node_types)
        if not packs:
            return None
        family = replace(self.family, packs=packs)
        needed = NodePackAdapter(family, self.node_classes, self.custom_nodes_dirs, self.kind_dirs)
        found = needed.detect()
        if found["installed"]:
            return None  # the pack looks complete on disk: the host's own node check names what it lacks
        nodes = ", ".join(sorted(node_types & {n for p in packs for n in p.known_nodes}))
        return needed.dependency_error(found, f"This graph needs {nodes} from {packs[0].repo}. ")

    def licence_notes(self, node_types: set[str]) -> list[str]:
        """The licence traps of the packs whose nodes a graph uses."""
        return list(dict.fromkeys(p.licence for p in self.packs_providing(node_types) if p.licence))

    def _explain(
        self, report: dict[str, Any], present: bool, nodes_known: bool, missing: list[dict], steps: list[str]
    ) -> None:
        """Append what is missing for one pack, and the exact fix, in the order the user has to do it."""
        name, pack_id = report["name"], report["id"]
        manager = f"In ComfyUI-Manager → Custom Nodes Manager, search '{name}' (by {report['author']})"
        if not present:
            others = [p for p in self.family.packs if p.id != pack_id]
            missing.append(
                {
                    "kind": "pack_not_installed",
                    "pack": None,
                    "message": f"no {self.family.title} node pack is installed ("
                    + " or ".join(p.name for p in self.family.packs)
                    + ")",
                }
            )
            also = " ".join(f"{p.name} (by {p.author}) works too." for p in others)
            steps.append(f"{manager}, install it, then restart ComfyUI ({report['repo']}). {also}".rstrip())
        elif report["disabled"] and report["nodes_missing"]:
            missing.append(
                {
                    "kind": "pack_disabled",
                    "pack": pack_id,
                    "folder": report["folder"],
                    "message": f"{name} is installed but disabled ({report['folder']})",
                }
            )
            steps.append(
                f"{manager} and enable it (or move the folder back into custom_nodes without the '.disabled' "
                "suffix), then restart ComfyUI."
            )
        elif not nodes_known:
            pass  # ComfyUI is not running here: the offline entry says so; the files can still be checked
        elif report["nodes_missing"] and report["folder"]:
            _not_registered(report, manager, missing, steps)
        elif report["nodes_missing"]:
            missing.append(
                {
                    "kind": "nodes_not_registered",
                    "pack": pack_id,
                    "nodes": report["nodes_missing"],
                    "message": f"{name} registered only some of its nodes; missing "
                    f"{', '.join(report['nodes_missing'])}",
                }
            )
            steps.append(f"{manager} and update it to the current version, then restart ComfyUI.")
        self._explain_files(report, missing, steps)

    def _explain_files(self, report: dict[str, Any], missing: list[dict], steps: list[str]) -> None:
        spec = next(p for p in self.packs if p.id == report["id"])
        kinds = (
            ("weights", "weights", spec.weights_source, ""),
            ("detector", "face detector", spec.detector_source, spec.detector_caution),
        )
        for prefix, label, source, caution in kinds:
            files = report[f"{prefix}_missing"]
            if not files:
                continue
            folder = report[f"{prefix}_folder"]
            missing.append(
                {
                    "kind": "weights_missing",
                    "pack": report["id"],
                    "folder": folder,
                    "files": files,
                    "message": f"{report['name']} {label} missing in {folder}: {', '.join(files)}",
                }
            )
            steps.append(f"Download {', '.join(files)} from {source} into {folder}{caution}.")

    # -- EngineAdapter ----------------------------------------------------------------------------
    async def health_check(self, api_key: str | None = None) -> dict[str, Any]:
        """{'ok': installed, 'message': ...} plus the pack, what is missing and the licence trap (no key)."""
        found = await asyncio.to_thread(self.detect)
        title = self.family.title
        if found["installed"]:
            pack = found["pack"]
            message = f"{title} ready: {pack['name']} by {pack['author']} with its weights."
        else:
            message = f"{title} not ready: " + "; ".join(item["message"] for item in found["missing"])
        if found["licence"]:
            message += " " + " ".join(found["licence"])
        return {
            "ok": found["installed"],
            "message": message,
            "pack": found["pack"],
            "missing": found["missing"],
            "remediation": found["remediation"],
            "licence": found["licence"],
        }


def _not_registered(report: dict[str, Any], manager: str, missing: list[dict], steps: list[str]) -> None:
    """The pack's folder is there but its nodes did not register: restart, read the import log, reinstall."""
    name, pack_id = report["name"], report["id"]
    missing.append(
        {
            "kind": "nodes_not_registered",
            "pack": pack_id,
            "folder": report["folder"],
            "nodes": report["nodes_missing"],
            "message": f"{name} is in {report['folder']} but ComfyUI did not register its nodes "
            f"{', '.join(report['nodes_missing'])}: restart ComfyUI or check its import log",
        }
    )
    steps.append(
        f"Restart ComfyUI; if the {name} nodes still do not appear, look in ComfyUI's start-up log for "
        f"'IMPORT FAILED' next to {report['folder']} (usually a missing Python dependency) and use "
        "'Try fix' on the pack in ComfyUI-Manager."
    )
    if report["incomplete"]:
        missing.append(
            {
                "kind": "pack_incomplete",
                "pack": pack_id,
                "folder": report["folder"],
                "files": report["incomplete"],
                "message": f"{name}'s folder lacks {', '.join(report['incomplete'])}",
            }
        )
        steps.append(f"{manager} and reinstall it (its folder is incomplete).")


def _first(folders: list[Path] | None, kind: str) -> str:
    """The folder we tell the user to put `kind` weights in."""
    return str(folders[0]) if folders else f"ComfyUI/models/{kind}"


def _pack_summary(report: dict[str, Any] | None) -> dict[str, Any] | None:
    if report is None:
        return None
    keys = ("id", "name", "author", "repo", "folder", "disabled", "found_by")
    return {key: report[key] for key in keys}


def _attempt(reader: Callable[[], Any]) -> Any:
    """A reader's answer, or None when it failed (ComfyUI not running, folder API missing)."""
    try:
        return reader()
    except Exception:
        return None


def _dedupe(folders: list[Path]) -> list[Path]:
    out: list[Path] = []
    for folder in folders:
        path = Path(folder)
        if path not in out:
            out.append(path)
    return out


# -- production callables: the live ComfyUI, looked up at call time, never imported here -------------
def comfy_node_classes() -> set[str]:
    """The node class names the running ComfyUI registered."""
    return set(loaded_module("nodes").NODE_CLASS_MAPPINGS)


def comfy_node_class(name: str) -> Any | None:
    """The class the running ComfyUI registered under `name` (a pack's node our node calls), or None."""
    return loaded_module("nodes").NODE_CLASS_MAPPINGS.get(name)


def comfy_custom_nodes_dirs() -> list[Path]:
    """The running ComfyUI's custom_nodes folders."""
    return [Path(p) for p in loaded_module("folder_paths").get_folder_paths("custom_nodes")]


def comfy_kind_dirs(kind: str) -> list[Path]:
    """The folders a pack reads `kind` weights from: `<models_dir>/<kind>`, then a registered `kind` path."""
    folder_paths = loaded_module("folder_paths")
    out = [Path(folder_paths.models_dir) / kind]
    if kind in getattr(folder_paths, "folder_names_and_paths", {}):
        out.extend(Path(p) for p in folder_paths.get_folder_paths(kind)[:1])
    return out
