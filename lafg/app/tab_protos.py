"""Tab 3 — Prototypes: template + top-K atoms per class (bar chart, own vs borrowed) and a two-class comparison."""

from __future__ import annotations

import gradio as gr

from lafg.errors import InputError
from lafg.explain import compare_prototypes
from lafg.plots import atom_weights_bar, compare_bar, empty_figure, phrase

from .common import Session, user_errors
from .services import Services


def class_figure(s: Session, name: str | None):
    p = s.prototypes
    if p is None or not name or name not in p.names:
        return empty_figure("build the prototypes, then pick a class"), ""
    chosen = p.chosen_atoms(name)
    own, _borrowed = p.own_and_borrowed(name)
    labels = [f"{a}: {p.vocabulary.atoms[a].label}" for a, _ in chosen]
    fig = atom_weights_bar(labels, [w for _, w in chosen], [a in own for a, _ in chosen], title=f"{name}: atoms added to “{p.config.fill(name)}”")
    md = f"**{name}** uses {len(chosen)} atoms: {len(own)} from its own descriptions, {len(chosen) - len(own)} borrowed from other classes."
    return fig, md


def build(svc: Services, state: gr.State) -> dict:
    with gr.Row():
        template = gr.Textbox(label="Template", value="a photo of a {}.", info="{} is replaced by the class name", scale=3)
        top_k = gr.Slider(1, 16, value=5, step=1, label="K atoms per class", scale=2)
        build_btn = gr.Button("Build prototypes", variant="primary", scale=1, elem_id="build-protos")
    proto_info = gr.Markdown("Prototypes need the vocabulary (previous tab).")
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
            compare_md = gr.Markdown()

    @user_errors
    def build_protos(s: Session, tmpl: str, k: float):
        from lafg.language import language_prototypes
        from lafg.prototypes import PrototypeConfig

        if s.vocab is None:
            raise InputError("build the attribute vocabulary first (previous tab)")
        cfg = PrototypeConfig(template=tmpl or "", top_k=int(k))
        cfg.fill("x")  # validates the template early, with its own message
        s.prototypes = language_prototypes(s.names, s.descriptions, svc.text_encoder(), None, cfg, "lafg", s.vocab, svc.cache)
        first = s.names[0]
        second = s.names[1] if len(s.names) > 1 else first
        fig, md = class_figure(s, first)
        info = f"**{len(s.names)} prototypes** = template embedding + softmax-weighted top-{int(k)} of {s.vocab.n_atoms} atoms."
        dd = gr.Dropdown(choices=s.names, value=first)
        return s, info, dd, fig, md, gr.Dropdown(choices=s.names, value=first), gr.Dropdown(choices=s.names, value=second)

    build_btn.click(build_protos, [state, template, top_k], [state, proto_info, class_pick, class_plot, class_md, cls_a, cls_b], api_name="build_prototypes")
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
        cmp = compare_prototypes(p.vectors[p.index(a)], p.vectors[p.index(b)], atoms, labels)
        rows = cmp.separating[:5] + [r for r in cmp.shared if r not in cmp.separating][:3]
        fig = compare_bar([f"{i}: {lab}" for i, lab, _, _ in rows], [x for *_, x, _ in rows], [y for *_, y in rows], a, b, title=f"{a} vs {b}")
        sep = "\n".join(f"- *{phrase(lab, 80)}* ({'more ' + a if sa > sb else 'more ' + b}, {sa:+.2f} vs {sb:+.2f})" for _, lab, sa, sb in cmp.separating[:5])
        shared = "\n".join(f"- *{phrase(lab, 80)}* ({sa:+.2f} / {sb:+.2f})" for _, lab, sa, sb in cmp.shared[:3])
        return fig, f"**Separating attributes**\n{sep}\n\n**Shared attributes**\n{shared}"

    compare_btn.click(compare, [state, cls_a, cls_b], [compare_plot, compare_md], api_name="compare_classes")
    return {}
