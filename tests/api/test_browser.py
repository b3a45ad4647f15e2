"""The accountants' page in headless Chromium: sign in with a token, pick a month, see the
table and the spend against the caps, download the CSV; its content equals
``pbxctl report costs`` for that month."""

from __future__ import annotations

import csv
import io
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from sandboxkit.processes import start_serve

from tests.billing.test_cost_report import MASTER, TELE2_V1
from tests.conftest import Pbxctl

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def server(company: Pbxctl, tmp_path: Path) -> Iterator[tuple[str, str, Pbxctl]]:
    """``pbxctl serve`` over a company with a month of rated calls; yields URL and token."""
    company.ok("carrier", "add", "tele2", "--host", "127.0.0.2", "--auth", "ip", "--match",
               "127.0.0.2")
    deck = tmp_path / "tele2.csv"
    deck.write_text(TELE2_V1)
    company.ok("rates", "import", "tele2", str(deck), "--valid-from", "2026-10-01")
    master = tmp_path / "Master.csv"
    master.write_bytes(MASTER)
    company.ok("cdr", "import", str(master))
    company.ok("department", "limit", "kazan", "--monthly", "1.00")
    token = company.ok("token", "create", "books", "--role", "accountant").stdout.strip()
    process, url = start_serve(company.database_url)
    yield url, token, company
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=20)


def company_costs(report_csv: str, department: str) -> str:
    """The call cost of ``department`` in a ``report costs`` CSV."""
    rows = list(csv.DictReader(io.StringIO(report_csv)))
    return next(r["call_cost"] for r in rows if r["department"] == department)


def test_accountant_downloads_the_month_csv(server: tuple[str, str, Pbxctl],
                                            tmp_path: Path) -> None:
    url, token, company = server
    expected = company.ok("report", "costs", "--month", "2026-10").stdout
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page(accept_downloads=True)
            page.goto(url)
            page.fill("#token", "wrong-token")
            page.fill("#month", "2026-10")
            page.click("#show")
            page.wait_for_selector("#message:has-text('unknown token')")
            page.fill("#token", token)
            page.click("#show")
            page.wait_for_selector("#costs tbody tr")
            departments = page.locator("#costs tbody tr td:first-child").all_inner_texts()
            assert "kazan" in departments and "omsk" in departments
            assert page.locator("#chart .bar").count() == len(departments)
            page.wait_for_selector("#spend tbody tr")
            kazan = page.locator("#spend tbody tr", has_text="kazan")
            assert kazan.locator("td").all_inner_texts()[1:5] == [
                company_costs(expected, "kazan"), "1.00", "RUB", "over cap"]
            with page.expect_download() as download:
                page.click("#download-csv")
            saved = tmp_path / download.value.suggested_filename
            download.value.save_as(saved)
            assert saved.name == "pbxctl-costs-2026-10.csv"
            assert saved.read_text(encoding="utf-8") == expected
            with page.expect_download() as excel:
                page.click("#download-excel")
            assert excel.value.suggested_filename == "pbxctl-costs-2026-10-excel.csv"
        finally:
            browser.close()
