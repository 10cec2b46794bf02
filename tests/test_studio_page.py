"""The Studio's full page and its vendored test tools: served HTML, its policy, the pinned axe-core."""

import base64
import hashlib
import re

from ainfluencer.sidecar.http.routes.studio import SECTIONS
from studio_browser import AXE_DIR, AXE_SHA256, AXE_VERSION

WEB = AXE_DIR.parent.parent.parent / "web"


async def test_the_studio_page_is_served_at_ainfluencer_and_loads_the_app_from_the_extension_list(client):
    resp = await client.get("/ainfluencer/")
    assert resp.status == 200 and resp.content_type == "text/html"
    page = await resp.text()
    assert '<html lang="en"' in page and "<title>AInfluencer Studio</title>" in page
    assert 'fetch("/extensions")' in page and "/studio/app.js" in page and "mountStudio" in page


async def test_every_section_has_its_own_address_and_unknown_ones_are_not_found(client):
    for section in SECTIONS:
        resp = await client.get(f"/ainfluencer/{section}")
        assert resp.status == 200, section
    assert (await client.get("/ainfluencer/nothing-here")).status == 404


async def test_the_bare_prefix_redirects_to_the_page(client):
    resp = await client.get("/ainfluencer", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/ainfluencer/"


async def test_the_page_allows_only_its_own_inline_script_by_hash(client):
    resp = await client.get("/ainfluencer/setup")
    policy = resp.headers["Content-Security-Policy"]
    page = await resp.text()
    inline = re.search(r'<script type="module">(.*?)</script>', page, re.S).group(1)
    digest = hashlib.sha256(inline.encode()).digest()
    assert f"'sha256-{base64.b64encode(digest).decode()}'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert "object-src 'none'" in policy and resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_a_rebound_host_name_is_refused_with_the_error_shape(client):
    resp = await client.get("/ainfluencer/", headers={"Host": "attacker.example"})
    body = await resp.json()
    assert resp.status == 403 and body["error"] == "CROSS_SITE_REFUSED"


def test_the_vendored_axe_core_is_the_pinned_release_with_its_licence():
    data = (AXE_DIR / "axe.min.js").read_bytes()
    assert hashlib.sha256(data).hexdigest() == AXE_SHA256
    assert data.startswith(f"/*! axe v{AXE_VERSION}".encode())
    assert "Mozilla Public License" in (AXE_DIR / "LICENSE").read_text(encoding="utf-8")


def test_no_studio_module_builds_markup_from_strings():
    # data reaches the page only as text nodes and attribute values (dom.js's h), never as parsed HTML
    offenders = [
        str(path.relative_to(WEB))
        for path in WEB.rglob("*.js")
        if re.search(r"\.(inner|outer)HTML\s*=|insertAdjacentHTML|document\.write\(", path.read_text("utf-8"))
    ]
    assert offenders == []


async def test_each_preset_says_whether_its_template_thumbnail_exists_so_none_missing_is_requested(
    client,
):
    presets = (await (await client.get("/ainfluencer/v1/presets")).json())["presets"]
    workflows = WEB.parent / "workflows"
    assert presets
    for preset in presets:
        assert preset["has_thumbnail"] is (workflows / f"{preset['id']}.jpg").is_file(), preset["id"]
