"""The one module that touches ComfyUI's server internals, each use behind a version guard."""

from __future__ import annotations

import functools
import logging
import sys
import time
from pathlib import Path
from typing import Any

from ..core.errors import AInfError, ErrorCode
from ..runs.tracker import ExecutionTracker

log = logging.getLogger("ainfluencer")


def _module(name: str) -> Any:
    mod = sys.modules.get(name)
    if mod is None:
        raise AInfError(ErrorCode.ENGINE_OFFLINE, "ComfyUI is not running in this process.")
    return mod


def running_in_comfyui() -> bool:
    """True inside a ComfyUI server process (its `server.PromptServer.instance` exists)."""
    server = sys.modules.get("server")
    return getattr(getattr(server, "PromptServer", None), "instance", None) is not None


class ComfyBridge:
    """Node definitions, prompt validation, queueing, cancel and execution hooks of the host ComfyUI."""

    def __init__(self) -> None:
        self.server = _module("server").PromptServer.instance
        self.folder_paths = _module("folder_paths")
        self._node_defs: dict[str, dict[str, Any]] | None = None
        self._send: Any = None  # ComfyUI's own send_sync, kept when the hooks wrap it

    # folders -------------------------------------------------------------------------------------
    @property
    def input_dir(self) -> Path:
        """ComfyUI's input folder."""
        return Path(self.folder_paths.get_input_directory())

    @property
    def output_dir(self) -> Path:
        """ComfyUI's output folder."""
        return Path(self.folder_paths.get_output_directory())

    @property
    def user_dir(self) -> Path:
        """ComfyUI's user folder (our data lives in its `__ainfluencer`, which /userdata never serves)."""
        return Path(self.folder_paths.get_user_directory())

    def model_folders(self, folder: str) -> list[Path]:
        """The folders ComfyUI searches for one model kind (e.g. `checkpoints`, `upscale_models`)."""
        return [Path(p) for p in self.folder_paths.get_folder_paths(folder)]

    def model_files(self, folder: str) -> list[str]:
        """Model file names ComfyUI lists for one kind (what its loader combos offer)."""
        return list(self.folder_paths.get_filename_list(folder))

    def resolve_output(self, filename: str, subfolder: str, folder_type: str) -> Path | None:
        """Where ComfyUI wrote an output file (None if the name escapes the folder)."""
        base = Path(self.folder_paths.get_directory_by_type(folder_type) or self.output_dir).resolve()
        path = (base / subfolder / filename).resolve()
        return path if base in path.parents else None

    # node definitions ----------------------------------------------------------------------------
    def node_definitions(self) -> dict[str, dict[str, Any]]:
        """Every node's /object_info entry (input, input_order, outputs), built once."""
        if self._node_defs is None:
            nodes = _module("nodes")
            defs: dict[str, dict[str, Any]] = {}
            for name, cls in nodes.NODE_CLASS_MAPPINGS.items():
                try:
                    defs[name] = _node_info(cls)
                except Exception:  # a broken third-party node must not break our presets
                    log.warning("ainfluencer: could not read the definition of node %s", name)
            self._node_defs = defs
        return self._node_defs

    # prompts -------------------------------------------------------------------------------------
    async def validate(self, prompt_id: str, prompt: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        """Run ComfyUI's own prompt validation; returns the output node ids or raises GRAPH_INVALID."""
        execution = _module("execution")
        valid = await execution.validate_prompt(prompt_id, prompt, None)
        if not valid[0]:
            raise AInfError(
                ErrorCode.GRAPH_INVALID,
                f"ComfyUI refused the graph: {(valid[1] or {}).get('message', 'invalid prompt')}",
                detail={"error": valid[1], "node_errors": valid[3]},
            )
        return list(valid[2]), valid[3]

    def enqueue(
        self, prompt_id: str, prompt: dict[str, Any], extra_data: dict[str, Any], outputs: list[str]
    ) -> None:
        """Put a validated prompt on ComfyUI's queue, as `POST /prompt` does."""
        number = self.server.number
        self.server.number += 1
        extra = dict(extra_data)
        extra["create_time"] = int(time.time() * 1000)
        self.server.prompt_queue.put((number, prompt_id, prompt, extra, outputs, {}))

    def cancel(self, prompt_id: str) -> str:
        """Dequeue or interrupt a prompt; returns `dequeued`, `interrupted` or `gone`."""
        queue = self.server.prompt_queue
        running, _queued = queue.get_current_queue()
        if any(item[1] == prompt_id for item in running):
            _module("nodes").interrupt_processing()
            return "interrupted"
        if queue.delete_queue_item(lambda item: item[1] == prompt_id):
            return "dequeued"
        return "gone"

    def interrupt(self) -> None:
        """Interrupt whatever ComfyUI executes now (again, if a cancelled prompt has just started)."""
        _module("nodes").interrupt_processing(True)

    def broadcast(self, event: str, data: dict[str, Any]) -> None:
        """Send an event to every open editor through ComfyUI's own send (not our wrapper of it)."""
        (self._send or self.server.send_sync)(event, data, None)

    # hooks ---------------------------------------------------------------------------------------
    def install_hooks(self, tracker: ExecutionTracker) -> None:
        """Wrap the queue and the event sender so every execution reaches the tracker."""
        queue = self.server.prompt_queue
        for name in ("put", "get", "task_done", "delete_queue_item", "wipe_queue"):
            if not callable(getattr(queue, name, None)):
                raise AInfError(
                    ErrorCode.DEPENDENCY_MISSING,
                    f"This ComfyUI's queue has no {name}(); job history cannot follow executions.",
                    remediation=["Use ComfyUI 0.3.75 or newer."],
                )
        if getattr(queue, "_ainfluencer_hooked", False):
            return
        queue._ainfluencer_hooked = True

        original_put, original_get = queue.put, queue.get
        original_done, original_delete = queue.task_done, queue.delete_queue_item
        original_wipe = queue.wipe_queue

        @functools.wraps(original_put)
        def put(item: tuple) -> Any:
            _guard(
                tracker.on_queued,
                str(item[1]),
                item[2],
                item[3] if len(item) > 3 else {},
                item[4] if len(item) > 4 else [],
            )
            return original_put(item)

        @functools.wraps(original_get)
        def get(*args: Any, **kwargs: Any) -> Any:
            got = original_get(*args, **kwargs)
            if got is not None:
                _guard(tracker.on_started, str(got[0][1]))
            return got

        @functools.wraps(original_done)
        def task_done(item_id: Any, history_result: dict, status: Any, *args: Any, **kwargs: Any) -> Any:
            running = queue.currently_running.get(item_id)
            result = original_done(item_id, history_result, status, *args, **kwargs)
            if running is not None:
                status_dict = status._asdict() if hasattr(status, "_asdict") else None
                _guard(
                    tracker.on_done, str(running[1]), (history_result or {}).get("outputs", {}), status_dict
                )
            return result

        @functools.wraps(original_delete)
        def delete_queue_item(function: Any) -> Any:
            with queue.mutex:  # ComfyUI deletes the first match only
                doomed = next((str(item[1]) for item in queue.queue if function(item)), None)
                result = original_delete(function)
            if result and doomed is not None:
                _guard(tracker.on_removed, doomed)
            return result

        @functools.wraps(original_wipe)
        def wipe_queue() -> Any:
            with queue.mutex:
                doomed = [str(item[1]) for item in queue.queue]
                result = original_wipe()
            for prompt_id in doomed:
                _guard(tracker.on_removed, prompt_id)
            return result

        queue.put, queue.get, queue.task_done = put, get, task_done
        queue.delete_queue_item, queue.wipe_queue = delete_queue_item, wipe_queue

        original_send = self.server.send_sync

        @functools.wraps(original_send)
        def send_sync(event: Any, data: Any, sid: Any = None) -> Any:
            if event in ("progress_state", "progress"):
                _guard(tracker.on_event, event, data)
            return original_send(event, data, sid)

        self.server.send_sync = send_sync
        self._send = original_send


def _guard(fn: Any, *args: Any) -> None:
    """Run a tracker callback; a bug in bookkeeping must never break ComfyUI's worker."""
    try:
        fn(*args)
    except Exception:
        log.exception("ainfluencer: job tracking failed in %s", getattr(fn, "__name__", fn))


def _node_info(cls: Any) -> dict[str, Any]:
    if hasattr(cls, "GET_NODE_INFO_V1"):
        return cls.GET_NODE_INFO_V1()
    inputs = cls.INPUT_TYPES()
    return {
        "input": inputs,
        "input_order": {key: list(value.keys()) for key, value in inputs.items()},
        "output": list(cls.RETURN_TYPES),
        "output_name": list(getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES)),
        "output_node": bool(getattr(cls, "OUTPUT_NODE", False)),
    }
