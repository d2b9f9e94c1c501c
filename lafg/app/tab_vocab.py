"""Tab 2 — Attribute vocabulary: cluster all descriptions into N atoms; map (PCA now, UMAP when ready); atom
table that highlights atoms on the map; per class, its own atoms and the ones it borrows."""

from __future__ import annotations

import gradio as gr

from lafg.app.plots import BackgroundUmap, empty_figure, pca_2d, vocabulary_map
from lafg.errors import InputError
from lafg.language.vocabulary import VocabularyConfig, suggested_atoms

from .common import Session, note, progress_callback, user_errors
from .safe_text import md, md_join
from .services import Services, vocab_key
from .uploads import owner_of

NOTE = (
    "Every description sentence of every class is embedded by a text encoder (one point each on the map) and "
    "clustered into **N attribute atoms** (k-means). An atom is an attribute several classes may share, e.g. "
    "*a black cap*. Sentences a photo cannot show (song, habitat, diet, price, engine power…) are set aside first "
    "when *visual attributes only* is on. Colour the map by atom or by class; hover a point to read it. "
    "Pick a class on the right to see the atoms its own sentences fall into."
)
ATOM_HEADERS = ["atom", "label (sentence nearest the centre)", "sentences", "classes"]


def atom_rows(s: Session) -> list[list]:
    v = s.vocab
    if v is None:
        return []
    return [[a.index, a.label, len(a.members), ", ".join(v.class_names[c] for c in a.classes[:6]) + (" …" if len(a.classes) > 6 else "")] for a in v.atoms]


def parse_atoms(text: str, n_atoms: int) -> list[int]:
    out = []
    for part in (text or "").replace(";", ",").split(","):
        part = part.strip()
        if part.isdigit() and int(part) < n_atoms:
            out.append(int(part))
    return out


def own_borrowed_md(s: Session, name: str | None) -> str:
    v = s.vocab
    if v is None or not name or name not in v.class_names:
        return "Build the vocabulary, then pick a class."
    c = v.class_names.index(name)
    own = v.own_atoms(c)
    lines = [f"**{md(name, 80)}** — its own descriptions fall into {len(own)} atom(s):"]
    for a in own[:12]:
        others = [v.class_names[k] for k in v.atoms[a].classes if k != c]
        shared = f" · shared with {md_join(others[:4], limit=80)}{' …' if len(others) > 4 else ''}" if others else " · only this class"
        lines.append(f"- atom {a}: *{md(v.atoms[a].label, 200)}*{shared}")
    if s.prototypes is not None and name in s.prototypes.names:
        _own, borrowed = s.prototypes.own_and_borrowed(name)
        lines.append("")
        lines.append(f"**Borrowed** (chosen for its prototype, described only by other classes): {len(borrowed)}")
        lines += [f"- atom {a}: *{md(v.atoms[a].label, 200)}* (from {md_join((v.class_names[k] for k in v.atoms[a].classes[:3]), limit=80)})" for a in borrowed]
    else:
        lines.append("\n*Build the prototypes (next tab) to see which atoms this class borrows.*")
    return "\n".join(lines)


def set_aside_md(s: Session) -> str:
    if not s.set_aside:
        return "Nothing set aside." if s.visual_only else "The visual filter is off: every sentence was clustered."
    from collections import Counter

    reasons = Counter(r for pairs in s.set_aside.values() for _, r in pairs)
    lines = ["By reason: " + ", ".join(f"{r} {n}" for r, n in reasons.most_common()), ""]
    for c, pairs in list(s.set_aside.items())[:40]:
        lines += [f"- **{md(c, 80)}**: “{md(x, 300)}” *({md(r, 200)})*" for x, r in pairs[:6]]
    if len(s.set_aside) > 40:
        lines.append(f"- … and {len(s.set_aside) - 40} more classes")
    return "\n".join(lines)


def clamp_note(requested: int, built: int, n_sentences: int, n_classes: int) -> str:
    """Say so when N was larger than the distinct sentences (k-means cannot make more atoms than points)."""
    if built >= requested:
        return ""
    suggest = suggested_atoms(n_sentences, built)
    return (
        f" ⚠️ **{requested} atoms requested but only {built} distinct sentences**: N was lowered to {built}, so most "
        f"atoms hold one sentence and no class can borrow. Try **N ≈ {suggest}** (about 4 sentences per atom) for "
        f"these {n_classes} classes."
    )


