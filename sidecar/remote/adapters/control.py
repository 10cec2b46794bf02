"""The typed values a remote call passes around: its run control, the polling states and its result."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ...core.redact import redact_secrets

log = logging.getLogger("ainfluencer.adapters")

F = TypeVar("F")


@dataclass(frozen=True)
class RunControl:
    """How one remote call is steered, beside its provider parameters; the defaults change nothing."""

    should_cancel: Callable[[], bool] | None = None  # True once the user interrupted
    on_submit: Callable[[str], None] | None = None  # gets the provider's request id before polling
    on_status: Callable[[str], None] | None = None  # gets a short status text for the node's display
    resume_request_id: str | None = None  # poll this recorded request instead of submitting again
    poll_interval_s: float | None = None  # overrides the adapter's polling interval
    deadline_s: float | None = None  # overrides the adapter's deadline

    def submitted(self, request_id: str) -> None:
        """Report an accepted submit; a failure here propagates (the id must be recorded before polling)."""
        if self.on_submit is not None:
            self.on_submit(request_id)

    def status(self, text: str) -> None:
        """Report a status text; a failing display is only logged, never fails a paid remote job."""
        if self.on_status is None:
            return
        try:
            self.on_status(text)
        except Exception as exc:
            log.warning("on_status callback failed: %s", redact_secrets(repr(exc))[:200])


@dataclass(frozen=True)
class RemoteJob:
    """What every provider's job says about itself: the model it runs and the media kind it returns."""

    model: str
    kind: str  # "image" or "video": what every output must decode as


@dataclass(frozen=True)
class Submitted:
    """A request the provider accepted (or one resumed); providers extend it with their own handles."""

    request_id: str


@dataclass(frozen=True)
class PollState(Generic[F]):
    """One status answer read: the provider's final answer once done, else a status text to show."""

    final: F | None = None
    status: str = ""


@dataclass(frozen=True)
class FinalStatus:
    """The status answer that reported a job finished (the provider's JSON object)."""

    body: dict[str, Any]


@dataclass(frozen=True)
class OutputRef:
    """One output of a finished job, still at the provider: its URL and the provider's id for it."""

    url: object  # checked to be a URL string when it is downloaded
    id: str | None = None


@dataclass(frozen=True)
class Outputs:
    """A finished job's outputs and what the provider reported about them."""

    refs: tuple[OutputRef, ...]
    cost: float | None = None  # USD as the provider reports it
    units: float | None = None  # the provider's own billing units, when it reports those instead of USD
    units_name: str | None = None
    seed: int | None = None
    duration_s: float | None = None  # the output's length, where the provider reports it


@dataclass(frozen=True)
class MediaOutput:
    """One downloaded output: decode-checked bytes, their content type and the reference they came from."""

    data: bytes
    content_type: str
    source: OutputRef


@dataclass(frozen=True)
class RemoteResult:
    """The result of every remote operation; `data`/`content_type` are the first of `media`."""

    engine: str
    model: str
    request_id: str
    data: bytes
    content_type: str
    media: tuple[MediaOutput, ...]
    cost: float | None = None  # the provider-reported cost in USD, or None
    units: float | None = None  # the provider's billing units (Kling's units, fal's billable units)
    units_name: str | None = None
    seed: int | None = None  # the seed the provider reports it used
    duration_s: float | None = None  # the output's length in seconds, where the provider reports it
