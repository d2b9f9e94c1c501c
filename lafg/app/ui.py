"""The Gradio Blocks of LaFG Explorer: ``build_demo(services)`` and ``launch(...)``."""

from __future__ import annotations

import re
import secrets

import gradio as gr

from lafg.app.plots import BackgroundUmap
from lafg.errors import LafgError

from . import (
    gradio_speed,
    guide,
    restore,
    tab_describe,
    tab_protos,
    tab_retrieve,
    tab_session,
    tab_train,
    tab_vocab,
)
from .common import Session, demo_session, log, note
from .limits import install_fair_queue, limit_threads
from .refusals import quiet_input_refusals
from .safe_text import md
from .services import Services, default_services
from .uploads import owner_of, sweep_uploads

TITLE = "LaFG Explorer"
INTRO = (
    "Language-driven fine-grained retrieval: **names → LLM descriptions → attribute vocabulary → class prototypes "
    "→ training → retrieval you can explain.** The embedded demo (20 CUB bird species, 14 seen for training + 6 "
    "unseen) is loaded; walk the tabs from left to right."
)
CSS = """
.lafg-job { font-size: 0.95rem; padding: 6px 2px; }
#names-info p, #vocab-info p { margin: 0.2rem 0; }
/* Errors appear once, as the toast: no "Error" badge over every output of the failed event (they cover the
   form until each is closed). */
[data-testid="status-tracker"]:has(.clear-status) { display: none !important; }
/* Whole class names under thumbnails: captions wrap instead of ending in "…" ("#0 Red …" could be two classes). */
.caption-label { white-space: normal !important; text-overflow: clip !important; max-width: 100% !important; }
"""


def theme() -> gr.themes.Base:
    return gr.themes.Soft(primary_hue="blue", secondary_hue="slate")


def build_demo(services: Services | None = None) -> gr.Blocks:
    """The whole app over ``services`` (the real models when None). Every event has an explicit ``api_name``;
    per-session work lives in ``gr.State``; models, indexes and jobs are shared by all sessions."""
    svc = services or default_services()
    umap = BackgroundUmap(svc.cache)
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        state = gr.State(demo_session())
        # Top level (not inside a tab, which mounts lazily) so its localStorage value is there at page load.
        job_store = gr.BrowserState("", storage_key="lafg-job-id")
        # A random token per browser (never shown to anyone else): the visitor's uploads and jobs stay theirs
        # across page reloads. With --auth the login name is the owner instead.
        owner_store = gr.BrowserState("", storage_key="lafg-owner")
        # Tabs 1–3 (names, descriptions, vocabulary and prototype settings) as a recipe rebuilt after a reload.
        session_store = gr.BrowserState(None, storage_key="lafg-session")
        with gr.Row():
            restore_note = gr.Markdown(elem_id="restore-note")
            # A reload keeps the session (below): this is the way back to the embedded demo.
            reset_btn = gr.Button("Start again from the demo", size="sm", scale=0, elem_id="reset-demo")
        with gr.Tabs():
            with gr.Tab("1 · Categories & descriptions", id="describe"):
                describe = tab_describe.build(svc, state)
            with gr.Tab("2 · Attribute vocabulary", id="vocab"):
                vocab = tab_vocab.build(svc, state, umap)
            with gr.Tab("3 · Prototypes", id="protos"):
                protos = tab_protos.build(svc, state, vocab)
            with gr.Tab("4 · Train", id="train"):
                note("ℹ What am I looking at?", guide.TRAIN_NOTE)
                train = tab_train.build(svc, state, job_store)
            with gr.Tab("5 · Retrieve & explain", id="retrieve") as retrieve_tab:
                note("ℹ What am I looking at?", guide.RETRIEVE_NOTE)
                retrieve = tab_retrieve.build(svc, state)
            with gr.Tab("6 · Take-aways", id="session"):
                tab_session.build(svc, state, describe, vocab, protos)
        guide.glossary()
        # Newly finished runs and added data sets show up when the tab is opened.
        retrieve_tab.select(retrieve["refresh"], [state, retrieve["ckpt"]], [retrieve["ckpt"], retrieve["gallery_ds"]], api_name="open_retrieve", api_visibility="private")
        status = gr.Markdown(elem_id="model-status")
        status_timer = gr.Timer(3.0)

        def model_note() -> str:
            loaded = svc.loaded()
            note = "Text encoder: " + ("ready" if loaded["text"] else "loading in the background") + " · image backbone: " + ("ready" if loaded["image"] else "loaded on first use")
            return note + " · GPU: " + ("CUDA" if svc.cuda else "none (CPU)")

        def refresh_status():
            return f"<small>{model_note()}</small>", gr.Timer(active=not svc.loaded()["text"])

        status_timer.tick(refresh_status, None, [status, status_timer], api_name="model_status", api_visibility="private", show_progress="hidden")

        def on_load(s: Session, job_id: str, token: str, request: gr.Request):
            note = model_note()
            # both come from the browser's localStorage, which a client can set to anything
            job_id, token = (v if isinstance(v, str) else "" for v in (job_id, token))
            if not s.owner:
                token = token if re.fullmatch(r"b:[0-9a-f]{32}", token or "") else f"b:{secrets.token_hex(16)}"
                s.owner = token
            owner = owner_of(s, request)
            if job_id:
                try:
                    svc.jobs.status(job_id, owner)
                except Exception:  # noqa: BLE001 (a job of another machine or visitor, or a deleted folder)
                    job_id = ""
            if not job_id:
                jobs = gr.Dropdown(choices=train["job_choices"](owner))  # this visitor's jobs
                return (s, s.owner, f"<small>{note}</small>", gr.skip(), *[gr.skip()] * 4, gr.Timer(active=False), jobs)
            return (s, s.owner, f"<small>{note}</small>", *train["attach"](s, job_id, request)[1:])

        tab_outputs = [*describe["outputs"], *vocab["outputs"], *protos["outputs"], *vocab["settings"], *protos["settings"]]

        def restore_tabs(s: Session, data, request: gr.Request):
            """After on_load (the visitor's owner and job are set): tabs 1–3 from the browser's recipe."""
            skip = (gr.skip(),) * (2 + len(tab_outputs))
            if not data or restore.same_as(s, data):
                return skip
            if isinstance(data, dict) and data.get("too_big"):
                return (gr.skip(), "Your last session was too large to keep in this browser: save it as a run bundle (tab 6) next time.", *skip[2:])
            if s.replaced:  # the visitor loaded a run bundle or the demo before this began: theirs stays
                return (gr.skip(), "Not restored from this browser: you loaded another session.", *skip[2:])
            before = s.fingerprint()
            try:
                got = restore.read_recipe(data, svc)
                if got is None:
                    return skip
                restored, todo = got
                message = restore.rebuild(svc, restored, todo, owner_of(s, request), request)
            except LafgError as exc:  # a recipe edited in the browser, or one this server cannot rebuild
                log.info("session restore refused: %s", exc)
                return (gr.skip(), f"Your last session could not be restored ({md(str(exc), 300)}).", *skip[2:])
            if s.replaced or s.fingerprint() != before:  # ... or loaded or edited tabs 1–3 while this rebuilt
                return (gr.skip(), "Not restored from this browser: you changed the session meanwhile.", *skip[2:])
            restore.adopt(s, restored)
            origin = "restored after a reload"
            return (s, message, *describe["redraw"](s), *vocab["redraw"](s, origin), *protos["redraw"](s, origin), *restore.settings_values(s))

        def reset_tabs(s: Session):
            """Tabs 1–3 back to the embedded demo (the visitor's owner, uploads and job stay)."""
            s.replaced = True
            restore.adopt(s, demo_session())
            origin = "the demo"
            return (s, "Back to the embedded demo.", *describe["redraw"](s), *vocab["redraw"](s, origin), *protos["redraw"](s, origin), *restore.settings_values(s))

        reset_btn.click(reset_tabs, [state], [state, restore_note, *tab_outputs], api_name="reset_to_demo", api_visibility="private")
        demo.load(on_load, [state, job_store, owner_store], [state, owner_store, status, job_store, *train["outputs"]], api_name="on_load", api_visibility="private").then(
            restore_tabs, [state, session_store], [state, restore_note, *tab_outputs], api_name="restore_session", api_visibility="private"
        )
        # Every change of tabs 1–3 (Session.__hash__ covers exactly those) is written back to the browser.
        state.change(restore.recipe, [state], [session_store], api_name="keep_session", api_visibility="private", show_progress="hidden")
    quiet_input_refusals(demo)  # a value Gradio refuses (outside a dropdown's choices...) logs one line
    demo.services = svc  # for tests and the launcher
    demo.umap = umap  # the background UMAP projections (tests wait on their threads, not on a clock)
    return demo


