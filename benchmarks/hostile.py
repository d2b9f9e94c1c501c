"""A hostile two-visitor run against the launched app (gradio_client, raw HTTP and headless Chromium on
loopback, fake models): one row per attack of issue 18 with what the attacker got. Run it on two trees to get a
before/after table::

    PYTHONPATH=<old tree> python benchmarks/hostile.py --label before   # e.g. a copy of main at 630c973
    PYTHONPATH=.          python benchmarks/hostile.py --label after
    python benchmarks/hostile.py --table        # benchmarks/results/hostile.md from both JSON files

Bounded: every listener is on 127.0.0.1 and released at the end; every call has a timeout.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ["NO_PROXY"] = "127.0.0.1,localhost"
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_var, None)
SECRET = "sk-operator-secret-hostile-run"
ATTACKS = {
    "key": "1 · operator key to a visitor's URL (key variable, no endpoint list)",
    "gallery": "2 · visitor A's descriptions in visitor B's explanations",
    "html": "3 · planted form/password, images, links live in the page (Chromium)",
    "ssrf": "4 · POST to a loopback port through the app (open vs closed port)",
    "tarpit": "5 · another visitor's search while one visitor tarpits (70 sessions)",
    "csv": "6 · formula cells in atoms.csv / results CSV",
    "bundle": "7 · run bundle with 10,000 names",
    "zip": "8 · zip member path of 4,205 characters",
    "login": "9 · 60 wrong passwords",
}


def attack_key(tmp: Path) -> str:
    from gradio_client import Client

    from tests.app.test_hostile import Launched, generate, services
    from tests.language.llm.test_openai_backend import _Server

    os.environ["OPENAI_API_KEY"] = SECRET
    with _Server() as rogue:
        app = Launched(services(tmp / "key", llm_key_envs=["OPENAI_API_KEY"]))
        try:
            with app:
                client = Client(app.url, verbose=False)
                client.predict("Blue Jay", None, None, api_name="/set_names")
                try:
                    generate(client, rogue.url, "OPENAI_API_KEY")
                except Exception:  # noqa: BLE001
                    pass
        except Exception as exc:  # noqa: BLE001 (the app refused to start)
            return f"app refuses to start ({str(exc)[:60]}…); key sent 0×"
    sent = sum(SECRET in (r["auth"] or "") for r in rogue.requests)
    return f"key received by the visitor's listener {sent}×"


def attack_gallery(url: str, tmp: Path) -> str:
    from gradio_client import Client, handle_file

    from tests.app.test_shared_caches import explanation, marked

    a, b = Client(url, verbose=False), Client(url, verbose=False)
    a.predict(handle_file(marked(tmp, "quokkafur")), api_name="/import_descriptions")
    explanation(a)
    leaked = "quokkafur" in explanation(b)
    b.predict(handle_file(marked(tmp, "wombatwing")), api_name="/import_descriptions")
    own = "wombatwing" in explanation(b)
    return f"B sees A's sentences: {'yes' if leaked else 'no'}; B's own edit used: {'yes' if own else 'no'}"


def attack_html(url: str, tmp: Path) -> str:
    from playwright.sync_api import sync_playwright

    from tests.app.test_browser import ARGS, CHROMIUM, open_tab
    from tests.app.test_browser_payloads import LIVE, Watcher, payloads

    with Watcher() as watcher, sync_playwright() as pw:
        p = payloads(watcher.port)
        desc = tmp / "payload-descriptions.json"
        names = json.loads((ROOT / "assets/demo/descriptions.json").read_text(encoding="utf-8"))
        desc.write_text(json.dumps({n: [f"{x} red crown {n}" for x in p.values()] for n in names}), encoding="utf-8")
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.locator("#names-box textarea").wait_for(timeout=30_000)
        page.wait_for_timeout(1500)
        base = page.evaluate(LIVE, watcher.port)["passwords"]
        page.locator("input[type=file]").nth(1).set_input_files(str(desc))
        page.wait_for_timeout(3000)
        open_tab(page, "5 · Retrieve & explain")
        page.get_by_role("button", name="Build / load index").click()
        page.locator("#index-info").filter(has_text="images").wait_for(timeout=60_000)
        page.locator("#query-text textarea, #query-text input").first.fill("red crown")
        page.get_by_role("button", name="Search by text").click()
        page.locator("#explain-md").filter(has_text="Shared").wait_for(timeout=30_000)
        open_tab(page, "1 · Categories & descriptions")
        page.locator("#names-box textarea").fill("\n".join(["Blue Jay", *p.values(), p["img"]]))
        page.get_by_role("button", name="Use these names").click()
        page.wait_for_timeout(2500)
        live = page.evaluate(LIVE, watcher.port)
        page.screenshot(path=str(tmp / "hostile-html.png"), full_page=True)
        browser.close()
    live["passwords"] -= base
    return (f"live elements: {live['forms']} form, {live['passwords']} password field, {live['imgs']} img, "
            f"{live['links']} link; listener hits {len(watcher.requests)}")


def attack_ssrf(url: str) -> str:
    from gradio_client import Client

    from tests.app.conftest import free_port
    from tests.app.test_hostile import generate
    from tests.language.llm.test_openai_backend import _Server

    client = Client(url, verbose=False)
    client.predict("Blue Jay", None, None, api_name="/set_names")
    messages = {}
    with _Server() as target:
        port = target.url.rsplit(":", 1)[1].split("/")[0]
        for kind, p in (("open", port), ("closed", free_port())):
            try:
                generate(client, f"http://127.0.0.1:{p}/admin/delete?id=1#")
                messages[kind] = "answered"
            except Exception as exc:  # noqa: BLE001
                messages[kind] = str(exc).strip()[:70]
    same = "same answer" if messages["open"] == messages["closed"] else "answers differ"
    return f"requests reaching the port {len(target.requests)} ({target.requests[0]['path'] if target.requests else '-'}); {same}"


def attack_tarpit(tmp: Path) -> str:
    import requests
    from gradio_client import Client

    from tests.app.test_hostile import FromAddress, Launched, Tarpit, fn_index, join, services

    with Tarpit() as tarpit:
        with Launched(services(tmp / "tarpit", llm_endpoints=[tarpit.url])) as app:
            alice = Client(app.url, verbose=False)
            try:  # the demo's label (it changed with the 20-class demo)
                from lafg.app.datasets import DEMO_LABEL
            except ImportError:
                DEMO_LABEL = "demo (10 CUB birds, embedded)"  # noqa: N806 (the older tree's constant)
            alice.predict("pretrained backbone (no training)", DEMO_LABEL, api_name="/build_index")
            t0 = time.perf_counter()
            alice.predict("red wings", api_name="/search_text")
            quiet = time.perf_counter() - t0  # the same search with nobody attacking
            mallory = requests.Session()
            mallory.trust_env = False
            mallory.mount("http://", FromAddress())
            data = [None, "openai", "m", tarpit.url, "none", "", "Describe {class_name}", 1]
            codes = [join(mallory, app.url, fn_index(app.demo, "generate_descriptions"), data) for _ in range(70)]
            tarpit.held.wait(60)
            time.sleep(1.0)  # let the queue settle as a real visitor would arrive
            t0 = time.perf_counter()
            try:
                alice.predict("red wings", api_name="/search_text")
                got = f"search done in {time.perf_counter() - t0:.2f} s"
            except Exception as exc:  # noqa: BLE001
                got = f"search refused after {time.perf_counter() - t0:.2f} s ({str(exc)[:40]})"
            held = tarpit.accepted
    return f"{got} (without the attack {quiet:.2f} s); tarpit holds {held} call(s); Mallory's joins accepted {codes.count(200)}/70"


def attack_csv() -> str:
    import numpy as np

    from lafg.language.vocabulary import VocabularyConfig, build_vocabulary
    from lafg.store.export import rows_csv, vocabulary_csv

    bad = ['=HYPERLINK("http://evil","x")', "+1+2", "@SUM(A1)"]
    vocab = build_vocabulary([f"{b} crown" for b in bad], np.eye(3, 8, dtype=np.float32), np.arange(3), [f"{b} bird" for b in bad],
                             VocabularyConfig(n_atoms=3, backend="sklearn"))
    cells = [c for row in csv.reader(io.StringIO(vocabulary_csv(vocab) + rows_csv([{"class": b} for b in bad]))) for c in row]
    return f"cells starting = + @: {sum(c[:1] in ('=', '+', '@') for c in cells)}"


def attack_bundle(url: str, tmp: Path) -> str:
    from gradio_client import Client, handle_file

    from lafg.store.export import RunBundle, write_bundle

    path = write_bundle(RunBundle([f"class {i}" for i in range(10_000)], {}), tmp / "big.zip")
    try:
        out = Client(url, verbose=False).predict(handle_file(str(path)), api_name="/load_bundle")
        return f"accepted: {str(out[0])[:40]}"
    except Exception as exc:  # noqa: BLE001
        return f"refused: {str(exc).strip()[:60]}"


def attack_zip(url: str, tmp: Path, work: Path) -> str:
    from gradio_client import Client, handle_file

    from tests.app.test_hostile import zip_of

    jpg = (ROOT / "assets/demo/images/010.Red_winged_Blackbird/0000.jpg").read_bytes()
    before = {p for p in (work / "uploads").rglob("*") if p.is_file()}
    path = zip_of(tmp / "deep.zip", {"a/0.jpg": jpg, "b/1.jpg": jpg, "d/" * 2100 + "x.jpg": jpg})
    try:
        Client(url, verbose=False).predict(handle_file(path), api_name="/upload_dataset")
        message = "accepted"
    except Exception as exc:  # noqa: BLE001
        message = " ".join(str(exc).split())
    left = len({p for p in (work / "uploads").rglob("*") if p.is_file()} - before)
    shows_path = str(work) in message or "/tmp" in message
    return f"toast: {message[:50]!r}…; server path shown: {'yes' if shows_path else 'no'}; files left {left}"


def attack_login(tmp: Path) -> str:
    import requests

    from tests.app.test_hostile import Launched, services

    with Launched(services(tmp / "login"), auth=[("alice", "pw-a")]) as app:
        http = requests.Session()
        http.trust_env = False
        t0 = time.perf_counter()
        codes = [http.post(app.url + "login", data={"username": "alice", "password": f"g{i}"}, timeout=30).status_code for i in range(60)]
        wall = time.perf_counter() - t0
    checked = codes.count(400)
    return f"{checked} of 60 guesses checked ({codes.count(429)} told to wait), {wall:.1f} s in all"


def run(label: str) -> dict:
    from lafg.app.ui import build_demo, launch
    from tests.app.conftest import free_port
    from tests.app.fakes import fake_services

    tmp = Path(tempfile.mkdtemp(prefix="lafg-hostile-"))
    results: dict[str, str] = {}

    def attempt(name, fn, *args):
        try:
            results[name] = fn(*args)
        except Exception as exc:  # noqa: BLE001 (the row says what happened)
            results[name] = f"error: {type(exc).__name__}: {str(exc)[:80]}"
        print(f"{name:8s} {results[name]}", flush=True)

    attempt("key", attack_key, tmp)
    svc = fake_services(tmp / "work")
    from lafg.app.services import default_describe, default_llm

    svc.llm_factory, svc.describe_fn = default_llm, default_describe
    demo = build_demo(svc)
    port = free_port()
    launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        attempt("gallery", attack_gallery, url, tmp)
        attempt("html", attack_html, url, tmp)
        attempt("ssrf", attack_ssrf, url)
        attempt("csv", attack_csv)
        attempt("bundle", attack_bundle, url, tmp)
        attempt("zip", attack_zip, url, tmp, svc.work_dir)
    finally:
        demo.close()
    attempt("tarpit", attack_tarpit, tmp)
    attempt("login", attack_login, tmp)
    out = {"label": label, "commit": os.popen(f"git -C {ROOT} rev-parse --short HEAD").read().strip(), "results": results}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"hostile-{label}.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return out


def table() -> str:
    before = json.loads((OUT / "hostile-before.json").read_text(encoding="utf-8"))["results"]
    after = json.loads((OUT / "hostile-after.json").read_text(encoding="utf-8"))["results"]
    lines = ["# Hostile two-visitor run (issue 18)", "",
             "`python benchmarks/hostile.py` on main at 630c973 (before) and on this branch (after): the app on loopback over",
             "the test fakes; attackers use gradio_client, raw `/gradio_api/queue/join` and `/login`, and headless Chromium.", "",
             "| attack | before | after |", "|---|---|---|"]
    lines += [f"| {title} | {before.get(k, '—')} | {after.get(k, '—')} |" for k, title in ATTACKS.items()]
    text = "\n".join(lines) + "\n"
    (OUT / "hostile.md").write_text(text, encoding="utf-8")
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="after")
    parser.add_argument("--table", action="store_true", help="write the before/after table from the two JSON files")
    args = parser.parse_args(argv)
    if args.table:
        print(table())
        return
    run(args.label)


if __name__ == "__main__":
    sys.path.insert(0, os.environ.get("PYTHONPATH", "").split(os.pathsep)[0] or str(ROOT))
    main()
