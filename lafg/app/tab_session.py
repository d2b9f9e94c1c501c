"""Tab 6 — Take-aways: every result of the session as files, and the whole session as one run bundle (zip)
that this app (here) and ``lafg bundle`` load again."""

from __future__ import annotations

import gradio as gr

from lafg.errors import InputError

from . import exports
from .common import Session, file_path, note, user_errors
from .services import Services
from .uploads import owner_of

NOTE = (
    "Download what this session made: the descriptions (JSON), the vocabulary (JSON, and a CSV of atoms with their "
    "sentences and classes), the map (interactive HTML, PNG when a Chrome/Chromium is installed), the prototypes "
    "(npz arrays + JSON of each class's atoms and weights), or **everything as one run bundle** (.zip). Load a "
    "bundle here to continue later, or give it to students; on the command line: `lafg bundle show/unpack`."
)


def build(svc: Services, state: gr.State, describe: dict, vocab: dict, protos: dict) -> dict:
    note("ℹ What am I looking at?", NOTE)
    with gr.Row():
        with gr.Column():
            gr.Markdown("**Export**")
            with gr.Row():
                desc_btn = gr.Button("Descriptions")
                vocab_btn = gr.Button("Vocabulary + map")
                proto_btn = gr.Button("Prototypes + charts")
                results_btn = gr.Button("Search results + explanations")
            bundle_btn = gr.Button("Whole session (run bundle .zip)", variant="primary", elem_id="export-bundle")
            files = gr.File(label="Files", file_count="multiple", interactive=False, height=160, elem_id="export-files")
            export_md = gr.Markdown(elem_id="export-info")
        with gr.Column():
            gr.Markdown("**Load a run bundle** (replaces this session's names, descriptions, vocabulary, prototypes)")
            upload = gr.File(label="Run bundle (.zip)", file_types=[".zip"], type="filepath", height=120, elem_id="load-bundle")
            load_md = gr.Markdown(elem_id="load-info")

    def folder(s: Session, request: gr.Request | None):
        return svc.visitor_dir(owner_of(s, request))  # the visitor's own folder (exports are served from there)

    @user_errors
    def export_desc(s: Session, request: gr.Request):
        return exports.export_descriptions(s, folder(s, request)), "Descriptions exported."

    @user_errors
    def export_vocab(s: Session, request: gr.Request):
        fig = vocab["redraw"](s)[0] if s.vocab is not None else None
        out, png_note = exports.export_vocabulary(s, folder(s, request), fig)
        return out, "Vocabulary exported." + (f" No PNG: {png_note}" if png_note else "")

    @user_errors
    def export_protos(s: Session, request: gr.Request):
        figs = {}
        if s.prototypes is not None:
            out = protos["redraw"](s)
            figs = {"prototype_first_class": out[2], "weight_spread": out[6]}
        return exports.export_prototypes(s, folder(s, request), figs), "Prototypes exported."

    @user_errors
    def export_results(s: Session, request: gr.Request):
        return exports.export_results(svc, s, folder(s, request)), "Search results exported (CSV: one row per result; JSON: with each explanation's numbers)."

    @user_errors
    def export_all(s: Session, request: gr.Request):
        path = exports.export_bundle(s, folder(s, request), svc.text_encoder().name if s.vocab is not None else "")
        parts = ["names", "descriptions"] + (["vocabulary"] if s.vocab is not None else []) + (["prototypes"] if s.prototypes is not None else [])
        return [path], f"Run bundle with {', '.join(parts)}. Load it here later, or `lafg bundle unpack lafg-session.zip --out runs/x`."

    desc_btn.click(export_desc, [state], [files, export_md], api_name="export_descriptions_file")
    vocab_btn.click(export_vocab, [state], [files, export_md], api_name="export_vocabulary")
    proto_btn.click(export_protos, [state], [files, export_md], api_name="export_prototypes")
    results_btn.click(export_results, [state], [files, export_md], api_name="export_results")
    bundle_btn.click(export_all, [state], [files, export_md], api_name="export_bundle")

    @user_errors
    def load(s: Session, value):
        path = file_path(value)
        if not path:
            return (gr.skip(),) * (2 + len(describe["outputs"]) + len(vocab["outputs"]) + len(protos["outputs"]))
        fresh = Session(owner=s.owner)  # the same visitor: their uploads and jobs stay theirs
        encoder = svc.text_encoder().name
        message = exports.load_bundle(fresh, path, encoder, svc.limits)
        if not fresh.names:
            raise InputError("the run bundle holds no class names")
        # a session restore still rebuilding after a reload (it holds ``s``) or starting later (it gets ``fresh``)
        # must not overwrite this one
        s.replaced = fresh.replaced = True
        return (fresh, message, *describe["redraw"](fresh), *vocab["redraw"](fresh), *protos["redraw"](fresh))

    upload.upload(load, [state, upload], [state, load_md, *describe["outputs"], *vocab["outputs"], *protos["outputs"]], api_name="load_bundle")
    return {}
