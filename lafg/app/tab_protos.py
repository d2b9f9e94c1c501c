"""Tab 3 — Prototypes: template + top-K atoms per class (bar chart, own vs borrowed) and a two-class comparison."""

from __future__ import annotations

import gradio as gr

from lafg.app.plots import atom_weights_bar, compare_bar, empty_figure, phrase, short, weight_spread
from lafg.errors import InputError
from lafg.language.prototypes import PrototypeConfig, class_sentences_by_atom, compare_on_evidence

from . import safe_text
from .common import Session, note, user_errors
from .services import Services
from .tab_vocab import own_borrowed_md

NOTE = (
    "A **linguistic prototype** is one vector per class: the embedding of the template (*a photo of a {class}*) "
    "plus its K nearest attribute atoms, each weighted by a softmax of its similarity divided by **τ_p**. Bars: "
    "the atoms a class uses, blue when its own sentences are in the atom, orange when it **borrows** the atom from "
    "other classes. *Atoms chosen from*: **lafg** (the paper) takes the K atoms nearest the class name's template, "
    "own or borrowed; **grounded** takes them among the class's own atoms first (borrowing only when it has fewer "
    "than K). The histogram shows how unequal the K weights are (all equal = the atoms are just averaged). "
    "*Compare* separates two classes by the atoms only one of them describes, quoting its sentences, and lists "
    "the atoms both describe."
)
VARIANT_CHOICES = [("lafg: nearest atoms to the class name (the paper)", "lafg"),
                   ("grounded: the class's own atoms first", "grounded")]
N_SEPARATING = 4  # atoms per class in Compare
N_SHARED = 3


def quote(sentences: list[str], n: int = 2) -> str:
    """The first ``n`` sentences as short quotes, and how many more there are."""
    more = f" (+{len(sentences) - n} more)" if len(sentences) > n else ""
    return "; ".join(f"“{safe_text.md(short(x, 90))}”" for x in sentences[:n]) + more


def atom_label(v, a: int, said: list[str] | None = None) -> str:
    """What an atom stands for *for this class*: its own sentence in the atom when it has one, else the atom's
    label (the sentence nearest the centroid, often another class's words)."""
    return said[0] if said else v.atoms[a].label


def own_borrowed_lines(p, name: str) -> list[str]:
    """The chosen atoms, own first (the class's own sentence that puts each there), then borrowed (with the
    classes whose sentences are in it instead)."""
    v = p.vocabulary
    said = class_sentences_by_atom(v, name)
    own, borrowed = p.own_and_borrowed(name)
    weight = dict(p.chosen_atoms(name))
    lines = [f"**Own** ({len(own)}: {safe_text.md(name, 80)}'s own sentences fall in these atoms)", ""]
    for a in own:
        label = "" if v.atoms[a].label in said[a] else f" · atom label *{safe_text.md(phrase(v.atoms[a].label, 60))}*"
        lines.append(f"- atom {a} (weight {weight[a]:.2f}): {quote(said[a], 1)}{label}")
    lines += [] if own else ["- none"]
    lines += ["", f"**Borrowed** ({len(borrowed)}: no sentence of {safe_text.md(name, 80)} is in them)", ""]
    for a in borrowed:
        others = [v.class_names[k] for k in v.atoms[a].classes][:3]
        lines.append(f"- atom {a} (weight {weight[a]:.2f}): *{safe_text.md(phrase(v.atoms[a].label, 70))}* — described by {safe_text.md_join(others, limit=80) or 'no class'}")
    lines += [] if borrowed else ["- none"]
    return lines


