"""Tab 3 — Prototypes: template + top-K atoms per class (bar chart, own vs borrowed) and a two-class comparison."""

from __future__ import annotations

import gradio as gr

from lafg.errors import InputError
from lafg.explain import compare_prototypes
from lafg.plots import atom_weights_bar, compare_bar, empty_figure, phrase, weight_spread
from lafg.prototypes import PrototypeConfig

from . import safe_text
from .common import Session, note, user_errors
from .services import Services
from .tab_vocab import own_borrowed_md

NOTE = (
    "A **linguistic prototype** is one vector per class: the embedding of the template (*a photo of a {class}*) "
    "plus its K nearest attribute atoms, each weighted by a softmax of its similarity divided by **τ_p**. Bars: "
    "the atoms a class uses, blue when its own sentences are in the atom, orange when it **borrows** the atom from "
    "other classes. The histogram shows how unequal the K weights are (all equal = the atoms are just averaged). "
    "*Compare* lists the atoms that separate two classes and, separately, those they share."
)


def split_comparison(cmp, n_sep: int = 5, n_shared: int = 3) -> tuple[list, list]:
    """(separating, shared) rows with no atom in both lists: shared atoms must also be closer in A−B than the
    median separating gap, so one atom is never shown as both."""
    sep = cmp.separating[:n_sep]
    sep_ids = {r[0] for r in sep}
    gap = sorted(abs(a - b) for _, _, a, b in cmp.separating)
    median_gap = gap[len(gap) // 2] if gap else 0.0
    shared = [r for r in cmp.shared if r[0] not in sep_ids and abs(r[2] - r[3]) <= max(median_gap, 1e-9)][:n_shared]
    return sep, shared


def class_figure(s: Session, name: str | None):
    p = s.prototypes
    if p is None or not name or name not in p.names:
        return empty_figure("build the prototypes, then pick a class"), ""
    chosen = p.chosen_atoms(name)
    own, _borrowed = p.own_and_borrowed(name)
    labels = [f"{a}: {p.vocabulary.atoms[a].label}" for a, _ in chosen]
    fig = atom_weights_bar(labels, [w for _, w in chosen], [a in own for a, _ in chosen], title=f"{name}: atoms added to “{p.config.fill(name)}”")
    md = f"**{safe_text.md(name, 80)}** uses {len(chosen)} atoms: {len(own)} from its own descriptions, {len(chosen) - len(own)} borrowed from other classes."
    return fig, md


def build(svc: Services, state: gr.State, vocab_tab: dict | None = None) -> dict:
    defaults = PrototypeConfig()  # the validated defaults (τ_p, K, template) live in the library
    note("ℹ What am I looking at?", NOTE)
    with gr.Row():
        template = gr.Textbox(label="Template", value=defaults.template, info="{} is replaced by the class name", scale=3)
        top_k = gr.Slider(1, 16, value=defaults.top_k, step=1, label="K atoms per class", scale=2)
        tau = gr.Number(value=defaults.tau, label="τ_p (weight temperature)", info=f"library default {defaults.tau:g}", minimum=0.001, maximum=100, scale=1)
        build_btn = gr.Button("Build prototypes", variant="primary", scale=1, elem_id="build-protos")
    proto_info = gr.Markdown("Prototypes need the vocabulary (previous tab).", elem_id="proto-info")
    spread_plot = gr.Plot(value=empty_figure("the spread of the atom weights appears here", 220), show_label=False, elem_id="weight-spread")
    with gr.Row():
        with gr.Column():
            class_pick = gr.Dropdown(label="Class", choices=[])
            class_plot = gr.Plot(value=empty_figure("per-class atom weights appear here"), label="Chosen atoms and weights")
            class_md = gr.Markdown()
        with gr.Column():
            with gr.Row():
                cls_a = gr.Dropdown(label="Compare class A", choices=[])
                cls_b = gr.Dropdown(label="with class B", choices=[])
            compare_btn = gr.Button("Compare")
            compare_plot = gr.Plot(value=empty_figure("pick two classes"), label="What separates them")
            compare_md = gr.Markdown(elem_id="compare-md")

    @user_errors
    def build_protos(s: Session, tmpl: str, k: float, tau_p: float | None = None):
        import numpy as np

        from lafg.language import language_prototypes

        if s.vocab is None:
            raise InputError("build the attribute vocabulary first (previous tab)")
        tau_p = defaults.tau if tau_p is None else float(tau_p)
        if not 0 < tau_p <= 100:
            raise InputError(f"τ_p must be a positive number (e.g. the default, {defaults.tau:g})")
        cfg = PrototypeConfig(template=tmpl or "", top_k=int(k), tau=tau_p)
        cfg.fill("x")  # validates the template early, with its own message
        s.prototypes = language_prototypes(s.names, s.descriptions, svc.text_encoder(), None, cfg, "lafg", s.vocab, svc.cache)
        first = s.names[0]
        second = s.names[1] if len(s.names) > 1 else first
        fig, md = class_figure(s, first)
        p = s.prototypes
        spread = p.top_weights.max(axis=1) - p.top_weights.min(axis=1) if p.top_weights.size else np.zeros(1)
        closeness = float(np.mean(np.sum(p.vectors * p.template, axis=1)))
        info = (
            f"**{len(s.names)} prototypes** = template embedding + softmax-weighted top-{p.top_weights.shape[1]} of {s.vocab.n_atoms} atoms "
            f"(τ_p = {tau_p:g}). Weight spread (largest − smallest per class): median **{float(np.median(spread)):.3f}**; "
            f"mean cosine of a prototype to its bare template: {closeness:.2f}."
        )
        dd = gr.Dropdown(choices=s.names, value=first)
        vocab_md = own_borrowed_md(s, first)
        out = (s, info, dd, fig, md, gr.Dropdown(choices=s.names, value=first), gr.Dropdown(choices=s.names, value=second), weight_spread(p.top_weights, p.names, tau_p))
        # The vocabulary tab's own-vs-borrowed panel now knows the prototypes: refresh it too.
        return out + ((gr.Dropdown(value=first), vocab_md) if vocab_tab else ())

    vocab_outputs = [vocab_tab["class_pick"], vocab_tab["class_md"]] if vocab_tab else []
    build_btn.click(build_protos, [state, template, top_k, tau], [state, proto_info, class_pick, class_plot, class_md, cls_a, cls_b, spread_plot, *vocab_outputs], api_name="build_prototypes")
    class_pick.change(class_figure, [state, class_pick], [class_plot, class_md], api_name="class_prototype")

    @user_errors
    def compare(s: Session, a: str | None, b: str | None):
        p = s.prototypes
        if p is None:
            raise InputError("build the prototypes first")
        if not a or not b or a not in p.names or b not in p.names:
            raise InputError("pick two classes to compare")
        atoms = p.vocabulary.centroids
        labels = [x.label for x in p.vocabulary.atoms]
        if a == b:
            raise InputError("pick two different classes to compare")
        cmp = compare_prototypes(p.vectors[p.index(a)], p.vectors[p.index(b)], atoms, labels, top=max(6, len(labels)))
        sep_rows, shared_rows = split_comparison(cmp)
        rows = sep_rows + shared_rows
        fig = compare_bar([f"{i}: {lab}" for i, lab, _, _ in rows], [x for *_, x, _ in rows], [y for *_, y in rows], a, b, title=f"{a} vs {b}")
        sep = "\n".join(f"- atom {i}: *{safe_text.md(phrase(lab, 80))}* ({'more ' + safe_text.md(a, 80) if sa > sb else 'more ' + safe_text.md(b, 80)}, {sa:+.2f} vs {sb:+.2f})" for i, lab, sa, sb in sep_rows)
        shared = "\n".join(f"- atom {i}: *{safe_text.md(phrase(lab, 80))}* ({sa:+.2f} / {sb:+.2f})" for i, lab, sa, sb in shared_rows) or "- none close to both"
        return fig, f"**Separating attributes**\n{sep}\n\n**Shared attributes**\n{shared}"

    compare_btn.click(compare, [state, cls_a, cls_b], [compare_plot, compare_md], api_name="compare_classes")
    def redraw(s: Session) -> tuple:
        """(info, class pick, its bars, text, A, B, spread) for a session loaded from a bundle."""
        p = s.prototypes
        if p is None:
            return "No prototypes in the loaded session: press **Build prototypes**.", gr.Dropdown(choices=[]), empty_figure("build the prototypes"), "", gr.Dropdown(choices=[]), gr.Dropdown(choices=[]), empty_figure("no atom weights yet", 220)
        first, second = p.names[0], p.names[1] if len(p.names) > 1 else p.names[0]
        fig, md = class_figure(s, first)
        info = f"**{len(p.names)} prototypes** loaded from a run bundle (top-{p.top_weights.shape[1]} atoms, τ_p = {p.config.tau:g})."
        return (info, gr.Dropdown(choices=p.names, value=first), fig, md, gr.Dropdown(choices=p.names, value=first),
                gr.Dropdown(choices=p.names, value=second), weight_spread(p.top_weights, p.names, p.config.tau))

    return {"redraw": redraw, "outputs": [proto_info, class_pick, class_plot, class_md, cls_a, cls_b, spread_plot], "class_plot": class_plot, "spread_plot": spread_plot, "compare_plot": compare_plot}