def build(svc: Services, state: gr.State, umap: BackgroundUmap) -> dict:
    defaults = VocabularyConfig()  # the validated defaults (N, visual filter) live in the library
    note("ℹ What am I looking at?", NOTE)
    with gr.Row():
        n_atoms = gr.Slider(2, 256, value=defaults.n_atoms, step=1, label="N atoms", info=f"k-means clusters over all description embeddings (library default {defaults.n_atoms}; fewer sentences: clamped, with a note)", scale=3)
        with gr.Column(scale=2):
            visual_only = gr.Checkbox(value=defaults.visual_only, label="Visual attributes only", info="set aside sentences a photo cannot show", elem_id="visual-only")
            colour_by = gr.Radio(["atom", "class"], value="atom", label="Colour the map by", elem_id="colour-by")
        build_btn = gr.Button("Build vocabulary", variant="primary", scale=1, elem_id="build-vocab")
        projection = gr.Radio(["PCA", "UMAP"], value="PCA", label="Map projection", info="UMAP is computed in the background", scale=2)
    vocab_info = gr.Markdown("Press **Build vocabulary** to embed the descriptions and cluster them.", elem_id="vocab-info")
    with gr.Accordion("Sentences set aside as non-visual", open=False):
        aside_md = gr.Markdown(elem_id="set-aside")
    map_plot = gr.Plot(value=empty_figure("the map appears here after “Build vocabulary”", 420), show_label=False, elem_id="vocab-map")
    umap_timer = gr.Timer(2.0, active=False)
    with gr.Row():
        with gr.Column(scale=3):
            atoms_table = gr.Dataframe(headers=ATOM_HEADERS, label="Atoms (select a row to highlight it on the map)", interactive=False, wrap=True, max_height=380, column_widths=["9%", "51%", "12%", "28%"])
            highlight = gr.Textbox(label="Highlighted atoms (numbers, comma separated; Enter to apply)", placeholder="e.g. 3, 7", elem_id="highlight")
        with gr.Column(scale=2):
            class_pick = gr.Dropdown(label="Class: own vs borrowed attributes", choices=[])
            class_md = gr.Markdown()

    def figure(s: Session):
        v = s.vocab
        if v is None:
            return empty_figure("no vocabulary yet", 420), ""
        x = svc_embeddings(v)
        xy, note = None, ""
        if s.projection == "UMAP":
            xy = umap.get(s.vocab_key, x)
            if xy is None:
                err = umap.error(s.vocab_key)
                note = f"UMAP failed ({err}); showing PCA." if err else "UMAP is being computed in the background; showing PCA until it is ready…"
        if xy is None:
            xy = pca_2d(x)
        import numpy as np

        atom_xy = np.stack([xy[v.sentence_atom == a].mean(axis=0) if (v.sentence_atom == a).any() else np.zeros(2) for a in range(v.n_atoms)])
        title = f"{len(v.sentences)} descriptions · {v.n_atoms} atoms · {s.projection if not note else 'PCA'} · coloured by {s.colour_by}"
        fig = vocabulary_map(xy, v.sentences, v.sentence_class, v.sentence_atom, v.class_names, [a.label for a in v.atoms], atom_xy, s.highlight, title=title, colour_by=s.colour_by)
        return fig, note

    @user_errors
    def build_vocab(s: Session, n: float, proj: str, visual: bool = VocabularyConfig.visual_only, colour: str = "atom", progress=gr.Progress(), request: gr.Request = None):  # noqa: B008 (the Gradio idiom)
        from lafg.language.side import encode_vocabulary
        from lafg.language.visual import filter_descriptions

        if not s.names:
            raise InputError("no category names: set them in the first tab")
        if not any(s.descriptions.get(n_) for n_ in s.names):
            raise InputError("no descriptions yet: generate or import them in the first tab")
        progress(0.05, desc="loading the text encoder")
        encoder = svc.text_encoder()
        s.visual_only, s.colour_by = bool(visual), colour if colour in ("atom", "class") else "atom"
        current = {c: s.descriptions.get(c, []) for c in s.names}
        filtered = filter_descriptions(current) if s.visual_only else None
        s.set_aside = filtered.set_aside if filtered else {}
        used = filtered.kept if filtered else current
        n_distinct = len({x.casefold() for c in s.names for x in used.get(c, [])})
        # The slider left at the library default: N follows the set's size (the default is for thousands of
        # sentences; on a small set it would give one sentence per atom). A chosen N is used as it is.
        auto = int(n) == defaults.n_atoms and suggested_atoms(n_distinct) < int(n)
        n_used = suggested_atoms(n_distinct) if auto else int(n)
        with svc.heavy(owner_of(s, request), request):  # encoding thousands of sentences: one heavy call per visitor at a time
            s.vocab = encode_vocabulary(used, s.names, encoder, VocabularyConfig(n_atoms=n_used, visual_only=s.visual_only), svc.cache, progress_callback(progress))
        s.vocab_key = vocab_key(encoder.name, s.vocab)
        s.prototypes, s.highlight, s.projection = None, [], proj
        umap.get(s.vocab_key, svc_embeddings(s.vocab))  # start UMAP now, in the background
        fig, note_text = figure(s)
        info = f"**{s.vocab.n_atoms} atoms** from {len(s.vocab.sentences)} sentences of {len(s.names)} classes (encoder: {encoder.name})."
        if filtered is not None:
            info += f" Visual filter: kept **{filtered.n_kept}**, set aside **{filtered.n_set_aside}** non-visual sentence(s)"
            info += f" ({', '.join(f'{r} {k}' for r, k in list(filtered.reasons().items())[:4])})." if filtered.n_set_aside else "."
            if filtered.emptied:
                info += f" {len(filtered.emptied)} class(es) had only non-visual sentences and keep them: {md_join(filtered.emptied[:4], limit=80)}."
        if auto:
            info += (f" N = {n_used}: about 4 sentences per atom for these {n_distinct} distinct sentences (the default "
                     f"{defaults.n_atoms} is for full data sets of thousands; move the slider to choose N yourself).")
        info += clamp_note(n_used, s.vocab.n_atoms, n_distinct, len(s.names)) + (f" {note_text}" if note_text else "")
        return s, fig, info, atom_rows(s), gr.Dropdown(choices=s.names, value=s.names[0]), own_borrowed_md(s, s.names[0]), gr.Timer(active=proj == "UMAP" and bool(note_text)), set_aside_md(s)

    build_btn.click(build_vocab, [state, n_atoms, projection, visual_only, colour_by], [state, map_plot, vocab_info, atoms_table, class_pick, class_md, umap_timer, aside_md], api_name="build_vocabulary")

    @user_errors
    def set_colour(s: Session, colour: str):
        s.colour_by = colour if colour in ("atom", "class") else "atom"
        if s.vocab is None:
            return s, gr.skip()
        return s, figure(s)[0]

    colour_by.change(set_colour, [state, colour_by], [state, map_plot], api_name="colour_map")

    @user_errors
    def set_projection(s: Session, proj: str):
        s.projection = proj
        if s.vocab is None:
            return s, gr.skip(), gr.skip(), gr.Timer(active=False)
        fig, note = figure(s)
        return s, fig, note or f"Projection: {proj}.", gr.Timer(active=bool(note) and proj == "UMAP")

    projection.change(set_projection, [state, projection], [state, map_plot, vocab_info, umap_timer], api_name="set_projection")

    def refresh(s: Session):
        if s.vocab is None or s.projection != "UMAP":
            return gr.skip(), gr.skip(), gr.Timer(active=False)
        fig, note = figure(s)
        if note and not umap.error(s.vocab_key):
            return gr.skip(), gr.skip(), gr.Timer(active=True)  # still computing
        return fig, note or "UMAP ready.", gr.Timer(active=False)

    umap_timer.tick(refresh, [state], [map_plot, vocab_info, umap_timer], api_name="refresh_map", show_progress="hidden")

    @user_errors
    def set_highlight(s: Session, text: str):
        if s.vocab is None:
            return s, gr.skip()
        s.highlight = parse_atoms(text, s.vocab.n_atoms)
        return s, figure(s)[0]

    highlight.submit(set_highlight, [state, highlight], [state, map_plot], api_name="highlight_atoms")

    def select_row(s: Session, evt: gr.SelectData):
        if s.vocab is None or evt is None or evt.index is None:
            return gr.skip()
        row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        return str(int(row))

    atoms_table.select(select_row, [state], highlight, api_name="select_atom", api_visibility="private").then(
        set_highlight, [state, highlight], [state, map_plot], api_name="highlight_selected", api_visibility="private"
    )
    class_pick.change(own_borrowed_md, [state, class_pick], class_md, api_name="own_borrowed")
    def redraw(s: Session, origin: str = "loaded from a run bundle") -> tuple:
        """(map, info, atom table, class pick, own/borrowed, set-aside) for a session loaded from a bundle (or
        restored after a reload: ``origin`` says which)."""
        if s.vocab is None:
            return empty_figure("no vocabulary in this session yet", 420), "No vocabulary in this session yet: press **Build vocabulary**.", [], gr.Dropdown(choices=s.names, value=None), "", set_aside_md(s)
        fig, _ = figure(s)
        info = f"**{s.vocab.n_atoms} atoms** from {len(s.vocab.sentences)} sentences of {len(s.vocab.class_names)} classes ({origin})."
        first = s.vocab.class_names[0]
        return fig, info, atom_rows(s), gr.Dropdown(choices=s.names, value=first), own_borrowed_md(s, first), set_aside_md(s)

    return {"class_pick": class_pick, "class_md": class_md, "map_plot": map_plot, "redraw": redraw,
            "settings": [n_atoms, visual_only, colour_by, projection],
            "outputs": [map_plot, vocab_info, atoms_table, class_pick, class_md, aside_md]}


def svc_embeddings(vocab):
    """Description embeddings of a vocabulary (kept on it by :func:`lafg.language.side.encode_vocabulary`)."""
    emb = getattr(vocab, "embeddings", None)
    if emb is None:
        raise InputError("this vocabulary carries no sentence embeddings to map")
    return emb
