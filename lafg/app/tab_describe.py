"""Tab 1 — Categories & descriptions: names from text / file / preset; descriptions from an LLM or a JSON file;
read, edit and export them per class."""

from __future__ import annotations

import json

import gradio as gr

from lafg.categories import list_presets, load_preset, parse_categories, read_categories
from lafg.errors import InputError

from .common import Session, progress_callback, user_errors
from .services import Services, default_prompt, merge_imported, owner_of, read_descriptions_json

LLM_CHOICES = [
    ("Bundled small LLM (SmolLM2-135M, offline, weak)", "bundled"),
    ("Transformers model (local folder or Hub id)", "transformers"),
    ("OpenAI-compatible endpoint (OpenAI, Ollama, vLLM…)", "openai"),
]


def summary(s: Session) -> str:
    n_sent = sum(len(s.descriptions.get(n, [])) for n in s.names)
    missing = [n for n in s.names if not s.descriptions.get(n)]
    text = f"**{len(s.names)} classes · {n_sent} description sentences**"
    if missing:
        shown = ", ".join(missing[:8]) + (" …" if len(missing) > 8 else "")
        text += f" · {len(missing)} without descriptions: {shown}"
    return text


def class_text(s: Session, name: str | None) -> str:
    return "\n".join(s.descriptions.get(name or "", []))


def build(svc: Services, state: gr.State) -> dict:
    s0: Session = state.value
    with gr.Row():
        with gr.Column(scale=3):
            names_box = gr.Textbox(
                label="Category names", value="\n".join(s0.names), lines=8, max_lines=16,
                info="One name per line (or comma separated). Any language and script.", elem_id="names-box",
            )
        with gr.Column(scale=2):
            names_file = gr.File(label="…or load a text file of names", file_types=[".txt"], type="filepath", height=120)
            preset = gr.Dropdown(choices=[(f"{k}: {v}", k) for k, v in list_presets().items()], label="…or a preset class list", value=None)
            use_btn = gr.Button("Use these names", variant="primary", elem_id="use-names")
    names_info = gr.Markdown(summary(s0), elem_id="names-info")

    with gr.Accordion("Generate descriptions with an LLM", open=False):
        with gr.Row():
            backend = gr.Dropdown(choices=LLM_CHOICES, value="bundled", label="LLM")
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

    @user_errors
    def set_names(s: Session, text: str, path: str | None, preset_name: str | None):
        if preset_name:
            names = load_preset(preset_name)
            cats = parse_categories("\n".join(names))
        elif path:
            cats = read_categories(path)
        else:
            cats = parse_categories(text or "")
        if len(cats.names) > svc.limits.names:
            raise InputError(f"{len(cats.names)} class names; at most {svc.limits.names} are accepted here")
        s.names = cats.names
        if cats.duplicates:
            gr.Warning(f"{len(cats.duplicates)} repeated name(s) dropped: {', '.join(cats.duplicates[:5])}")
        first = s.names[0]
        # The names now live in the text box; clear the file and preset so later edits of the text win.
        return s, "\n".join(s.names), summary(s), gr.Dropdown(choices=s.names, value=first), class_text(s, first), None, None

    use_btn.click(set_names, [state, names_box, names_file, preset], [state, names_box, names_info, class_pick, desc_edit, names_file, preset], api_name="set_names")

    @user_errors
    def generate(s: Session, backend_name: str, model_id: str, url: str, key_var: str, key_typed: str, prompt_text: str, n: float, request: gr.Request, progress=gr.Progress()):  # noqa: B008 (the Gradio idiom)
        if not s.names:
            raise InputError("no category names: enter some names and press “Use these names” first")
        if "{class_name}" not in (prompt_text or ""):
            raise InputError("the prompt must contain {class_name} where the class name goes")
        options: dict = {}
        if backend_name == "transformers":
            options = {"model": svc.check_model_id(model_id)}
        elif backend_name == "openai":
            if not url:
                raise InputError("give the endpoint URL, e.g. http://localhost:11434/v1")
            options = {"base_url": svc.check_endpoint(url), "model": model_id, "api_key_env": "", "api_key": svc.api_key(key_var, key_typed)}
        if backend_name == "bundled" and len(s.names) > 3:
            gr.Warning(
                f"The bundled 135M-parameter LLM is slow on a CPU (up to minutes per class on a busy machine) and its "
                f"descriptions are weak; for {len(s.names)} classes prefer an OpenAI-compatible endpoint or import a JSON file."
            )
        progress(0, desc=f"loading the {backend_name} LLM")
        with svc.heavy(owner_of(s, request)):
            llm = svc.llm_factory(backend_name, options)
            new = svc.describe_fn(s.names, llm, prompt_text, int(n), progress_callback(progress))
        empty = [c for c in s.names if not new.get(c)]
        s.descriptions.update({k: v for k, v in new.items() if v})
        if empty:
            gr.Warning(f"the LLM gave no usable description for {len(empty)} class(es): {', '.join(empty[:5])}")
        return s, summary(s), class_text(s, s.names[0])

    gen_btn.click(generate, [state, backend, model, base_url, key_env, api_key, prompt, n_per_class], [state, names_info, desc_edit], api_name="generate_descriptions")

    @user_errors
    def import_json(s: Session, path: str | None):
        if not path:
            return s, summary(s), gr.skip()
        data = read_descriptions_json(path, svc.limits)
        matched, notes = merge_imported(s.descriptions, s.names, data)
        if notes:
            gr.Warning(notes)
        return s, summary(s), class_text(s, matched[0])

    import_file.upload(import_json, [state, import_file], [state, names_info, desc_edit], api_name="import_descriptions")

    def show(s: Session, name: str | None):
        return class_text(s, name)

    class_pick.change(show, [state, class_pick], desc_edit, api_name="show_descriptions")

    @user_errors
    def save(s: Session, name: str | None, text: str):
        if not name or name not in s.names:
            raise InputError("pick a class first")
        s.descriptions[name] = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
        s.vocab = s.prototypes = None  # the language side must be rebuilt from the edited text
        gr.Info(f"saved {len(s.descriptions[name])} descriptions for {name}")
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
    return {"names_info": names_info, "class_pick": class_pick}
