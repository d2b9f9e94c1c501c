"""The 45-minute lesson of docs/CLASSROOM.md, walked in headless Chromium against a running app, with the time
each step takes and a screenshot per step (a reload mid-way, a stopped and resumed run, a zip upload, the bundled
LLM's toy note and a preset)::

    python app.py --port 7861 --work-dir /tmp/lesson &
    python scripts/lesson_walk.py http://127.0.0.1:7861/ /tmp/lesson-shots --zip my_birds.zip

``--zip``: a zip of class folders (one top-level folder around them is fine) for the upload step; without it the
walk stops after the text search. Timings go to ``timings.json`` beside the screenshots.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import zipfile
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.app.test_browser import ARGS, CHROMIUM, open_tab  # noqa: E402
from tests.app.test_teacher_walk import pick  # noqa: E402

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")


def zip_counts(path: Path) -> tuple[int, int]:
    """(classes, images) of a zip of class folders (inside one wrapper folder or not; __MACOSX ignored)."""
    with zipfile.ZipFile(path) as z:
        files = [Path(n) for n in z.namelist() if n.lower().endswith(IMAGE_EXTS) and not n.startswith("__MACOSX")]
    tops = {p.parts[0] for p in files}
    depth = 1 if len(tops) == 1 and all(len(p.parts) > 2 for p in files) else 0
    return len({p.parts[depth] for p in files}), len(files)


parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("url")
parser.add_argument("shots", type=Path)
parser.add_argument("--zip", type=Path, default=None)
args = parser.parse_args()
URL, SHOTS, ZIP = args.url, args.shots, args.zip
SHOTS.mkdir(parents=True, exist_ok=True)
T: dict[str, float] = {}


def shot(page, name: str) -> None:
    page.wait_for_timeout(800)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def timed(key: str, fn) -> None:
    t0 = time.perf_counter()
    fn()
    T[key] = round(time.perf_counter() - t0, 1)
    print(key, T[key], flush=True)


with sync_playwright() as pw:
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    names = page.locator("#names-box textarea")
    timed("1_page_interactive", lambda: (page.goto(URL), expect(names).not_to_have_value("", timeout=60_000)))
    page.get_by_text("What am I looking at?").first.click()
    shot(page, "01-tab1-demo")

    open_tab(page, "2 · Attribute vocabulary")
    timed("2_build_vocabulary", lambda: (page.get_by_role("button", name="Build vocabulary").click(),
          expect(page.locator("#vocab-info")).to_contain_text("atoms from", timeout=300_000)))
    shot(page, "02-vocabulary")

    open_tab(page, "3 · Prototypes")
    timed("3_build_prototypes", lambda: (page.get_by_role("button", name="Build prototypes").click(),
          expect(page.get_by_text("prototypes = template")).to_be_visible(timeout=120_000)))
    timed("3_compare", lambda: (page.get_by_role("button", name="Compare").click(),
          expect(page.get_by_text("Separating attributes")).to_be_visible(timeout=60_000)))
    shot(page, "03-prototypes")
    page.wait_for_timeout(1500)

    names_before = names.input_value()
    timed("4_reload_restore", lambda: (page.reload(),
          expect(page.locator("#restore-note")).to_contain_text("Restored from this browser", timeout=300_000)))
    assert names.input_value() == names_before
    shot(page, "04-reloaded-tab1")
    open_tab(page, "2 · Attribute vocabulary")
    expect(page.locator("#vocab-info")).to_contain_text("restored after a reload")
    shot(page, "05-reloaded-tab2")
    open_tab(page, "3 · Prototypes")
    expect(page.locator("#proto-info")).to_contain_text("restored after a reload")
    shot(page, "06-reloaded-tab3")

    open_tab(page, "4 · Train")
    assert page.locator("#train-mode").get_by_role("radio", name="full").count() == 0 and page.locator("#train-mode").get_by_role("radio", name="head").count() == 1
    page.get_by_text("Also queue the controls").click()
    box = page.locator("#job-box")
    timed("5_train_lafg_60_epochs", lambda: (page.get_by_role("button", name="Start training").click(),
          expect(box).to_contain_text("done", timeout=600_000)))
    page.wait_for_timeout(1000)
    t0 = time.perf_counter()
    page.get_by_role("button", name="Refresh job list").click()
    page.wait_for_timeout(1500)
    pick(page, "job-pick", "permuted")  # the controls run after lafg, one at a time; permuted is the last
    expect(box).to_contain_text(re.compile(r"permuted .*— done"), timeout=600_000)
    T["5_controls_3_runs_after_lafg"] = round(time.perf_counter() - t0, 1)
    page.wait_for_timeout(1500)
    shot(page, "07-train-results-table")
    page.get_by_role("button", name=re.compile("What the full experiment")).click()
    page.wait_for_timeout(2500)
    page.locator("#experiment-panel").screenshot(path=str(SHOTS / "08-experiment-panel.png"))

    # a long run, stopped, then resumed
    page.get_by_label("number input for Epochs").fill("200")
    page.get_by_label("number input for Epochs").press("Enter")
    page.get_by_text("Also queue the controls").click()
    page.get_by_role("button", name="Start training").click()
    expect(box).to_contain_text(re.compile(r"epoch (1[0-9]|[2-9][0-9])/200"), timeout=300_000)
    page.get_by_role("button", name="Stop").click()
    expect(box).to_contain_text("Stopped after", timeout=120_000)
    shot(page, "09-stopped")
    timed("6_resume_to_200", lambda: (page.get_by_role("button", name="Resume").click(),
          expect(box).to_contain_text("done", timeout=600_000)))
    shot(page, "10-resumed")

    open_tab(page, "5 · Retrieve & explain")
    page.get_by_role("button", name="Refresh models").click()
    page.wait_for_timeout(1500)
    page.locator("#ckpt input").click()
    page.get_by_role("option", name=re.compile("lafg")).first.click()
    timed("7_build_index", lambda: (page.get_by_role("button", name="Build / load index").click(),
          expect(page.locator("#index-info")).to_contain_text("images", timeout=300_000)))
    page.locator("#browse img").nth(3).click()
    expect(page.locator("#explain-md")).to_contain_text("Result:", timeout=60_000)
    page.locator("#query-text textarea, #query-text input").first.fill("red crown, black wings")
    before = page.locator("#explain-md").inner_text()
    timed("7_text_search", lambda: (page.get_by_role("button", name="Search by text").click(),
          expect(page.locator("#explain-md")).not_to_have_text(before, timeout=60_000)))
    shot(page, "11-retrieve-text")

    if ZIP is None:
        browser.close()
        (SHOTS / "timings.json").write_text(json.dumps(T, indent=1))
        raise SystemExit(0)
    page.get_by_text("Search your own images: upload a zip of class folders").click()
    page.wait_for_timeout(500)
    n_classes, n_images = zip_counts(ZIP)
    timed("8_upload_zip", lambda: (page.locator("#retrieve-zip input[type=file]").set_input_files(str(ZIP)),
          expect(page.locator("#retrieve-upload-info")).to_contain_text(f"{n_classes} classes", timeout=120_000)))
    shot(page, "12-upload-report")
    last = page.locator("#retrieve-seen label").last
    name = last.inner_text().strip()
    last.click()  # one more seen class: the last one
    page.get_by_role("button", name="Use these seen classes").click()
    expect(page.locator("#retrieve-upload-info")).to_contain_text(re.compile("Seen.*" + re.escape(name)), timeout=30_000)
    shot(page, "13-seen-chosen")
    page.locator("#ckpt input").click()
    page.get_by_role("option", name=re.compile("pretrained")).first.click()
    timed("8_index_upload", lambda: (page.get_by_role("button", name="Build / load index").click(),
          expect(page.locator("#index-info")).to_contain_text(f"{n_images} images", timeout=300_000)))
    expect(page.locator("#explain-md")).to_have_text("", timeout=30_000)  # the demo's results are gone
    page.locator("#browse img").nth(1).click()  # an image query works without descriptions
    expect(page.locator("#explain-md")).to_contain_text("score", timeout=60_000)
    shot(page, "14-upload-search")
    assert "Traceback" not in page.content()
    page.get_by_role("button", name="Start again from the demo").click()
    expect(page.locator("#restore-note")).to_contain_text("Back to the embedded demo", timeout=30_000)
    open_tab(page, "1 · Categories & descriptions")
    shot(page, "15-back-to-the-demo")

    # a second student: their own names, the bundled LLM (the toy note), then a preset
    ctx2 = browser.new_context(viewport={"width": 1400, "height": 1000})
    p2 = ctx2.new_page()
    p2.goto(URL)
    expect(p2.locator("#names-box textarea")).not_to_have_value("", timeout=60_000)
    p2.locator("#names-box textarea").fill("Alaskan Malamute\nShiba Inu\nBeagle\nNewfoundland")
    p2.get_by_role("button", name="Use these names").click()
    expect(p2.locator("#names-info")).to_contain_text("4 classes", timeout=30_000)
    p2.get_by_text("Generate descriptions with an LLM").click()
    pick(p2, "llm-backend", "Bundled")
    timed("9_bundled_llm_4_classes", lambda: (p2.get_by_role("button", name="Generate descriptions", exact=True).click(),
          expect(p2.locator("#offtopic-flags")).to_contain_text("toy", timeout=600_000)))
    shot(p2, "16-bundled-toy-and-flags")
    pick(p2, "preset", "cub200")
    timed("10_preset_cub200", lambda: (p2.get_by_role("button", name="Use these names").click(),
          expect(p2.locator("#names-info")).to_contain_text("Menon", timeout=60_000)))
    shot(p2, "17-preset-gpt3")
    open_tab(p2, "2 · Attribute vocabulary")
    timed("10_vocabulary_cub200", lambda: (p2.get_by_role("button", name="Build vocabulary").click(),
          expect(p2.locator("#vocab-info")).to_contain_text("atoms from", timeout=600_000)))
    shot(p2, "18-preset-vocabulary")
    browser.close()
(SHOTS / "timings.json").write_text(json.dumps(T, indent=1))
print(json.dumps(T, indent=1))
