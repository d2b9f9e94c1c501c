"""Tab 1 — Categories & descriptions: names from text / file / preset; descriptions from an LLM or a JSON file;
read, edit and export them per class."""

from __future__ import annotations

import json
import time
from pathlib import Path

import gradio as gr

from lafg.errors import BackendError, InputError
from lafg.language.categories import list_presets, load_preset, parse_categories, read_categories
from lafg.language.describe import load_descriptions_json
from lafg.language.llm.published import PublishedDescriptionsLLM

from .common import Session, note, user_errors
from .descriptions import merge_imported
from .limits import visitor_key
from .safe_text import info, md, md_join, warning
from .services import Services, default_prompt
from .uploads import owner_of

NOTE = (
    "Each class name gets a few short sentences describing what it **looks like**. For a preset, the "
    "**published** GPT-3 descriptions (Menon & Vondrick; WaffleCLIP) load at once, offline, with their citation. "
    "You can also generate them with an LLM (the bundled one is tiny and often wrong: read the off-topic flags), "
    "import a JSON file, or edit any class by hand. Next tab: these sentences are clustered into shared attributes."
)
LLM_CHOICES = [
    ("Published descriptions (GPT-3, WaffleCLIP; offline, for the presets)", "published"),
    ("Bundled small LLM (SmolLM2-135M, offline, weak)", "bundled"),
    ("Transformers model (local folder or Hub id)", "transformers"),
    ("OpenAI-compatible endpoint (OpenAI, Ollama, vLLM…)", "openai"),
]


def summary(s: Session) -> str:
    n_sent = sum(len(s.descriptions.get(n, [])) for n in s.names)
    missing = [n for n in s.names if not s.descriptions.get(n)]
    text = f"**{len(s.names)} classes · {n_sent} description sentences**"
    if missing:
        shown = md_join(missing[:8], limit=80) + (" …" if len(missing) > 8 else "")
        text += f" · {len(missing)} without descriptions: {shown}"
    if s.source:
        text += f"\n\n<small>Source: {md(s.source, 600)}</small>"
    return text


def published_source(llm) -> str:
    """The citation of the published backend and the classes it filled from the project's own supplement."""
    extra = llm.supplemented()
    text = llm.citation
    if extra:
        text += f" No published text for {len(extra)} class(es) ({', '.join(extra[:4])}{' …' if len(extra) > 4 else ''}): short descriptions written by the LaFG Explorer developers (lafg/language/descriptors/supplement.json)."
    return text


def toy_note(names: list[str]) -> str:
    """The bundled model is a toy: say so plainly, and where better descriptions of these names come from."""
    published = PublishedDescriptionsLLM()
    known = [n for n in names if published.lookup(n) is not None]
    others = [n for n in names if n not in known]
    text = (
        "⚠️ **The bundled LLM is a toy** (135M parameters, offline): it often describes something else entirely "
        "(it called an Alaskan Malamute “an Inuit traditional clothing” and a Lotus a car). "
    )
    if known and not others:
        return text + "All your names are in the published GPT-3 sets: choose **Published descriptions** instead."
    where = "use an OpenAI-compatible endpoint (OpenAI, Ollama, vLLM…) or import a JSON file of descriptions"
    if known:
        return text + (f"{len(known)} of your {len(names)} names are in the published GPT-3 sets (choose **Published "
                       f"descriptions** for those); for the others ({md_join(others[:4], limit=80)}{' …' if len(others) > 4 else ''}) {where}.")
    return text + f"None of your names is in the published GPT-3 sets (the presets): {where}."


def flags_md(s: Session) -> str:
    """The off-topic flags of the current descriptions, per class."""
    live = {c: [(x, r) for x, r in v if x in s.descriptions.get(c, [])] for c, v in s.offtopic.items()}
    live = {c: v for c, v in live.items() if v}
    if not live:
        return "No off-topic sentences flagged." if s.offtopic is not None else ""
    n = sum(len(v) for v in live.values())
    lines = [f"**⚠ {n} sentence(s) look off-topic** (advice, not a verdict; drop them with the button):"]
    for c, pairs in list(live.items())[:30]:
        lines += [f"- **{md(c, 80)}**: “{md(x, 300)}” — {md(r, 200)}" for x, r in pairs[:5]]
    return "\n".join(lines)


