"""Tab 5 — Retrieve & explain: a checkpoint (or the pretrained backbone) × a gallery → cached faiss index; query
by image upload, gallery pick or text; results with scores; per result, the attributes that explain it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import gradio as gr
from gradio.components.plot import PlotData

from lafg.app.plots import empty_figure, explanation_bar_spec, phrase
from lafg.errors import InputError

from . import own_data, retrieval, safe_text
from .common import Session, file_path, progress_callback, user_errors
from .datasets import shared_descriptions
from .gradio_speed import Gallery
from .limits import QUERIES_AT_ONCE
from .services import Services
from .tab_train import dataset_choices, dataset_dir
from .thumbnails import thumbnail
from .uploads import IMAGE_EXTS, check_image, owner_of

MAX_BROWSE = 240  # gallery images shown for picking a query
# The search box's examples, with the demo class each finds (tests/app/test_text_example.py checks it on the demo;
# both found their class first before and after the read-out onto the classes' own descriptions)
TEXT_EXAMPLE = ("a tiny bird with a long needle-like bill", "Ruby throated Hummingbird")
NAME_EXAMPLE = "Blue Jay"
TEXT_TITLES = ("near your words: result likely shows (chance)", "near your words: result unlikely to (chance)")


def _q(text: str, n: int = 200) -> str:
    """An atom label or sentence as escaped text (visitor / LLM text is never live HTML, a link or an image)."""
    return safe_text.md(phrase(text, n))


def explanation_md(ex, hit, space) -> str:
    """Markdown for one result's explanation; ``space``: the gallery's attribute space (what it reads, and its
    measured grounding)."""
    label = safe_text.md(hit.label, 80)
    how = safe_text.plain(space.description)
    if ex is None:
        return f"**{label}** (retrieval score {hit.score:.3f}). No attribute explanation: {how or 'no attribute space'}."
    head = f"**Result: {label}** — retrieval score {hit.score:.3f} (how close the two images are in the model's search space)."
    if not ex.calibrated:
        shared = ", ".join(f"*{_q(c.label)}* ({c.contribution:+.3f})" for c in ex.shared[:3]) or "none"
        lines = [head, f"Read through the {how} (uncalibrated: the numbers are shares of a similarity, not chances).",
                 f"- **Shared:** {shared}"]
        more_q = [c for c in ex.differing if c.contribution > 0][:2]
        more_r = [c for c in ex.differing if c.contribution < 0][:2]
        if more_q:
            lines.append("- **Query shows more:** " + ", ".join(f"*{_q(c.label)}*" for c in more_q))
        if more_r:
            lines.append("- **Result shows more:** " + ", ".join(f"*{_q(c.label)}*" for c in more_r))
        return "\n".join(lines)
    cal = space.calibration
    blocks = [head, f"Read through the {how}. Each percentage is its calibrated chance that the image's class "
                    f"description mentions the attribute; an attribute is cited at {ex.threshold:.0%} or more (twice "
                    f"an average attribute's {cal.base_rate:.0%})."]
    if ex.query_kind == "text":
        blocks.append(_text_block(ex, label))
        blocks.append(grounding_md(space))
        return "\n\n".join(blocks)
    if ex.shared:
        rows = ["**Shared** (both images likely show it):"]
        for c in ex.shared:
            rows.append(f"- *{_q(c.label)}* — query {c.query:.0%}, result {c.result:.0%}{_quote(c, label, ex.described)}")
        blocks.append("\n".join(rows))
    else:
        blocks.append(f"**Shared:** nothing to cite — {safe_text.plain(ex.note)}.")
    more_q = [c for c in ex.differing if c.contribution > 0][:2]
    more_r = [c for c in ex.differing if c.contribution < 0][:2]
    rows = []
    if more_q:
        rows.append("- **Query more than result:** " + ", ".join(f"*{_q(c.label)}* ({c.query:.0%} vs {c.result:.0%})" for c in more_q))
    if more_r:
        rows.append("- **Result more than query:** " + ", ".join(f"*{_q(c.label)}* ({c.result:.0%} vs {c.query:.0%})" for c in more_r))
    if rows:
        blocks.append("\n".join(rows))
    both, either = ex.agreement
    if either:
        blocks.append(f"Of the {either} attribute(s) likely for either image, {both} are likely for both.")
    blocks.append(grounding_md(space))
    return "\n\n".join(blocks)


def _quote(c, label: str, described: bool) -> str:
    if c.support:
        return f" · {label}'s description: “{safe_text.md(c.support[0], 300)}”"
    return f" · not in {label}'s description" if described else ""


def _text_block(ex, label: str) -> str:
    """A text query: the attributes nearest the words, and whether the result likely shows each."""
    rows = ["**Shared:** your words are closest to these attributes (cosine of your text with each):"]
    likely = {id(c) for c in ex.shared}
    for c in sorted([*ex.shared, *ex.differing], key=lambda c: -c.query):  # nearest your words first
        rows.append(f"- *{_q(c.label)}* ({c.query:.2f}) — result likely shows it: {c.result:.0%}"
                    f"{_quote(c, label, ex.described)}" if id(c) in likely
                    else f"- *{_q(c.label)}* ({c.query:.2f}) — result unlikely to show it: {c.result:.0%}")
    if not ex.shared:
        rows.append(f"\nNothing to cite — {safe_text.plain(ex.note)}.")
    return "\n".join(rows)


def grounding_md(space) -> str:
    """The read-out's measured grounding in words (or why there is none)."""
    g = space.grounding
    if g is None:
        return ("**How far to trust this:** not measured (too few seen classes with descriptions to hold some out "
                "when the read-out was fitted).")
    return f"**How far to trust this:** {safe_text.plain(g.words())}"