def launch(demo: gr.Blocks, **kwargs):
    """Launch with the app's theme and css (Gradio 6: on ``launch()``, not on ``Blocks``), a bounded queue, and
    only the app's own thumbnails and visitor folders servable."""
    limit_threads()
    svc = getattr(demo, "services", None)
    if svc is not None:
        svc.check_settings()  # settings that would leak the operator's key are refused before anything is served
        svc.warm_up()
        # Served: thumbnails of the operator's data sets, and visitor folders (uploads/<keyed hash>: a visitor's
        # files, at paths nobody else can compute). Never data sets themselves, jobs, caches or the work folder.
        for sub in ("thumbs", "uploads"):
            (svc.work_dir / sub).mkdir(parents=True, exist_ok=True)
        sweep_uploads(svc.work_dir, svc.limits.visitor_days)  # disk space on a public Space is finite
        kwargs.setdefault("allowed_paths", [str(svc.work_dir / "thumbs"), str(svc.work_dir / "uploads")])
        # The shared thumbnails are served in place (static): Gradio otherwise hashes and copies every result
        # thumbnail into its cache on every query, which cost more CPU than the search itself.
        gr.set_static_paths([str(svc.work_dir / "thumbs")])
        gradio_speed.install()  # and checked against them without resolving the roots again per file
        kwargs.setdefault("blocked_paths", [str(svc.work_dir / "jobs"), str(svc.work_dir / "cache")])
        demo.queue(max_size=svc.limits.queue_size, default_concurrency_limit=2)
        install_fair_queue(demo, svc.limits.queue_per_visitor)  # nobody fills the shared queue alone
        kwargs.setdefault("max_file_size", svc.limits.zip_bytes)  # any upload, refused by the web server itself
    if kwargs.get("auth"):  # repeated wrong passwords wait, per user and per address
        from starlette.middleware import Middleware

        from .login_throttle import LoginThrottleMiddleware

        app_kwargs = dict(kwargs.get("app_kwargs") or {})
        app_kwargs["middleware"] = [*app_kwargs.get("middleware", []), Middleware(LoginThrottleMiddleware)]
        kwargs["app_kwargs"] = app_kwargs
    # No run history: it would copy every output (maps, figures) into the browser's localStorage, fill its
    # quota and keep the job id (BrowserState) from being saved.
    kwargs.setdefault("run_history", False)
    return demo.launch(theme=theme(), css=CSS, footer_links=["api", "gradio"], **kwargs)