def class_figure(s: Session, name: str | None):
    p = s.prototypes
    if p is None or not name or name not in p.names:
        return empty_figure("build the prototypes, then pick a class"), ""
    chosen = p.chosen_atoms(name)
    own, _borrowed = p.own_and_borrowed(name)
    said = class_sentences_by_atom(p.vocabulary, name)
    labels = [f"{a}: {atom_label(p.vocabulary, a, said.get(a))}" for a, _ in chosen]
    fig = atom_weights_bar(labels, [w for _, w in chosen], [a in own for a, _ in chosen], title=f"{name}: atoms added to “{p.config.fill(name)}”")
    head = (f"**{safe_text.md(name, 80)}** uses {len(chosen)} atoms ({p.variant} prototypes): {len(own)} from its own descriptions, "
            f"{len(chosen) - len(own)} borrowed from other classes.")
    return fig, "\n".join([head, ""] + own_borrowed_lines(p, name))


def evidence_md(cmp) -> str:
    """Compare's text: each separating atom with the attributed class's own sentences, then the shared ones."""
    lines = ["**Separating attributes** (described by one class only, in its own words)"]
    for side, rows in ((cmp.a, cmp.only_a), (cmp.b, cmp.only_b)):
        lines += ["", f"*Only {safe_text.md(side, 80)}:*", ""]
        lines += [f"- atom {r.atom}: {quote(r.sentences[side])} "
                  f"(prototype cosines {r.score_a:+.2f} / {r.score_b:+.2f})" for r in rows[:N_SEPARATING]] or ["- none"]
    lines += ["", "**Shared attributes** (both classes' sentences fall in these atoms)", ""]
    lines += [f"- atom {r.atom}: *{safe_text.md(phrase(r.label, 70))}* — {safe_text.md(cmp.a, 80)}: {quote(r.sentences[cmp.a], 1)}; {safe_text.md(cmp.b, 80)}: {quote(r.sentences[cmp.b], 1)}"
              for r in cmp.shared[:N_SHARED]] or ["- none"]
    if cmp.without_sentences:
        lines += ["", f"No sentence of {safe_text.md_join(cmp.without_sentences, ' or ', 80)} is in the vocabulary: nothing of its own to compare on."]
    return "\n".join(lines)


