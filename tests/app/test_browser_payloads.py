"""Visitor and LLM text is shown as text (issue 18 item 3), checked where it matters: in headless Chromium.
Each payload (a login form with a password field, a remote image, a Markdown link, a bare URL) is planted
through the UI where it reaches the page (class names → ``#names-info`` and a toast, descriptions → the
vocabulary tab and the explanation Markdown, a run bundle's ``settings.source`` → ``#names-info``); after each, the DOM must hold no
element made from it, and a loopback listener the payloads point at must receive nothing."""

from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.app.test_browser import ARGS, CHROMIUM, open_tab, skip_without_chromium
from tests.loopback import LoopbackServer

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "assets" / "demo"
SHOTS = Path("/tmp/shots-18")


class Watcher(LoopbackServer):
    """A loopback listener every payload points at: a request means a payload went live (pixel, form, link)."""

    def __init__(self):
        owner = self
        self.requests: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                owner.requests.append(self.path)
                self.send_response(204)
                self.end_headers()

            do_POST = do_GET  # noqa: N815

            def log_message(self, *args):
                pass

        super().__init__(Handler)


def payloads(port: int) -> dict[str, str]:
    """Short enough for a class name (120 characters) and an atom label as the explanation shows it (50)."""
    return {
        "form": f"<form action=//127.0.0.1:{port}><input type=password>",
        "img": f"<img src=http://127.0.0.1:{port}/p.png>",
        "link": f"[Claim your prize](http://127.0.0.1:{port}/phish)",
        "md-img": f"![x](http://127.0.0.1:{port}/m.png)",
        "bare": f"http://127.0.0.1:{port}/bare",
        "a": f"<a href=http://127.0.0.1:{port}/a>prize</a>",  # Plotly draws <a href> in chart labels
    }


LIVE = """(port) => {
  const hits = (sel, attr) => [...document.querySelectorAll(sel)].filter(e => (e.getAttribute(attr) || '').includes(':' + port)).length;
  return {forms: hits('form', 'action'), imgs: hits('img', 'src'), links: hits('a', 'href'),
          passwords: document.querySelectorAll('input[type=password]').length};
}"""


def assert_inert(page, port: int, baseline_passwords: int, where: str) -> None:
    live = page.evaluate(LIVE, port)
    assert live == {"forms": 0, "imgs": 0, "links": 0, "passwords": baseline_passwords}, (where, live)


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_planted_payloads_render_as_text_everywhere(app, tmp_path):
    skip_without_chromium()
    from playwright.sync_api import expect, sync_playwright

    from lafg.store.export import RunBundle, write_bundle

    SHOTS.mkdir(parents=True, exist_ok=True)
    demo = json.loads((DEMO / "descriptions.json").read_text(encoding="utf-8"))
    with Watcher() as watcher, sync_playwright() as pw:
        p = payloads(watcher.port)
        every = " ".join(p.values())
        desc_file = tmp_path / "descriptions.json"
        desc_file.write_text(json.dumps({n: [f"{x} red crown {n}" for x in p.values()] for n in demo}), encoding="utf-8")
        bundle = write_bundle(RunBundle(["Blue Jay", "Cardinal"], {"Blue Jay": ["blue crest"], "Cardinal": ["red body"]}, None, None,
                                        {"source": every}), tmp_path / "bundle.zip")
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app[0])
        expect(page.locator("#names-box textarea")).to_have_value(re.compile("Blue Jay"), timeout=30_000)
        baseline = page.evaluate(LIVE, watcher.port)["passwords"]  # the app's own API-key field

        # descriptions (an import) → the explanation Markdown of a search
        page.locator("input[type=file]").nth(1).set_input_files(str(desc_file))
        expect(page.locator("#desc-edit textarea")).to_have_value(re.compile("type=password"), timeout=20_000)
        # … the vocabulary tab (atoms table, class text, map hovers)
        open_tab(page, "2 · Attribute vocabulary")
        page.get_by_role("button", name="Build vocabulary").click()
        expect(page.locator("#vocab-info")).to_contain_text("atoms from", timeout=120_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(SHOTS / "payload-vocabulary.png"), full_page=True)
        assert_inert(page, watcher.port, baseline, "vocabulary")
        open_tab(page, "5 · Retrieve & explain")
        page.get_by_role("button", name="Build / load index").click()
        expect(page.locator("#index-info")).to_contain_text(re.compile(r"\d+ images"), timeout=60_000)
        page.locator("#query-text textarea, #query-text input").first.fill("red crown")
        page.get_by_role("button", name="Search by text").click()
        expect(page.locator("#explain-md")).to_contain_text("Shared", timeout=30_000)
        expect(page.locator("#explain-md")).to_contain_text("<form action=")  # shown, as text (the top atoms')
        page.wait_for_timeout(800)
        page.screenshot(path=str(SHOTS / "payload-explanation.png"), full_page=True)
        assert_inert(page, watcher.port, baseline, "explanation")

        # class names → #names-info (names without descriptions) and a toast (a repeated name)
        open_tab(page, "1 · Categories & descriptions")
        names = "\n".join(["Blue Jay", *p.values(), p["img"]])
        page.locator("#names-box textarea").fill(names)
        page.get_by_role("button", name="Use these names").click()
        expect(page.locator("#names-info")).to_contain_text("<img src=", timeout=15_000)
        toast = page.locator("[data-testid=toast-body]").first
        expect(toast).to_contain_text("repeated name", timeout=15_000)
        expect(toast).to_contain_text("<img src=")
        page.screenshot(path=str(SHOTS / "payload-names-toast.png"), full_page=True)
        assert_inert(page, watcher.port, baseline, "names and toast")

        # a run bundle's settings.source → #names-info
        open_tab(page, "6 · Take-aways")
        page.locator("#load-bundle input[type=file]").set_input_files(str(bundle))
        expect(page.locator("#load-info")).to_contain_text("Loaded 2 classes", timeout=20_000)
        open_tab(page, "1 · Categories & descriptions")
        expect(page.locator("#names-info")).to_contain_text("Claim your prize](http", timeout=15_000)
        page.wait_for_timeout(800)
        page.screenshot(path=str(SHOTS / "payload-bundle-source.png"), full_page=True)
        assert_inert(page, watcher.port, baseline, "bundle source")
        browser.close()
    assert watcher.requests == []
