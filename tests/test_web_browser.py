"""A real browser (Debian's headless chromium, driven by Playwright's Python package; nothing
is downloaded) against a real `mutagrad serve`: read the category table, click through to a
mutant and its diff, submit a campaign from the page and watch it finish, and open the
offline mutation report. The campaign page's screenshot is the README's docs/serve.png."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
# MUTAGRAD_SCREENSHOT=docs/serve.png refreshes the README's picture; otherwise a temporary file
SCREENSHOT = os.environ.get("MUTAGRAD_SCREENSHOT")


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        message = f"no browser at {CHROMIUM}: apt-get install chromium (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900},
                                  java_script_enabled=True)
    try:
        yield context.new_page()
    finally:
        context.close()


def _rows(page, table):
    return [[c.strip() for c in row] for row in page.eval_on_selector_all(
        f"#{table} tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText))")]


def test_campaign_page_table_mutant_and_diff(page, served, tmp_path):
    with served.client() as http:
        api = http.get("/api/campaigns/1").json()
    page.goto(served.url + "/")
    page.click("#campaigns a[href='/campaigns/1']")
    page.wait_for_url("**/campaigns/1")
    rows = _rows(page, "categories")
    total = rows[-1]
    assert total[0] == "total"
    assert [int(x) for x in total[1:4]] == [api["total"]["mutants"], api["total"]["detected"],
                                            api["total"]["missed"]]
    assert {r[0] for r in rows[:-1]} == {g["group"] for g in api["groups"]}
    assert page.locator("svg.curve path.detection").count() == 1
    shot = Path(SCREENSHOT) if SCREENSHOT else tmp_path / "serve.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    table = "missed" if api["total"]["missed"] else "closest"
    link = page.locator(f"#{table} tbody tr a").first
    mutant_id = link.inner_text()
    link.click()
    page.wait_for_url(f"**/mutants/{mutant_id}")
    assert page.locator("#verdict").inner_text() in ("missed", "detected")
    assert page.locator("#diff .del").count() >= 1 and page.locator("#diff .add").count() >= 1
    assert page.locator("#diff .add").first.is_visible()
    cases = _rows(page, "trials")
    assert len(cases) == len(api["original"])  # one row per case (one check ran)


def test_submit_a_campaign_from_the_page_and_watch_it_finish(page, served):
    page.goto(served.url + "/")
    page.select_option("select[name=subject]", "linear1d")
    page.fill("input[name=cases]", "2")
    page.fill("input[name=name]", "from the browser")
    page.click("form.new button[type=submit]")
    page.wait_for_url("**/campaigns/*")
    # the page refreshes itself (a meta tag, no script) until the campaign is done
    page.wait_for_function("document.querySelector('#status').innerText == 'finished'",
                           timeout=120_000)
    assert "from the browser" in page.locator("h1").inner_text()
    assert _rows(page, "categories")[-1][0] == "total"


def test_a_bad_form_says_why(page, served):
    page.goto(served.url + "/")
    page.fill("input[name=cases]", "1000000")
    page.click("form.new button[type=submit]")
    assert "less than or equal to 100" in page.locator("#form-error").inner_text()


def test_pages_work_without_javascript(browser, served):
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(served.url + "/campaigns/1")
        assert "<script" not in page.content()  # the pages have no script at all
        assert page.locator("#categories tbody tr").last.inner_text().startswith("total")
        page.goto(served.url + "/compare?a=1&b=1")
        assert "No mutant changed status" in page.content()
    finally:
        context.close()


def test_offline_mutation_report_shows_the_mutants(page, served, tmp_path):
    report = tmp_path / "report.html"
    subprocess.run([sys.executable, "-m", "mutagrad", "report", "1", "--html", str(report),
                    "--db", served.db], check=True, capture_output=True)
    with served.client() as http:
        total = http.get("/api/campaigns/1").json()["total"]
    page.route("**/*", lambda route: route.abort() if not route.request.url.startswith("file:")
               else route.continue_())  # offline: any network request would fail
    page.goto(report.as_uri())
    page.get_by_role("cell", name=str(total["mutants"])).first.wait_for()
    page.get_by_role("link", name="mlp3.py").click()
    # the source view, every mutant marked, with one filter per status
    page.get_by_text(f"Killed ({total['detected']})").wait_for()
    assert page.locator("tr.line").count() > 50
    assert page.locator("span.mutant").count() >= total["mutants"]
