"""The Studio's Budget section: the cost-table route names where every price came from, and in the browser a
budget set in the page is what the credits route answers, with the ledger lines beside it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from ainfluencer.sidecar.billing.cost_table import MODEL_PRICES
from ainfluencer.sidecar.host import runtime
from studio_browser import section_checks, studio_browser
from test_studio_models import fresh_server

V1 = "/ainfluencer/v1"


async def test_the_cost_table_answers_every_price_with_its_source_and_whether_it_is_assumed(paid_client):
    table = await (await paid_client.get(f"{V1}/credits/cost-table")).json()
    assert table["entries"] and all(
        row["source"] and isinstance(row["assumed"], bool) for row in table["entries"]
    )
    assert any(row["assumed"] for row in table["entries"]) and not all(
        row["assumed"] for row in table["entries"]
    )
    rates = table["model_prices"]
    assert len(rates) == len(MODEL_PRICES)
    for row in rates:
        assert row["source"].startswith("https://") and row["checked"] and row["rates"]
        assert row["per"] in ("image", "second", "output_megapixel") and isinstance(row["assumed"], bool)
    hailuo = next(r for r in rates if r["model"] == "fal-ai/minimax/hailuo-02/standard/image-to-video")
    assert hailuo["rates"] == {"512P": 0.017, "768P": 0.045} and hailuo["assumed"] is False
    assert table["user_file"].endswith("cost_table.json")


async def test_rows_from_the_users_own_cost_table_are_marked_as_theirs(paid_client):
    entries = (await (await paid_client.get(f"{V1}/credits/cost-table")).json())["entries"]
    mine = [row for row in entries if row["user_row"]]
    assert {row["operation"] for row in mine} == {
        "preset:color_grade_film_grain_v1",
        "preset:consented_grade_v1",
    }
    assert all(row["source"] == "test price" for row in mine)
    assert not any(row["user_row"] for row in entries if row["engine"] != "local_comfy")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[runtime.ComfyServer]:
    """A fresh ComfyUI with the pack: no budget was ever set there."""
    yield from fresh_server(tmp_path_factory, "studio_budget")


def _first_use_then_set(base_url: str) -> dict:
    with studio_browser(base_url) as browser:
        page, watch = browser.open_full("budget")
        prompt = page.locator(".ainf-budget-first")
        prompt.wait_for()
        seen = {
            "prompt": prompt.inner_text(),
            "prices": prompt.locator("li").count(),
        }
        page.get_by_label(re.compile("Budget \\(credits")).fill("12.5")
        page.get_by_role("button", name="Set budget").click()
        ledger = page.get_by_role("region", name="Ledger lines, newest first")
        ledger.get_by_role("cell", name="Budget set").wait_for()
        seen["ledger_row"] = ledger.locator("tbody tr").first.inner_text()
        seen["prompt_after"] = prompt.count()
        seen["available"] = page.locator(".ainf-budget-figure", has_text="Available").inner_text()
        seen["problems"] = section_checks(page, watch, "budget")
        return seen


@pytest.mark.integration
@pytest.mark.browser
def test_a_first_visit_asks_for_a_budget_with_the_spend_and_prices_and_the_budget_set_is_the_routes(server):
    with ThreadPoolExecutor(max_workers=1) as pool:  # Playwright's sync API wants a loop-free thread
        seen = pool.submit(_first_use_then_set, server.url).result()
    assert "Set a budget before your first remote run" in seen["prompt"]
    assert "Spent so far: 0 credits" in seen["prompt"] and seen["prices"] >= 4
    credits = httpx.get(f"{server.url}{V1}/credits").json()
    assert (credits["available"], credits["budget"]) == (12.5, 12.5)
    assert "Budget set" in seen["ledger_row"] and "12.5" in seen["ledger_row"]
    assert seen["prompt_after"] == 0 and "12.50 credits" in seen["available"]
    assert seen["problems"] == []


def _without_the_cost_table(base_url: str) -> dict:
    with studio_browser(base_url) as browser:
        page, _watch = browser.open_full("budget")
        page.route("**/ainfluencer/v1/credits/cost-table", lambda route: route.abort())
        page.reload()
        page.locator(".ainf-budget-costs-body .ainf-error").wait_for()
        return {
            "costs": page.locator(".ainf-budget-costs-body").inner_text(),
            "figures": page.locator(".ainf-budget-figure").count(),
            "ledger_errors": page.locator(".ainf-budget-ledger .ainf-error").count(),
            "ledger_text": page.locator(".ainf-budget-ledger").inner_text(),
        }


@pytest.mark.integration
@pytest.mark.browser
def test_an_unreachable_cost_table_says_so_and_the_rest_of_the_page_keeps_working(server):
    with ThreadPoolExecutor(max_workers=1) as pool:
        seen = pool.submit(_without_the_cost_table, server.url).result()
    assert "Not configured / unavailable" in seen["costs"] and "Copy details" in seen["costs"]
    assert seen["figures"] == 4 and seen["ledger_errors"] == 0 and seen["ledger_text"].strip()
