"""Follows ComfyUI executions and keeps job rows, progress, logs and artifacts in step."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import AInfError, ErrorCode
from ..core.partial_files import is_partial
from ..jobs.store import CANCELLED, COMPLETED, FAILED, JobStore
from .progress import FramePass, FrameProgress, frame_fields, frame_pass_nodes, node_weights

PACK_NODE_PREFIX = "AInfluencer"
_PROGRESS_WRITE_INTERVAL_S = 0.5
_MEDIA_KINDS = {
    ".mp4": "video", ".webm": "video", ".mov": "video", ".mkv": "video", ".gif": "video",
    ".png": "image", ".jpg": "image", ".jpeg": "image", ".webp": "image",
    ".wav": "audio", ".flac": "audio", ".mp3": "audio", ".m4a": "audio", ".ogg": "audio",
}  # fmt: skip


@dataclass
class _Run:
    job_id: str
    weights: dict[str, float]  # each node's share of the job's progress (progress.node_weights)
    frame_nodes: frozenset[str]  # the nodes whose progress bar counts frames of a streamed pass
    node_fraction: dict[str, float] = field(default_factory=dict)
    frames: FramePass | None = None  # the streamed video pass under way, if any
    last_write: float = 0.0
    last_fraction: float = 0.0
    cancel_requested: bool = False

    def fraction(self) -> float:
        """The job's progress: each node's own fraction times its share, kept under 1 until the job ends."""
        return min(sum(self.weights.get(n, 0.0) * f for n, f in self.node_fraction.items()), 0.99)


def holds_pack_nodes(prompt: dict[str, Any]) -> bool:
    """True when an API prompt contains at least one AInfluencer node."""
    return any(
        str(n.get("class_type", "")).startswith(PACK_NODE_PREFIX)
        for n in prompt.values()
        if isinstance(n, dict)
    )


class ExecutionTracker:
    """Receives queue and execution events (from `comfy_bridge`) and updates the job store."""

    def __init__(
        self,
        store: JobStore,
        resolve_output: Callable[[str, str, str], Path | None],
        *,
        save_prompt: Callable[[str, dict[str, Any], dict[str, Any], list[str]], None] | None = None,
        step_error: Callable[[str, str], AInfError | None] | None = None,
        interrupt: Callable[[], None] | None = None,
        on_cached: Callable[[str, list[str]], Any] | None = None,
        listeners: tuple[Callable[[str, dict[str, Any]], None], ...] = (),
    ) -> None:
        self.store = store
        self.resolve_output = resolve_output  # (filename, subfolder, type) -> path inside ComfyUI's folders
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()
        self.listeners = listeners  # each gets every job event (the host's broadcast to the editor)
        # keeps an editor job's prompt so it can be queued again after a restart (RemoteSteps.save_prompt)
        self.save_prompt = save_prompt
        # ComfyUI's interrupt (the host's); re-sent while a cancelled prompt still reports progress,
        # because ComfyUI clears the interrupt flag when it starts executing a prompt
        self.interrupt = interrupt
        # the taxonomy error a remote node failed with (RemoteSteps.step_error), kept as the job's error
        self.step_error = step_error
        # told which nodes ComfyUI took from its cache (CachedResults.note_cached: a remote result reused)
        self.on_cached = on_cached

    # queue hooks ---------------------------------------------------------------------------------
    def on_queued(
        self,
        prompt_id: str,
        prompt: dict[str, Any],
        extra_data: dict[str, Any],
        outputs: list[str] | None = None,
    ) -> None:
        """A prompt entered ComfyUI's queue; editor prompts with pack nodes become jobs too."""
        job_id = self.store.job_id_for_prompt(prompt_id)
        if job_id is None and holds_pack_nodes(prompt):
            workflow = (extra_data.get("extra_pnginfo") or {}).get("workflow") or {}
            manifest = (workflow.get("extra") or {}).get("ainfluencer") or {}
            job_id = self.store.create(
                source="editor",
                preset_id=manifest.get("id") if isinstance(manifest, dict) else None,
                inputs={},
                prompt_id=prompt_id,
                engine="local_comfy",
            )
            if self.save_prompt is not None:
                self.save_prompt(job_id, prompt, extra_data, list(outputs or []))
        if job_id is not None:
            with self._lock:
                self._runs[prompt_id] = _Run(job_id, node_weights(prompt), frame_pass_nodes(prompt))

    def on_started(self, prompt_id: str) -> None:
        """The worker picked the prompt up."""
        run = self._runs.get(prompt_id)
        if run:
            self.store.mark_running(run.job_id)
            self._emit(run.job_id, "running")

    def on_event(self, event: str, data: Any) -> None:
        """A server event: `progress_state` (every node's state) or `progress` (one node's bar)."""
        if not isinstance(data, dict):
            return
        run = self._runs.get(str(data.get("prompt_id")))
        if run is None:
            return
        if run.cancel_requested and self.interrupt is not None:
            self.interrupt()  # a cancel that landed before execution began must still stop it
        if event == "progress_state":
            for node_id, state in (data.get("nodes") or {}).items():
                if state.get("state") == "finished":
                    run.node_fraction[str(node_id)] = 1.0
                elif state.get("max"):
                    run.node_fraction[str(node_id)] = float(state.get("value", 0)) / float(state["max"])
        elif event == "progress" and data.get("max") and data.get("node") is not None:
            run.node_fraction[str(data["node"])] = float(data.get("value", 0)) / float(data["max"])
            if str(data["node"]) in run.frame_nodes:
                self._count_frames(run, str(data["node"]), int(data.get("value", 0)), int(data["max"]))
        else:
            return
        fraction = run.fraction()
        now = time.monotonic()
        if now - run.last_write >= _PROGRESS_WRITE_INTERVAL_S or fraction - run.last_fraction >= 0.05:
            run.last_write, run.last_fraction = now, fraction
            self._write_progress(run, fraction)

    def _count_frames(self, run: _Run, node_id: str, done: int, total: int) -> None:
        """A frame pass's bar moved: the frames it has done (a new pass when another node reports)."""
        if run.frames is None or run.frames.node_id != node_id:
            run.frames = FramePass.start(node_id, done, total)
        else:
            run.frames.update(done, total)

    def _write_progress(self, run: _Run, fraction: float) -> None:
        """Store and broadcast the job's progress, with the frames and ETA of a streamed pass under way."""
        frames = self.frames_of(run)
        if frames is not None:
            text = frames.text()
        else:
            running = [n for n, f in run.node_fraction.items() if f < 1.0]
            text = f"node {running[-1]}" if running else None
        self.store.set_progress(run.job_id, fraction, text)
        self._emit(run.job_id, "progress", progress=fraction, **frame_fields(frames))

    def frames_of(self, run: _Run) -> FrameProgress | None:
        """The streamed pass a run is in, while its frames are not all done."""
        if run.frames is None or run.node_fraction.get(run.frames.node_id, 0.0) >= 1.0:
            return None
        return run.frames.progress()

    def live_frames(self, job_id: str) -> FrameProgress | None:
        """The streamed pass a running job is in (frames done / total, ETA), or None."""
        with self._lock:
            runs = [r for r in self._runs.values() if r.job_id == job_id]
        return self.frames_of(runs[0]) if runs else None

    def request_cancel(self, prompt_id: str) -> None:
        """Remember that the user cancelled, so an interruption ends as `cancelled`."""
        run = self._runs.get(prompt_id)
        if run:
            run.cancel_requested = True

    def on_removed(self, prompt_id: str) -> None:
        """A queued prompt was deleted from the queue before it ran."""
        with self._lock:
            run = self._runs.pop(prompt_id, None)
        if run and self.store.finish(run.job_id, CANCELLED):
            self._emit(run.job_id, CANCELLED)

    def on_done(self, prompt_id: str, outputs: dict[str, Any], status: dict[str, Any] | None) -> None:
        """The worker finished the prompt: record artifacts and the final state."""
        with self._lock:
            run = self._runs.pop(prompt_id, None)
        if run is None:
            return
        messages = (status or {}).get("messages") or []
        events = {name: data for name, data in messages if isinstance(data, dict)}
        cached = events.get("execution_cached", {}).get("nodes") or []
        if cached and self.on_cached is not None:  # before the job's end settles its holds
            self.on_cached(run.job_id, [str(n) for n in cached])
        if status and status.get("status_str") == "success":
            self._record_outputs(run.job_id, outputs)
            self.store.finish(run.job_id, COMPLETED)
            self._emit(run.job_id, COMPLETED)
        elif "execution_interrupted" in events:
            info = events["execution_interrupted"]
            if run.cancel_requested:
                self.store.finish(run.job_id, CANCELLED)
                self._emit(run.job_id, CANCELLED)
            else:
                error = AInfError(
                    ErrorCode.EXECUTION_FAILED,
                    "The run was interrupted in ComfyUI.",
                    remediation=["Run the preset again."],
                    detail={"node_id": info.get("node_id"), "node_type": info.get("node_type")},
                )
                self.store.finish(run.job_id, FAILED, error)
                self._emit(run.job_id, FAILED)
        else:
            info = events.get("execution_error", {})
            error = AInfError(
                ErrorCode.EXECUTION_FAILED,
                f"Node {info.get('node_type', '?')} ({info.get('node_id', '?')}) failed: "
                f"{info.get('exception_message', 'unknown error')}".strip(),
                detail={
                    "node_id": info.get("node_id"),
                    "node_type": info.get("node_type"),
                    "exception_type": info.get("exception_type"),
                    "exception_message": info.get("exception_message"),
                },
            )
            if self.step_error is not None and info.get("node_id") is not None:
                error = self.step_error(run.job_id, str(info["node_id"])) or error
            self.store.log(run.job_id, "error", "traceback", traceback=info.get("traceback"))
            self.store.finish(run.job_id, FAILED, error)
            self._emit(run.job_id, FAILED)

    # helpers -------------------------------------------------------------------------------------
    def _record_outputs(self, job_id: str, outputs: dict[str, Any]) -> None:
        for node_id, ui in (outputs or {}).items():
            if not isinstance(ui, dict):
                continue
            for key in ("images", "video", "videos", "gifs", "audio"):
                for item in ui.get(key) or []:
                    if not isinstance(item, dict) or "filename" not in item:
                        continue
                    folder_type = item.get("type", "output")
                    if folder_type != "output":
                        continue
                    path = self.resolve_output(item["filename"], item.get("subfolder", ""), folder_type)
                    if path is None or not path.is_file() or is_partial(path):
                        self.store.log(job_id, "warning", "output file missing", file=item["filename"])
                        continue
                    self.store.add_artifact(
                        job_id,
                        path,
                        kind=_MEDIA_KINDS.get(path.suffix.lower(), "file"),
                        filename=item["filename"],
                        subfolder=item.get("subfolder", ""),
                        folder_type=folder_type,
                        node_id=str(node_id),
                    )

    def _emit(self, job_id: str, status: str, **extra: Any) -> None:
        for listener in self.listeners:
            listener("ainfluencer.job", {"job_id": job_id, "status": status, **extra})