def build(svc: Services, state: gr.State) -> dict:
    s0: Session = state.value
    with gr.Row():
        ckpt = gr.Dropdown(choices=list(retrieval.checkpoint_choices(svc.jobs.view(s0.owner))), value=retrieval.PRETRAINED, label="Model (a finished training run, or the pretrained backbone)", scale=3, elem_id="ckpt", allow_custom_value=True)
        refresh_btn = gr.Button("Refresh models", scale=0)
        gallery_ds = gr.Dropdown(choices=dataset_choices(svc, s0), value=dataset_choices(svc, s0)[0], label="Gallery", scale=2, allow_custom_value=True)
        index_btn = gr.Button("Build / load index", variant="primary", scale=1, elem_id="build-index")
    with gr.Accordion("Search your own images: upload a zip of class folders", open=False, elem_id="retrieve-own"):
        own_data.upload_block(svc, state, gallery_ds, dataset_choices, "retrieve")
    index_info = gr.Markdown("Build the index to search this gallery.", elem_id="index-info")
    with gr.Row():
        with gr.Column(scale=2):
            query_text = gr.Textbox(label="Describe in words: attributes or a class name", placeholder=f"{TEXT_EXAMPLE[0]} — or a class name such as “{NAME_EXAMPLE}”", elem_id="query-text")
            search_text_btn = gr.Button("Search by text", elem_id="search-text", variant="primary")
            with gr.Row():
                query_file = gr.File(label="…or upload a query image", file_types=["image"], type="filepath", height=120, scale=2)
                query_preview = gr.Image(label="Query", height=120, interactive=False, scale=1)
            search_image_btn = gr.Button("Search with this image")
            with gr.Accordion("…or pick a query from the gallery", open=True):
                browse = Gallery(label="Click an image to search with it", columns=4, height=260, allow_preview=False, elem_id="browse")
                with gr.Row():
                    pick_row = gr.Number(label="Gallery image number", precision=0, value=0)
                    pick_btn = gr.Button("Search with this gallery image")
        with gr.Column(scale=3):
            results = Gallery(label="Results (click one to see why it matched)", columns=4, height=360, allow_preview=False, elem_id="results")
            result_rank = gr.Number(label="Explain result number (or click a result; Enter to apply)", precision=0, value=0)
    explain_md = gr.Markdown(elem_id="explain-md")
    explain_plot = gr.Plot(value=empty_figure("select a result to see the shared and differing attributes"), label="Why this result", elem_id="explain-plot")

    def gallery_of(s: Session):
        if s.gallery_key is None:
            raise InputError("build the index first (button above)")
        g = svc.get_index(s.gallery_key)
        if g is None:
            raise InputError("the index was dropped from memory: press “Build / load index” again")
        return g

    @user_errors
    def build_index(s: Session, ckpt_label: str, ds_label: str, request: gr.Request, progress=gr.Progress()):  # noqa: B008 (the Gradio idiom)
        choices = retrieval.checkpoint_choices(svc.jobs.view(owner_of(s, request)))
        if ckpt_label not in choices:
            raise InputError("this model is no longer available: press “Refresh models”")
        folder = dataset_dir(svc, s, ds_label)
        descriptions = dict(shared_descriptions(folder))
        descriptions.update({k: v for k, v in s.descriptions.items() if v})
        progress(0.02, desc="loading models")
        with svc.heavy(owner_of(s, request), request):
            # the library filters the untrained space's vocabulary once, with the visitor's setting
            g = retrieval.build_gallery(svc, choices[ckpt_label], folder, descriptions, progress_callback(progress),
                                        visual_only=s.visual_only)
        s.gallery_key, s.query, s.hits = g.key, None, []
        explain = (f"explanations and text search read the {safe_text.plain(g.space.description)}" if g.space.available
                   else f"no explanations: {safe_text.plain(g.space.description)}")
        info = f"**{len(g)} images** of {len(g.classes)} classes indexed · model: {safe_text.md(ckpt_label, 120)} · {explain}."
        if g.space.available and g.space.grounding is not None:
            info += "\n\n" + grounding_md(g.space)
        shown = [(thumb(g, i), f"#{i} {g.classes[g.labels[i]]}") for i in range(min(len(g), MAX_BROWSE))]
        return s, info, shown

    index_btn.click(build_index, [state, ckpt, gallery_ds], [state, index_info, browse], api_name="build_index").success(
        lambda: ([], "", empty_figure("search this gallery to see why a result matched")), None, [results, explain_md, explain_plot],
        api_name="clear_results", api_visibility="private",
    )  # a new index: the last gallery's results and explanation are gone

    def thumb(g, row: int) -> str:
        # Remembered per gallery row (the gallery is rebuilt when its files change): a repeat costs no I/O.
        out = g.thumbs.get(row)
        if out is None or not os.path.exists(out):
            out = g.thumbs[row] = thumbnail(g.paths[row], svc.work_dir)
        return out

    def show_results(s: Session, g, hits):
        s.hits = hits
        items = [(thumb(g, h.row), f"{h.score:.3f} · {h.label}") for h in hits]
        if not hits:
            return s, items, "No results.", empty_figure("no results")
        md, fig = explain_one(s, g, 0)
        return s, items, md, fig

    def explain_one(s: Session, g, rank: int):
        if not s.hits or s.query is None:
            raise InputError("search first")
        if not 0 <= rank < len(s.hits):
            raise InputError(f"result number must be between 0 and {len(s.hits) - 1}")
        hit = s.hits[rank]
        ex = retrieval.explain_hit(g, s.query, hit)
        if ex is None:
            return explanation_md(None, hit, g.space), empty_figure("no attribute space for this gallery")
        if not ex.shared and not ex.differing:  # nothing cited: say so instead of empty axes
            return explanation_md(ex, hit, g.space), empty_figure(f"nothing to cite: {ex.note}")
        # Plain Plotly JSON (same figure as lafg.app.plots.explanation_bar): no validated figure object per query.
        spec = explanation_bar_spec(ex.shared, ex.differing, title=f"Why “{hit.label}” matched",  # escaped by the plot
                                    calibrated=ex.calibrated, titles=TEXT_TITLES if ex.query_kind == "text" else None)
        return explanation_md(ex, hit, g.space), PlotData(type="plotly", plot=json.dumps(spec))

    @user_errors
    def search_image(s: Session, path, request: gr.Request):
        g = gallery_of(s)
        path = file_path(path)
        if not path:
            raise InputError("upload a query image first")
        check_image(path)
        # Keep the upload in this session's own folder, under a name we choose (never the user's path).
        suffix = Path(path).suffix.lower() if Path(path).suffix.lower() in IMAGE_EXTS else ".img"
        own = svc.visitor_dir(owner_of(s, request)) / f"query{suffix}"
        shutil.copyfile(path, own)
        with svc.heavy(owner_of(s, request), request):
            s.query = retrieval.query_from_image(svc, g, str(own))
        return (*show_results(s, g, retrieval.search(g, s.query)), str(own))

    outs = [state, results, explain_md, explain_plot]
    search_image_btn.click(search_image, [state, query_file], [*outs, query_preview], api_name="search_image", concurrency_limit=QUERIES_AT_ONCE)
    query_file.upload(search_image, [state, query_file], [*outs, query_preview], api_name="search_uploaded", concurrency_limit=QUERIES_AT_ONCE, api_visibility="private")

    @user_errors
    def search_row(s: Session, row):
        g = gallery_of(s)
        row = int(row or 0)
        if not 0 <= row < len(g):
            raise InputError(f"gallery image number must be between 0 and {len(g) - 1}")
        s.query = retrieval.query_from_row(g, row)
        return show_results(s, g, retrieval.search(g, s.query))

    pick_btn.click(search_row, [state, pick_row], outs, api_name="search_gallery_image", concurrency_limit=QUERIES_AT_ONCE)

    def picked(evt: gr.SelectData):
        return int(evt.index)

    browse.select(picked, None, pick_row, api_name="pick_gallery_image", api_visibility="private").then(
        search_row, [state, pick_row], outs, api_name="search_picked", concurrency_limit=QUERIES_AT_ONCE, api_visibility="private"
    )

    @user_errors
    def search_text(s: Session, text: str):
        g = gallery_of(s)
        s.query = retrieval.query_from_text(svc, g, text)
        return (*show_results(s, g, retrieval.search(g, s.query)), None)  # no query image: the preview clears

    search_text_btn.click(search_text, [state, query_text], [*outs, query_preview], api_name="search_text", concurrency_limit=QUERIES_AT_ONCE)
    query_text.submit(search_text, [state, query_text], [*outs, query_preview], api_name="search_text_submit", concurrency_limit=QUERIES_AT_ONCE)

    @user_errors
    def explain(s: Session, rank):
        return explain_one(s, gallery_of(s), int(rank or 0))

    result_rank.submit(explain, [state, result_rank], [explain_md, explain_plot], api_name="explain_result", concurrency_limit=QUERIES_AT_ONCE)

    def selected(evt: gr.SelectData):
        return int(evt.index)

    results.select(selected, None, result_rank, api_name="select_result", api_visibility="private").then(
        explain, [state, result_rank], [explain_md, explain_plot], api_name="explain_selected", concurrency_limit=QUERIES_AT_ONCE, api_visibility="private"
    )

    def refresh(s: Session, current: str | None, request: gr.Request = None):
        choices = list(retrieval.checkpoint_choices(svc.jobs.view(owner_of(s, request))))
        value = current if current in choices else retrieval.PRETRAINED
        return gr.Dropdown(choices=choices, value=value), gr.Dropdown(choices=dataset_choices(svc, s))

    refresh_btn.click(refresh, [state, ckpt], [ckpt, gallery_ds], api_name="list_models")
    return {"ckpt": ckpt, "gallery_ds": gallery_ds, "refresh": refresh}