def build(svc: Services, state: gr.State, vocab_tab: dict | None = None) -> dict:
    defaults = PrototypeConfig()  # the validated defaults (τ_p, K, template) live in the library
    note("ℹ What am I looking at?", NOTE)
    with gr.Row():
        template = gr.Textbox(label="Template", value=defaults.template, info="{} is replaced by the class name", scale=3)
        top_k = gr.Slider(1, 16, value=defaults.top_k, step=1, label="K atoms per class", scale=2)
        tau = gr.Number(value=defaults.tau, label="τ_p (weight temperature)", info=f"library default {defaults.tau:g}", minimum=0.001, maximum=100, scale=1)
        variant = gr.Radio(VARIANT_CHOICES, value="lafg", label="Atoms chosen from", scale=2, elem_id="proto-variant")
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
    def build_protos(s: Session, tmpl: str, k: float, tau_p: float | None = None, variant_name: str = "lafg"):
        import numpy as np

        from lafg.language.side import language_prototypes

        if s.vocab is None:
            raise InputError("build the attribute vocabulary first (previous tab)")
        tau_p = defaults.tau if tau_p is None else float(tau_p)
        if not 0 < tau_p <= 100:
            raise InputError(f"τ_p must be a positive number (e.g. the default, {defaults.tau:g})")
        cfg = PrototypeConfig(template=tmpl or "", top_k=int(k), tau=tau_p)
        cfg.fill("x")  # validates the template early, with its own message
        if variant_name not in dict((v, k) for k, v in VARIANT_CHOICES):
            raise InputError("choose lafg or grounded prototypes")
        s.prototypes = language_prototypes(s.names, s.descriptions, svc.text_encoder(), None, cfg, variant_name, s.vocab, svc.cache)
        first = s.names[0]
        second = s.names[1] if len(s.names) > 1 else first
        fig, md = class_figure(s, first)
        p = s.prototypes
        spread = p.top_weights.max(axis=1) - p.top_weights.min(axis=1) if p.top_weights.size else np.zeros(1)
        closeness = float(np.mean(np.sum(p.vectors * p.template, axis=1)))
        n_own = sum(len(p.own_and_borrowed(n)[0]) for n in p.names)
        info = (
            f"**{len(s.names)} {p.variant} prototypes** = template embedding + softmax-weighted top-{p.top_weights.shape[1]} of {s.vocab.n_atoms} atoms "
            f"(τ_p = {tau_p:g}). Weight spread (largest − smallest per class): median **{float(np.median(spread)):.3f}**; "
            f"mean cosine of a prototype to its bare template: {closeness:.2f}. "
            f"Own atoms: **{n_own} of {p.top_atoms.size}** chosen atoms hold a sentence of their class; the rest are borrowed."
        )
        dd = gr.Dropdown(choices=s.names, value=first)
        vocab_md = own_borrowed_md(s, first)
        out = (s, info, dd, fig, md, gr.Dropdown(choices=s.names, value=first), gr.Dropdown(choices=s.names, value=second), weight_spread(p.top_weights, p.names, tau_p))
        # The vocabulary tab's own-vs-borrowed panel now knows the prototypes: refresh it too.
        return out + ((gr.Dropdown(value=first), vocab_md) if vocab_tab else ())

    vocab_outputs = [vocab_tab["class_pick"], vocab_tab["class_md"]] if vocab_tab else []
    build_btn.click(build_protos, [state, template, top_k, tau, variant], [state, proto_info, class_pick, class_plot, class_md, cls_a, cls_b, spread_plot, *vocab_outputs], api_name="build_prototypes")
    class_pick.change(class_figure, [state, class_pick], [class_plot, class_md], api_name="class_prototype")

    @user_errors
    def compare(s: Session, a: str | None, b: str | None):
        p = s.prototypes
        if p is None:
            raise InputError("build the prototypes first")
        if not a or not b or a not in p.names or b not in p.names:
            raise InputError("pick two classes to compare")
        if a == b:
            raise InputError("pick two different classes to compare")
        cmp = compare_on_evidence(p, a, b)
        rows = cmp.only_a[:N_SEPARATING] + cmp.only_b[:N_SEPARATING] + cmp.shared[:N_SHARED]
        fig = compare_bar([f"{r.atom}: {next(iter(r.sentences.values()))[0]}" for r in rows], [r.score_a for r in rows], [r.score_b for r in rows], a, b, title=f"{a} vs {b}: atoms each one describes")
        return fig, evidence_md(cmp)

    compare_btn.click(compare, [state, cls_a, cls_b], [compare_plot, compare_md], api_name="compare_classes")
    def redraw(s: Session, origin: str = "loaded from a run bundle") -> tuple:
        """(info, class pick, its bars, text, A, B, spread) for a session loaded from a bundle (or restored)."""
        p = s.prototypes
        if p is None:
            return "No prototypes in this session yet: press **Build prototypes**.", gr.Dropdown(choices=[]), empty_figure("build the prototypes"), "", gr.Dropdown(choices=[]), gr.Dropdown(choices=[]), empty_figure("no atom weights yet", 220)
        first, second = p.names[0], p.names[1] if len(p.names) > 1 else p.names[0]
        fig, md = class_figure(s, first)
        info = f"**{len(p.names)} prototypes** {origin} (top-{p.top_weights.shape[1]} atoms, τ_p = {p.config.tau:g})."
        return (info, gr.Dropdown(choices=p.names, value=first), fig, md, gr.Dropdown(choices=p.names, value=first),
                gr.Dropdown(choices=p.names, value=second), weight_spread(p.top_weights, p.names, p.config.tau))

    return {"redraw": redraw, "settings": [template, top_k, tau, variant], "outputs": [proto_info, class_pick, class_plot, class_md, cls_a, cls_b, spread_plot], "class_plot": class_plot, "spread_plot": spread_plot, "compare_plot": compare_plot}
