"""What every remote node shares: job and step from the executing context, status text, interrupt, artifacts.

ComfyUI awaits async nodes concurrently inside one prompt, so the remote waits of a merged batch overlap.
Keys never pass through here: `RemoteSteps.run` reads them from the vault.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import comfy.model_management
import folder_paths
from comfy_execution.utils import get_executing_context
from server import PromptServer

from ..sidecar.billing.step_ids import step_id_for
from ..sidecar.core.errors import AInfError, ErrorCode
from ..sidecar.entry import get_sidecar
from ..sidecar.provenance.manifest import Engine
from ..sidecar.remote.adapters.control import RemoteResult, RunControl
from ..sidecar.remote.adapters.http_policy import RemoteCancelled
from ..sidecar.remote.recorded import request_fingerprint
from .nodes_provenance import sign_remote_output
from .remote_media import write_result


def _preference(extra_pnginfo: Any) -> list[str]:
    workflow = (extra_pnginfo or {}).get("workflow") if isinstance(extra_pnginfo, dict) else None
    manifest = (
        ((workflow or {}).get("extra") or {}).get("ainfluencer") if isinstance(workflow, dict) else None
    )
    order = manifest.get("engine_preference") if isinstance(manifest, dict) else None
    return [str(e) for e in order] if isinstance(order, list) else []


def job_for_prompt(prompt_id: str) -> tuple[str, str]:
    """(job id, quality level) of the prompt being executed; an untracked prompt becomes an editor job."""
    store = get_sidecar().store
    job_id = store.job_id_for_prompt(prompt_id)
    if job_id is None:
        job_id = store.create(source="editor", preset_id=None, inputs={}, prompt_id=prompt_id)
    return job_id, store.get(job_id)["quality_level"] or "standard"


class RemoteCall:
    """One remote node execution: resolves the engine, then runs numbered calls as steps of the job."""

    def __init__(self, capability: str, engine: str, extra_pnginfo: Any = None) -> None:
        context = get_executing_context()
        if context is None:
            raise AInfError(ErrorCode.INTERNAL_ERROR, "A remote node ran outside ComfyUI's executor.")
        self.node_id = str(context.node_id)
        self.capability = capability
        self.job_id, self.quality = job_for_prompt(str(context.prompt_id))
        self.sidecar = get_sidecar()
        self.engine = self.sidecar.remote.resolve_engine(engine, capability, _preference(extra_pnginfo))
        self.started = time.monotonic()
        self.fingerprints: dict[int, str] = {}  # call index → request fingerprint, kept with the result
        self.reused: dict[int, str] = {}  # call index → the job whose recorded result it took

    def status(self, text: str) -> None:
        """Show a line of status text on the node in the editor, with the time spent so far."""
        elapsed = time.monotonic() - self.started
        PromptServer.instance.send_progress_text(f"{text} · {elapsed:.0f} s", self.node_id)

    async def call(self, request: dict[str, Any], index: int = 0, model: str | None = None) -> RemoteResult:
        """Run call number `index` of this node (its own ledger step and request record).

        In a repair job, a request that already completed in the job it repairs takes that recorded result.
        """
        fingerprint = request_fingerprint(self.engine, self.capability, request)
        self.fingerprints[index] = fingerprint
        found = self.sidecar.remote.recorded.find(self.job_id, fingerprint)
        if found is not None:
            self.sidecar.remote.recorded.reuse(self.job_id, step_id_for(self.node_id, index), found)
            self.status(f"{self.engine}: reused result of job {found.job_id}")
            self.reused[index] = found.job_id
            return RemoteResult(found.engine or self.engine, found.model, found.request_id,
                                found.path.read_bytes(), found.content_type, ())  # fmt: skip
        control = RunControl(
            should_cancel=comfy.model_management.processing_interrupted, on_status=self.status
        )
        self.status(f"{self.engine}: submitting")
        try:
            result = await self.sidecar.remote.run(
                self.job_id, step_id_for(self.node_id, index), self.engine, self.capability, request,
                quality=self.quality, model=model, control=control,
            )  # fmt: skip
        except RemoteCancelled as exc:
            self.status(exc.message)
            raise comfy.model_management.InterruptProcessingException() from None  # ComfyUI's own interrupt
        cost = result.cost
        self.status(f"{self.engine}: done" + (f" (provider cost {cost:.4f} USD)" if cost is not None else ""))
        return result

    async def call_many(self, requests: list[dict[str, Any]], model: str | None = None) -> list[RemoteResult]:
        """Several calls of this node at once (one per batch item), all in flight together."""
        return list(await asyncio.gather(*(self.call(r, i, model) for i, r in enumerate(requests))))

    def keep(self, result: RemoteResult, index: int, fallback_suffix: str) -> Path:
        """Write a result into the job's output folder and record it as an artifact of the job."""
        folder = Path(folder_paths.get_output_directory()) / "ainfluencer" / self.job_id / "remote"
        stem = f"node{self.node_id}_{index}"
        path = write_result(folder, stem, result.data, result.content_type, fallback_suffix)
        engine = Engine(provider=result.engine, model_id=result.model)
        sign_remote_output(path, self.job_id, self.node_id, self.capability, engine)
        self.sidecar.store.add_artifact(
            self.job_id,
            path,
            kind="video" if path.suffix == ".mp4" else "image",
            filename=path.name,
            subfolder=f"ainfluencer/{self.job_id}/remote",
            node_id=self.node_id,
            metadata={
                "engine": result.engine,
                "model": result.model,
                "request_id": result.request_id,
                "provider_cost_usd": result.cost,
                "remote": True,
                "request_sha256": self.fingerprints.get(index),
                "reused_from": self.reused.get(index),
            },
        )
        return path
