"""Ask the real ComfyUI editor (headless Debian chromium) what `app.graphToPrompt()` makes of UI graphs."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Load like a user opening a file (minus the dialogs), let the editor settle for two frames as it would
# before anyone could press Queue, then return what the Queue button would send. With `randomValues`,
# Math.random() cycles through them while the prompt is built (dynamic prompts use it), so a Python
# converter can be fed the same sequence.
_CONVERT_JS = """
async ([graphJson, randomValues]) => {
  const app = window.app
  await app.loadGraphData(JSON.parse(graphJson), true, true, null, {
    showMissingNodesDialog: false,
    showMissingModelsDialog: false,
  })
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))
  await new Promise((r) => setTimeout(r, 50))
  const realRandom = Math.random
  let i = 0
  if (randomValues) Math.random = () => randomValues[i++ % randomValues.length]
  try {
    const { output } = await app.graphToPrompt()
    return JSON.stringify(output)
  } finally {
    Math.random = realRandom
  }
}
"""

_READY_JS = "() => !!(window.app && window.app.graph && window.app.vueAppReady)"


class BrowserOracleError(RuntimeError):
    """The editor could not convert a graph: `index` is its position in the list given."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


def _run(
    comfy_url: str,
    graph_texts: list[str],
    random_values: list[float] | None,
    fixed_time_s: float | None,
    timeout_s: float,
) -> list[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    page_errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(timeout_s * 1000)
            page.on("pageerror", lambda exc: page_errors.append(str(exc)))
            if fixed_time_s is not None:
                page.clock.set_fixed_time(fixed_time_s)  # epoch seconds; Date only, timers keep running
            page.goto(comfy_url.rstrip("/") + "/")
            page.wait_for_function(_READY_JS)
            results = []
            for index, text in enumerate(graph_texts):
                try:
                    results.append(json.loads(page.evaluate(_CONVERT_JS, [text, random_values])))
                except Exception as exc:
                    raise BrowserOracleError(
                        f"graph #{index}: the editor failed to convert it: {exc}; page errors: {page_errors}",
                        index,
                    ) from exc
            return results
        finally:
            browser.close()


def browser_graph_to_prompt(
    comfy_url: str,
    graphs: list[dict],
    *,
    random_values: list[float] | None = None,
    fixed_time_s: float | None = None,
    timeout_s: float = 60.0,
) -> list[dict]:
    """Return `(await app.graphToPrompt()).output` for each UI graph, all loaded in one editor session."""
    texts = [json.dumps(graph) for graph in graphs]
    # Playwright's sync API refuses to run inside a running asyncio loop (pytest-asyncio may have
    # one), so the browser session always lives on a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        job = pool.submit(_run, comfy_url, texts, random_values, fixed_time_s, timeout_s)
        return job.result()
