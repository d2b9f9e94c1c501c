"""End to end in headless Chromium (Debian ``chromium``; Playwright drives it, no browser download):
names → descriptions → vocabulary map → short training job with progress → search → explanation panel.
One screenshot per tab goes to ``test-artifacts/screenshots/``.

Run against any running app (for the README screenshots, on the real models)::

    python -m tests.app.test_browser http://127.0.0.1:7860/ docs/screenshots
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("LAFG_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# true once the vocabulary map draws highlighted points (size 12 in lafg.app.plots.vocabulary_map; others are 6)
HIGHLIGHT_DRAWN = """() => {
    const plot = document.querySelector('#vocab-map .js-plotly-plot');
    return !!(plot && plot.data && plot.data.some(t => t.marker && Array.isArray(t.marker.size) && t.marker.size.includes(12)));
}"""


def open_tab(page, name: str) -> None:
    from playwright.sync_api import expect

    tab = page.get_by_role("tab", name=name)
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true", timeout=15_000)


def walk(url: str, shots: Path, train_timeout_s: float = 120.0) -> dict:
    """Drive the whole flow; returns timings (a report for a person, asserted nowhere). Raises AssertionError on
    anything missing. The expect() timeouts are guards against hanging; the short fixed waits only let an
    animation settle before a screenshot."""
    from playwright.sync_api import expect, sync_playwright

    shots.mkdir(parents=True, exist_ok=True)
    timings = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        t0 = time.perf_counter()
        page.goto(url)
        names = page.locator("#names-box textarea")
        expect(names).to_have_value(re.compile("Blue Jay"), timeout=30_000)
        timings["page_interactive_s"] = time.perf_counter() - t0

        # 1. names and descriptions (the embedded demo's)
        page.get_by_role("button", name="Use these names").click()
        expect(page.locator("#names-info")).to_contain_text("20 classes", timeout=15_000)
        expect(page.locator("#desc-edit textarea")).to_have_value(re.compile("bird", re.I))
        page.wait_for_timeout(1000)  # let the update's fade-out finish before the screenshot
        page.screenshot(path=str(shots / "1-categories-descriptions.png"), full_page=True)

        # 2. vocabulary map
        open_tab(page, "2 · Attribute vocabulary")
        page.get_by_role("button", name="Build vocabulary").click()
        expect(page.locator("#vocab-info")).to_contain_text("atoms from", timeout=120_000)
        expect(page.locator("#vocab-map .js-plotly-plot").first).to_be_visible(timeout=30_000)
        expect(page.locator("#vocab-map")).to_contain_text("descriptions")
        page.get_by_role("gridcell").nth(1).click()  # select an atom row → highlighted on the map
        expect(page.locator("#highlight input, #highlight textarea").first).to_have_value("0", timeout=10_000)
        page.wait_for_function(HIGHLIGHT_DRAWN, timeout=30_000)  # the map redrawn with the atom's points enlarged
        expect(page.locator("#vocab-map")).not_to_contain_text("processing", timeout=30_000)
        expect(page.locator("#vocab-map .js-plotly-plot").first).to_be_visible(timeout=15_000)
        page.wait_for_timeout(500)  # let the plot's transition finish before the screenshot
        page.screenshot(path=str(shots / "2-attribute-vocabulary.png"), full_page=True)

        # 3. prototypes
        open_tab(page, "3 · Prototypes")
        page.get_by_role("button", name="Build prototypes").click()
        expect(page.get_by_text("prototypes** =", exact=False).or_(page.get_by_text("prototypes = template"))).to_be_visible(timeout=30_000)
        page.get_by_role("button", name="Compare").click()
        expect(page.get_by_text("Separating attributes")).to_be_visible(timeout=15_000)
        page.screenshot(path=str(shots / "3-prototypes.png"), full_page=True)

        # 4. a short training job, with progress
        open_tab(page, "4 · Train")
        page.get_by_role("button", name="Start training").click()
        box = page.locator("#job-box")
        expect(box).to_contain_text(re.compile("queued|running|done"), timeout=20_000)
        t1 = time.perf_counter()
        expect(box).to_contain_text("done", timeout=int(train_timeout_s * 1000))
        timings["train_job_s"] = time.perf_counter() - t1
        expect(page.locator("#train-verdict")).to_contain_text("Unseen-class R@1", timeout=10_000)
        page.screenshot(path=str(shots / "4-train.png"), full_page=True)
        # a reload re-attaches to the job (its id is kept in the browser's localStorage)
        page.reload()
        expect(page.locator("#names-box textarea")).to_have_value(re.compile("Blue Jay"), timeout=30_000)
        open_tab(page, "4 · Train")
        expect(page.locator("#job-box")).to_contain_text("done", timeout=15_000)

        # 5. search by text on the trained model, then explain a result
        open_tab(page, "5 · Retrieve & explain")
        page.locator("#ckpt input").click()
        page.get_by_role("option", name=re.compile("lafg")).first.click()
        expect(page.locator("#ckpt input")).to_have_value(re.compile("lafg"), timeout=10_000)
        page.get_by_role("button", name="Build / load index").click()
        expect(page.locator("#index-info")).to_contain_text("120 images", timeout=60_000)
        # every run's explanations read the read-out onto the seen classes' own descriptions, and the index says so
        expect(page.locator("#index-info")).to_contain_text("read-out onto the seen classes' own descriptions")
        expect(page.locator("#index-info")).not_to_contain_text("trained projector")
        page.locator("#browse img").nth(3).click()  # pick a query from the gallery
        expect(page.locator("#explain-md")).to_contain_text("Result:", timeout=20_000)
        page.locator("#query-text textarea, #query-text input").first.fill("red crown, black wings")
        before = page.locator("#explain-md").inner_text()
        t2 = time.perf_counter()
        page.get_by_role("button", name="Search by text").click()
        expect(page.locator("#explain-md")).not_to_have_text(before, timeout=20_000)
        expect(page.locator("#explain-md")).to_contain_text("Shared", timeout=20_000)
        timings["text_search_s"] = time.perf_counter() - t2
        first = page.locator("#explain-md").inner_text()
        page.locator("#results img").nth(1).click()  # select the second result → its explanation
        expect(page.locator("#explain-md")).not_to_have_text(first, timeout=15_000)
        expect(page.locator("#explain-md")).to_contain_text("Result:")
        expect(page.locator("#explain-plot .js-plotly-plot").first).to_be_visible(timeout=15_000)
        page.wait_for_timeout(1000)  # let the plot's transition finish before the screenshot
        page.screenshot(path=str(shots / "5-retrieve-explain.png"), full_page=True)
        assert "Traceback" not in page.content()
        browser.close()
    return timings


def skip_without_chromium() -> None:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium chromium-driver)")
    pytest.importorskip("playwright")


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_whole_flow_in_chromium(app):
    skip_without_chromium()
    walk(app[0], SHOTS)  # every step waits for its state (a guard timeout fails it), none is timed
    for name in ("1-categories-descriptions", "2-attribute-vocabulary", "3-prototypes", "4-train", "5-retrieve-explain"):
        assert (SHOTS / f"{name}.png").stat().st_size > 10_000


if __name__ == "__main__":
    print(walk(sys.argv[1], Path(sys.argv[2]) if len(sys.argv) > 2 else SHOTS))
