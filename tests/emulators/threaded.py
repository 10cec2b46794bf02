"""Run a provider emulator on its own loop in a background thread (for tests driving a real ComfyUI)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any


class ThreadedEmulator:
    """Starts `emulator.start()` on a private loop in a daemon thread; `call` runs code on that loop."""

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="emulator")
        self.thread.start()
        self.base_url: str = self.call(emulator.start())

    def call(self, coro: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the emulator's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        """Stop the emulator and its thread."""
        try:
            self.call(self.emulator.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