def check_offtopic(svc: Services, s: Session) -> None:
    from lafg.language.offtopic import offtopic_flags

    names = [n for n in s.names if s.descriptions.get(n)]
    flags = offtopic_flags({n: s.descriptions[n] for n in names}, svc.text_encoder())
    s.offtopic = {c: [(f.sentence, f.reason) for f in v] for c, v in flags.items()}


def class_text(s: Session, name: str | None) -> str:
    return "\n".join(s.descriptions.get(name or "", []))


def build(svc: Services, state: gr.State) -> dict:
    s0: Session = state.value
    note("ℹ What am I looking at?", NOTE)
    with gr.Row():
        with gr.Column(scale=3):
            names_box = gr.Textbox(
                label="Category names", value="\n".join(s0.names), lines=8, max_lines=16,
                info="One name per line (or comma separated). Any language and script.", elem_id="names-box",
            )
        with gr.Column(scale=2):
            names_file = gr.File(label="…or load a text file of names", file_types=[".txt"], type="filepath", height=120)
            preset = gr.Dropdown(choices=[(f"{k}: {v}", k) for k, v in list_presets().items()], label="…or a preset class list (loads its published descriptions)", value=None, elem_id="preset")
            use_btn = gr.Button("Use these names", variant="primary", elem_id="use-names")
    names_info = gr.Markdown(summary(s0), elem_id="names-info")

    with gr.Accordion("Generate descriptions with an LLM", open=False):
        with gr.Row():
            backend = gr.Dropdown(choices=LLM_CHOICES, value="published", label="LLM", elem_id="llm-backend")
            model = gr.Textbox(label="Model (transformers: Hub id; endpoint: model name)", placeholder="e.g. Qwen/Qwen2.5-1.5B-Instruct or gpt-4o-mini")
            base_url = gr.Textbox(label="Endpoint URL (OpenAI-compatible only)", placeholder="e.g. http://localhost:11434/v1")
            key_env = gr.Dropdown(choices=["none", *svc.llm_key_envs], value=(svc.llm_key_envs or ["none"])[0], label="API key from the server", info="variables the operator allowed (--llm-key-env)")
            api_key = gr.Textbox(label="…or your API key", type="password", info="used for this request only: never stored, logged or cached")
        prompt = gr.Textbox(label="Prompt ({class_name} = the class name, {n} = how many sentences)", value=default_prompt(), lines=5)
        with gr.Row():
            n_per_class = gr.Slider(1, 30, value=5, step=1, label="Descriptions per class")
            gen_btn = gr.Button("Generate descriptions", variant="primary")
    with gr.Row():
        import_file = gr.File(label="Import descriptions JSON ({class: [sentences]})", file_types=[".json"], type="filepath", height=120, scale=2)
        with gr.Column(scale=1):
            export_btn = gr.Button("Export descriptions JSON")
            export_file = gr.File(label="Exported file", interactive=False, height=60, visible=False)
    with gr.Row():
        class_pick = gr.Dropdown(choices=s0.names, value=s0.names[0] if s0.names else None, label="Class", scale=1)
        desc_edit = gr.Textbox(label="Its descriptions (one per line; edit and save)", lines=10, max_lines=20, value=class_text(s0, s0.names[0] if s0.names else None), scale=3, elem_id="desc-edit")
    save_btn = gr.Button("Save edits")
    with gr.Row():
        check_btn = gr.Button("Check for off-topic sentences", scale=1)
        drop_btn = gr.Button("Drop flagged sentences", scale=1, elem_id="drop-flagged")
    flags_box = gr.Markdown(elem_id="offtopic-flags")

    @user_errors
    def set_names(s: Session, text: str, path: str | None, preset_name: str | None):
        published = None
        if preset_name:
            names = load_preset(preset_name)
            cats = parse_categories("\n".join(names))
            published = PublishedDescriptionsLLM(preset_name)  # data shipped with the package: no model to inject
        elif path:
            cats = read_categories(path)
        else:
            cats = parse_categories(text or "")
        if len(cats.names) > svc.limits.names:
            raise InputError(f"{len(cats.names)} class names; at most {svc.limits.names} are accepted here")
        s.names = cats.names
        if published is not None:  # a preset: its published descriptions, at once
            s.descriptions = published.stored_descriptions(s.names)
            s.source = published_source(published)
            s.vocab = s.prototypes = None
            s.offtopic = {}
        if cats.duplicates:
            warning(f"{len(cats.duplicates)} repeated name(s) dropped: {', '.join(cats.duplicates[:5])}")
        first = s.names[0]
        # The names now live in the text box; clear the file and preset so later edits of the text win.
        # The flags (and the toy note of a generation) were about the previous names: show only what still holds.
        return s, "\n".join(s.names), summary(s), gr.Dropdown(choices=s.names, value=first), class_text(s, first), None, None, flags_md(s) if s.offtopic else ""

    use_btn.click(set_names, [state, names_box, names_file, preset], [state, names_box, names_info, class_pick, desc_edit, names_file, preset, flags_box], api_name="set_names")

    @user_errors
    def generate(s: Session, backend_name: str, model_id: str, url: str, key_var: str, key_typed: str, prompt_text: str, n: float, request: gr.Request, progress=gr.Progress()):  # noqa: B008 (the Gradio idiom)
        if not s.names:
            raise InputError("no category names: enter some names and press “Use these names” first")
        if "{class_name}" not in (prompt_text or ""):
            raise InputError("the prompt must contain {class_name} where the class name goes")
        options: dict = {}
        until = time.monotonic() + svc.limits.external_seconds  # the whole request's deadline, not only each call's
        if backend_name == "transformers":
            options = {"model": svc.check_model_id(model_id)}
        elif backend_name == "openai":
            if not url:
                raise InputError("give the endpoint URL, e.g. http://localhost:11434/v1")
            url = svc.check_endpoint(url)
            options = {"base_url": url, "model": model_id, "api_key_env": "", "api_key": svc.api_key(key_var, key_typed, url),
                       "public_only": url not in [u.rstrip("/") for u in svc.llm_endpoints], "until": until}
        if backend_name == "published":
            llm = PublishedDescriptionsLLM()
            s.descriptions.update(llm.stored_descriptions(s.names))
            s.source, s.offtopic, s.vocab, s.prototypes = published_source(llm), {}, None, None
            return s, summary(s), class_text(s, s.names[0]), ""
        if backend_name == "bundled":
            gr.Warning(toy_note(s.names) + " It is also slow on a CPU (seconds to minutes per class).")
        progress(0, desc=f"loading the {backend_name} LLM")
        # An endpoint call takes a slot of the small endpoint pool (a tarpit holds only its visitor's slot).
        slot = svc.external(visitor_key(request)) if backend_name == "openai" else svc.heavy(owner_of(s, request), request)
        with slot:
            llm = svc.llm_factory(backend_name, options)
            if callable(getattr(llm, "load", None)):  # load first, so the bar then moves class by class
                progress(0, desc=f"loading the {backend_name} LLM (once per server; a few seconds to a minute)")
                llm.load()
            new: dict[str, list[str]] = {}
            # One class at a time for the slow local models, so the bar moves per class (bigger batches otherwise).
            step = 1 if backend_name in ("bundled", "transformers") else 16
            for start in range(0, len(s.names), step):
                if time.monotonic() > until:
                    gr.Warning(f"stopped after {svc.limits.external_seconds:g} s (this app's limit per request): {start} of {len(s.names)} classes described; press Generate again for the rest")
                    break
                chunk = s.names[start : start + step]
                progress((start, len(s.names)), desc=f"describing {chunk[0]} ({start + 1}/{len(s.names)})")
                try:
                    new.update(svc.describe_fn(chunk, llm, prompt_text, int(n), None))
                except BackendError:
                    if time.monotonic() <= until or not new:
                        raise
                    gr.Warning(f"stopped after {svc.limits.external_seconds:g} s (this app's limit per request): the classes described so far are kept")
                    break
        empty = [c for c in s.names if not new.get(c)]
        s.descriptions.update({k: v for k, v in new.items() if v})
        s.vocab = s.prototypes = None
        s.source = f"generated by the {backend_name} LLM{(' ' + model_id) if model_id else ''}: check the off-topic flags below"
        check_offtopic(svc, s)
        if empty:
            warning(f"the LLM gave no usable description for {len(empty)} class(es): {', '.join(empty[:5])}")
        toy = toy_note(s.names) + "\n\n" if backend_name == "bundled" else ""
        return s, summary(s), class_text(s, s.names[0]), toy + flags_md(s)

    gen_btn.click(generate, [state, backend, model, base_url, key_env, api_key, prompt, n_per_class], [state, names_info, desc_edit, flags_box], api_name="generate_descriptions",
                  concurrency_limit=svc.limits.external_calls + 2)  # endpoint calls: their own pool of external_calls

    @user_errors
    def import_json(s: Session, path: str | None):
        if not path:
            return s, summary(s), gr.skip()
        data = load_descriptions_json(path, show_as=Path(path).name[:80], **svc.limits.json_limits())
        matched, notes = merge_imported(s.descriptions, s.names, data)
        if notes:
            warning(notes)
        s.source, s.offtopic, s.vocab, s.prototypes = "imported JSON file", {}, None, None
        return s, summary(s), class_text(s, matched[0])

    import_file.upload(import_json, [state, import_file], [state, names_info, desc_edit], api_name="import_descriptions")

    def show(s: Session, name: str | None):
        return class_text(s, name)

    class_pick.change(show, [state, class_pick], desc_edit, api_name="show_descriptions")

    @user_errors
    def save(s: Session, name: str | None, text: str):
        if not name or name not in s.names:
            raise InputError("pick a class first")
        edited = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
        svc.limits.check_session(s.names, {name: edited})  # the limits of every other entry point
        s.descriptions[name] = edited
        s.vocab = s.prototypes = None  # the language side must be rebuilt from the edited text
        info(f"saved {len(s.descriptions[name])} descriptions for {name}")
        return s, summary(s)

    save_btn.click(save, [state, class_pick, desc_edit], [state, names_info], api_name="save_descriptions")

    @user_errors
    def export(s: Session, request: gr.Request):
        if not s.descriptions:
            raise InputError("no descriptions to export yet")
        out = svc.visitor_dir(owner_of(s, request)) / "descriptions.json"
        data = {n: s.descriptions.get(n, []) for n in s.names}
        out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return gr.File(value=str(out), visible=True)

    export_btn.click(export, [state], export_file, api_name="export_descriptions")

    @user_errors
    def check(s: Session):
        if not any(s.descriptions.get(n) for n in s.names):
            raise InputError("no descriptions to check yet")
        check_offtopic(svc, s)
        return s, flags_md(s)

    check_btn.click(check, [state], [state, flags_box], api_name="check_offtopic")

    @user_errors
    def drop(s: Session, name: str | None):
        from lafg.language.offtopic import Flag, drop_flagged

        flags = {c: [Flag(x, r) for x, r in v] for c, v in s.offtopic.items()}
        before = sum(len(v) for v in s.descriptions.values())
        s.descriptions = drop_flagged(s.descriptions, flags)
        dropped = before - sum(len(v) for v in s.descriptions.values())
        s.offtopic = {}
        s.vocab = s.prototypes = None
        gr.Info(f"dropped {dropped} flagged sentence(s)")
        return s, summary(s), class_text(s, name), flags_md(s)

    drop_btn.click(drop, [state, class_pick], [state, names_info, desc_edit, flags_box], api_name="drop_offtopic")
    def redraw(s: Session) -> tuple:
        """(names box, summary, class pick, its descriptions, flags) for a session loaded from elsewhere."""
        first = s.names[0] if s.names else None
        return "\n".join(s.names), summary(s), gr.Dropdown(choices=s.names, value=first), class_text(s, first), flags_md(s) if s.offtopic else ""

    return {"names_info": names_info, "class_pick": class_pick, "redraw": redraw, "outputs": [names_box, names_info, class_pick, desc_edit, flags_box]}
