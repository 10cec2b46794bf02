"""The Studio's full page: `/ainfluencer/` (and `/ainfluencer/<section>`) answer one small HTML document
that loads the Studio app from the pack's web folder, which ComfyUI serves at `/extensions/<pack folder>/`."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

from aiohttp import web

from ...host.app import Sidecar
from ..helpers import guarded, refuse_rebound_host

SECTIONS = ("setup", "create", "jobs", "models", "budget", "characters")

# The pack folder's name is the user's choice (the clone's directory), so the page asks ComfyUI's own
# extension list for the Studio's URL instead of assuming /extensions/ainfluencer/.
BOOT_SCRIPT = """
const root = document.getElementById("studio");
const parts = location.pathname.split("/").filter(Boolean);
const at = parts.indexOf("ainfluencer");
const section = at >= 0 && parts[at + 1] ? parts[at + 1] : null;
try {
  const list = await (await fetch("/extensions")).json();
  const ours = (u) => list.includes(u.replace(/studio\\/app\\.js$/, "studio_sidebar.js"));
  const url = list.find((u) => u.endsWith("/studio/app.js") && ours(u));
  if (!url) throw new Error("the AInfluencer web folder is not served by this ComfyUI");
  const { mountStudio } = await import(url);
  await mountStudio(root, { section, embedded: false });
} catch (err) {
  root.textContent = "The AInfluencer Studio could not be loaded (" + err.message + "). "
    + "Check that ComfyUI runs with the pack installed, then reload.";
}
"""

_SCRIPT_HASH = base64.b64encode(hashlib.sha256(BOOT_SCRIPT.encode()).digest()).decode()

PAGE = f"""<!doctype html>
<html lang="en" class="ainf-page" data-theme="dark">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>AInfluencer Studio</title>
<link rel="icon" href="data:,">
</head>
<body>
<div id="studio"><noscript>The AInfluencer Studio needs JavaScript.</noscript></div>
<script type="module">{BOOT_SCRIPT}</script>
</body>
</html>
"""

# Only this page's own script runs; media and API calls stay on this server (ComfyUI's /view, /ws, …).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        f"script-src 'self' 'sha256-{_SCRIPT_HASH}'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self' ws: wss:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'self'",
    )
)


def studio_page() -> web.Response:
    """The Studio's HTML document with its content security policy."""
    response = web.Response(text=PAGE, content_type="text/html", charset="utf-8")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-cache"
    return response


def register(routes: web.RouteTableDef, get_sidecar: Callable[[], Sidecar]) -> None:
    """Add the Studio's page routes (outside the API prefix: they answer HTML, not JSON)."""
    del get_sidecar  # the page is static; the app itself talks to the API

    @guarded
    async def page(request: web.Request) -> web.Response:
        refuse_rebound_host(request)
        return studio_page()

    async def redirect(_request: web.Request) -> web.Response:
        raise web.HTTPFound("/ainfluencer/")

    routes.get("/ainfluencer")(redirect)
    routes.get("/ainfluencer/")(page)
    routes.get("/ainfluencer/{section:" + "|".join(SECTIONS) + "}")(page)
