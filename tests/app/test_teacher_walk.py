"""A teacher's walk in headless Chromium: preset → published descriptions → visual-only vocabulary coloured by
class → prototypes with their weight spread → compare two classes → export the session bundle → reload the page
(a fresh session) → load the bundle back. Screenshots go to ``test-artifacts/screenshots/teacher-*.png``.

For the README's screenshots, on the real models::

    python app.py --port 7861 &
    python -m tests.app.test_teacher_walk http://127.0.0.1:7861/ docs/screenshots cub200
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.app.test_browser import ARGS, CHROMIUM, SHOTS, open_tab, skip_without_chromium

STEPS = ("teacher-1-published", "teacher-2-vocabulary", "teacher-3-prototypes", "teacher-4-bundle-reloaded")


def pick(page, elem_id: str, option: str) -> None:
    """Choose ``option`` in a Gradio dropdown (and wait until the dropdown shows it)."""
    from playwright.sync_api import expect

    box = page.locator(f"#{elem_id} input").first
    box.click()
    page.get_by_role("option", name=re.compile(re.escape(option))).first.click()
    expect(box).to_have_value(re.compile(re.escape(option)), timeout=10_000)


def walk(url: str, shots: Path, preset: str = "pets37") -> dict:
    """The walk; returns timings (a report for a person, asserted nowhere). The fixed waits only let the page
    settle before a screenshot."""
    from playwright.sync_api import expect, sync_playwright

    shots.mkdir(parents=True, exist_ok=True)
    timings = {}
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as tmp:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page.goto(url)
        expect(page.locator("#names-box textarea")).to_have_value(re.compile("Blue Jay"), timeout=30_000)

        # 1. a preset brings its published descriptions, with the citation
        pick(page, "preset", preset)
        page.get_by_role("button", name="Use these names").click()
        info = page.locator("#names-info")
        expect(info).to_contain_text("Menon", timeout=20_000)
        expect(info).to_contain_text("classes")
        page.get_by_text("What am I looking at?").first.click()  # open the tab's note
        page.wait_for_timeout(800)
        page.screenshot(path=str(shots / f"{STEPS[0]}.png"), full_page=True)

        # 2. visual attributes only, map coloured by class
        open_tab(page, "2 · Attribute vocabulary")
        expect(page.locator("#visual-only input")).to_be_checked()
        page.locator("#colour-by").get_by_text("class", exact=True).click()
        t0 = time.perf_counter()
        page.get_by_role("button", name="Build vocabulary").click()
        expect(page.locator("#vocab-info")).to_contain_text("atoms from", timeout=180_000)
        timings["vocabulary_s"] = time.perf_counter() - t0
        expect(page.locator("#vocab-info")).to_contain_text("Visual filter: kept")
        expect(page.locator("#vocab-map")).to_contain_text("coloured by class", timeout=20_000)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(shots / f"{STEPS[1]}.png"), full_page=True)

        # 3. prototypes: the weights' spread, one class's atoms, then a comparison
        open_tab(page, "3 · Prototypes")
        page.get_by_role("button", name="Build prototypes").click()
        expect(page.locator("#proto-info")).to_contain_text("Weight spread", timeout=60_000)
        expect(page.locator("#weight-spread")).to_contain_text("largest − smallest", timeout=20_000)
        page.get_by_role("button", name="Compare").click()
        expect(page.locator("#compare-md")).to_contain_text("Shared attributes", timeout=20_000)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(shots / f"{STEPS[2]}.png"), full_page=True)

        # 4. export the whole session, reload the page (a fresh session), load the bundle back
        open_tab(page, "1 · Categories & descriptions")
        names_before = page.locator("#names-box textarea").input_value()
        open_tab(page, "6 · Take-aways")
        page.get_by_role("button", name="Whole session (run bundle .zip)").click()
        expect(page.locator("#export-info")).to_contain_text("Run bundle with", timeout=30_000)
        with page.expect_download() as download:
            page.locator("#export-files a").first.click()
        bundle = Path(tmp) / "lafg-session.zip"
        download.value.save_as(bundle)
        assert bundle.stat().st_size > 1000
        page.reload()
        expect(page.locator("#names-box textarea")).to_have_value(re.compile("Blue Jay"), timeout=30_000)
        # the reloaded page rebuilds the session kept in this browser meanwhile: loading the bundle before that
        # is done must still leave the bundle's session (the restore yields to it)
        open_tab(page, "6 · Take-aways")
        page.locator("#load-bundle input[type=file]").set_input_files(str(bundle))
        expect(page.locator("#load-info")).to_contain_text("Loaded", timeout=60_000)
        expect(page.locator("#load-info")).to_contain_text("prototypes")
        page.wait_for_timeout(800)
        page.screenshot(path=str(shots / f"{STEPS[3]}.png"), full_page=True)
        open_tab(page, "3 · Prototypes")  # the loaded prototypes are drawn in their tab
        expect(page.locator("#proto-info")).to_contain_text("loaded from a run bundle", timeout=10_000)
        open_tab(page, "1 · Categories & descriptions")
        expect(page.locator("#names-box textarea")).to_have_value(names_before)  # the bundle's names, not the demo's
        assert "Traceback" not in page.content()
        browser.close()
    return timings


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_teacher_walk_in_chromium(app):
    skip_without_chromium()
    walk(app[0], SHOTS)
    for name in STEPS:
        assert (SHOTS / f"{name}.png").stat().st_size > 10_000


if __name__ == "__main__":
    print(walk(sys.argv[1], Path(sys.argv[2]) if len(sys.argv) > 2 else SHOTS, sys.argv[3] if len(sys.argv) > 3 else "pets37"))
