"""Tab 4 — Train: a background job per run (lafg.app.jobs), polled with gr.Timer; the loss curve, ETA, Stop, re-attach
after a reload; finished runs compared once, at the end, with the pretrained backbone and the controls on the
unseen classes. Settings start at the library's validated defaults (lafg.pipeline.RunConfig; the app's only
departures are in lafg.app.training.APP_DIFFERENCES)."""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

import gradio as gr

from lafg.app.jobs import ACTIVE
from lafg.app.plots import training_curves
from lafg.errors import InputError
from lafg.store.cache import content_key
from lafg.training.loop import DEFAULT_EPOCHS, TrainConfig
from lafg.training.methods import controls_for

from . import own_data
from .common import Session, user_errors
from .datasets import shared_descriptions
from .guide import experiment_panel, separation_cell, too_small_note, unseen_images
from .services import Services
from .uploads import owner_of

METHOD_HELP = {
    "lafg": "LaFG (the paper): language prototypes from the attribute vocabulary",
    "grounded": "LaFG with each class's own atoms only (what its own sentences say)",
    "pretrained": "no training: the frozen backbone (baseline)",
    "onehot": "label-only softmax baseline",
    "aux": "pairwise loss only (no language)",
    "template": "prototype = class name in the template",
    "descriptions": "prototype = mean of the class's descriptions",
    "random": "control: random prototypes",
    "permuted": "control: prototypes of the wrong classes",
    "permuted-grounded": "control: grounded prototypes of the wrong classes",
}


def method_choices() -> list[tuple[str, str]]:
    from lafg.training.methods import list_methods

    return [(f"{m} — {METHOD_HELP.get(m, '')}", m) for m in list_methods()]


def dataset_choices(svc: Services, s: Session) -> list[str]:
    return list(svc.datasets) + list(s.datasets)


def dataset_dir(svc: Services, s: Session, label: str | None) -> Path:
    folder = svc.datasets.get(label or "") or s.datasets.get(label or "")
    if folder is None:
        raise InputError("choose a data set (or add a folder / zip below)")
    return Path(folder)


def fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    m, sec = divmod(int(seconds), 60)
    return f" · ETA {m} min {sec:02d} s" if m else f" · ETA {sec} s"


def stopped_epochs(st, job_dir: Path | None = None) -> tuple[int, int] | None:
    """(epochs kept, epochs asked) of a stopped or interrupted training run, or None. A run stopped before its
    evaluation has no result: its kept epochs are the lines of its ``metrics.jsonl`` (one per saved epoch)."""
    if st is None or st.state not in ("cancelled", "interrupted"):
        return None
    r = st.result or {}
    asked = int(r.get("epochs") or st.params.get("epochs") or 0)
    if "epochs_done" in r:
        return int(r["epochs_done"]), asked
    metrics = job_dir / "metrics.jsonl" if job_dir is not None else None
    done = len(metrics.read_text(encoding="utf-8").splitlines()) if metrics is not None and metrics.is_file() else 0
    return done, asked


def progress_html(st, job_dir: Path | None = None) -> str:
    if st is None:
        return "<div class='lafg-job'>No training job attached. Choose a method and press <b>Start training</b>.</div>"
    pct = int(100 * st.fraction) if st.state != "done" else 100
    colour = {"failed": "#c53030", "cancelled": "#b7791f", "interrupted": "#b7791f", "done": "#2f855a"}.get(st.state, "#2b6cb0")
    msg = html.escape(st.message or "")
    kept = stopped_epochs(st, job_dir)
    if kept and kept[1]:
        # The bar shows the epochs kept, not the last stage's progress (the evaluation after the stop).
        pct = int(100 * kept[0] / kept[1])
        msg = (f"Stopped after {kept[0]} of {kept[1]} epochs: the weights of epoch {kept[0]} are kept"
               + (" and were evaluated" if st.result and st.result.get("recall") else "")
               + (f". Press <b>Resume</b> to train the other {kept[1] - kept[0]}." if kept[0] < kept[1] else "."))
    return (
        f"<div class='lafg-job' id='job-progress'><b>{html.escape(st.title)}</b> — <span class='job-state'>{st.state}</span>"
        f" · {pct}%{fmt_eta(st.eta_s) if st.state == 'running' else ''}<br>"
        f"<div style='background:#e2e8f0;border-radius:4px;height:12px;margin:6px 0'>"
        f"<div style='width:{pct}%;background:{colour};height:12px;border-radius:4px'></div></div>{msg}</div>"
    )


def results_table(svc: Services, dataset: str | None, owner: str = "") -> list[list]:
    """Finished runs (the visitor's own) on the same data set: method, epochs, unseen Recall@K, the pretrained
    baseline, and in every row whether such runs can be told apart at all (:func:`guide.separation_cell`)."""
    rows, baseline, separation = [], None, ""
    for st in svc.jobs.list(owner):
        r = st.result or {}
        if st.state not in ("done", "cancelled") or not r.get("recall"):
            continue
        if dataset and r.get("dataset") != dataset:
            continue
        rec = r["recall"]
        baseline = baseline or r.get("pretrained")
        separation = separation or separation_cell(len(r.get("unseen_classes") or []), unseen_images(str(r.get("dataset", ""))))
        if r.get("method") == "pretrained":
            continue  # shown once, as the baseline row
        delta = rec.get("R@1", 0) - (r.get("pretrained") or {}).get("R@1", 0)
        rows.append([r.get("method"), r.get("epochs_done", 0), rec.get("R@1"), rec.get("R@2"), rec.get("R@4"), rec.get("R@8"), f"{delta:+.1f}", separation, st.id])
    if baseline:
        rows.insert(0, ["pretrained (frozen backbone)", 0, baseline.get("R@1"), baseline.get("R@2"), baseline.get("R@4"), baseline.get("R@8"), "+0.0", separation, "baseline"])
    return rows


RESULT_HEADERS = ["method", "epochs", "R@1", "R@2", "R@4", "R@8", "Δ R@1 vs pretrained", "can these runs be told apart?", "job"]


def verdict(st) -> str:
    if st is None or st.state not in ("done", "cancelled") or not st.result:
        return ""
    r = st.result
    rec, base = r.get("recall", {}), r.get("pretrained", {})
    if r.get("method") == "pretrained":
        return f"Pretrained backbone on the unseen classes: R@1 **{rec.get('R@1')}%**."
    text = f"Unseen-class R@1: **{rec.get('R@1')}%** after {r.get('epochs_done')} epoch(s), vs **{base.get('R@1')}%** for the untrained backbone (measured once, at the end)."
    if r.get("vocabulary"):
        text += f"\n\nTraining vocabulary: {r['vocabulary']} (tabs 2–3 explore a vocabulary over all your names; training never reads the unseen classes' descriptions)."
    if r.get("explanations"):
        text += f" Explanations read the {r['explanations']}."
    for note in r.get("notes") or []:
        text += f"\n\nNote: {note}."
    if r.get("worse_than_pretrained"):
        text += "\n\n⚠️ **Fine-tuning made unseen-class retrieval worse than the untrained backbone.** Try fewer epochs, a lower learning rate, or more seen classes."
    return text + too_small_note(r, unseen_images(str(r.get("dataset", ""))))


def job_choices(svc: Services, owner: str = "") -> list[tuple[str, str]]:
    out = []
    for st in svc.jobs.list(owner)[:30]:
        when = time.strftime("%H:%M", time.localtime(st.created))
        out.append((f"{when} · {st.title} · {st.state}", st.id))
    return out


def build(svc: Services, state: gr.State, job_store: gr.BrowserState) -> dict:
    s0: Session = state.value
    cuda_note = (
        "CUDA found: `full` fine-tunes the whole backbone on the GPU; `head` trains on frozen features."
        if svc.cuda else "CPU only: `head` mode (frozen backbone features); `full` fine-tuning needs CUDA."
    )
    with gr.Row():
        with gr.Column(scale=2):
            dataset = gr.Dropdown(choices=dataset_choices(svc, s0), value=dataset_choices(svc, s0)[0], label="Data set (seen classes train, unseen classes evaluate)")
            with gr.Accordion("Add a data set", open=False):
                # Server folders are an operator feature (app.py --data-root): hidden unless turned on.
                folder = gr.Textbox(label="Folder on this machine", placeholder="/path/to/set (class-per-folder, or classes.csv + images.csv)", visible=bool(svc.data_roots), info="inside " + ", ".join(str(r) for r in svc.data_roots) if svc.data_roots else None)
                add_folder_btn = gr.Button("Add folder", visible=bool(svc.data_roots))
                own_data.upload_block(svc, state, dataset, dataset_choices, "train")
        with gr.Column(scale=2):
            method = gr.Dropdown(choices=method_choices(), value="lafg", label="Method")
            # full fine-tuning needs CUDA: not offered without it (start() refuses it too, for API clients)
            mode = gr.Radio(["head", "full"] if svc.cuda else ["head"], value="head", label="Mode", info=cuda_note, elem_id="train-mode")
        with gr.Column(scale=1):
            epochs = gr.Slider(1, 200, value=DEFAULT_EPOCHS["head"], step=1, label="Epochs", info="default: the validated schedule")
            lr = gr.Number(value=TrainConfig.lr, label="Learning rate", minimum=1e-6, maximum=1.0, info="1e-4 validated (1e-3 lost ~6 R@1)")
            controls = gr.Checkbox(value=False, label="Also queue the controls", info="pretrained baseline, random prototypes and this method's prototypes given to the wrong classes, same settings")
    with gr.Row():
        start_btn = gr.Button("Start training", variant="primary", elem_id="start-training")
        stop_btn = gr.Button("Stop", variant="stop")
        resume_btn = gr.Button("Resume", elem_id="resume-training")
        job_pick = gr.Dropdown(choices=job_choices(svc, s0.owner), label="Re-attach to a job", scale=2, allow_custom_value=True, elem_id="job-pick")
        refresh_btn = gr.Button("Refresh job list", scale=0)
    progress = gr.HTML(progress_html(None), elem_id="job-box")
    curves = gr.Plot(value=training_curves({}), label="Training loss (unseen-class recall is measured once, at the end)")
    verdict_md = gr.Markdown(elem_id="train-verdict")
    table = gr.Dataframe(headers=RESULT_HEADERS, value=results_table(svc, None, s0.owner), label="Finished runs on this data set (unseen classes, %)", interactive=False, wrap=True)
    timer = gr.Timer(1.0, active=False)
    experiment_panel()

    @user_errors
    def add_folder(s: Session, path: str):
        folder_path, ds = svc.server_folder(path)
        label = f"{folder_path.name} (folder, {len(ds.classes)} classes)"
        s.datasets[label] = str(folder_path)
        return s, gr.Dropdown(choices=dataset_choices(svc, s), value=label)

    add_folder_btn.click(add_folder, [state, folder], [state, dataset], api_name="add_folder")

    def render(s: Session, job_id: str, force: bool = False):
        """(progress html, curves, verdict, table, timer, job list) for a job; skips what did not change."""
        skip6 = (gr.skip(),) * 4
        if not job_id:
            return (progress_html(None), gr.skip(), "", gr.skip(), gr.Timer(active=False), gr.skip())
        try:
            st = svc.jobs.status(job_id, s.owner)
        except Exception:  # noqa: BLE001 (a job folder that disappeared, or another visitor's)
            return (progress_html(None), gr.skip(), "", gr.skip(), gr.Timer(active=False), gr.skip())
        mark = f"{st.state}|{st.done}|{st.message}|{sum(len(v) for v in st.history.values())}"
        active = st.state in ACTIVE
        if mark == s.job_seen and not force:
            return (*skip6, gr.Timer(active=active), gr.skip())
        state_changed = force or st.state != s.job_seen.split("|")[0]
        s.job_seen = mark
        jobs_value = gr.Dropdown(choices=job_choices(svc, s.owner), value=job_id) if state_changed else gr.skip()
        table_value = results_table(svc, (st.result or {}).get("dataset") or st.params.get("dataset_dir"), s.owner) if not active else gr.skip()
        return progress_html(st, svc.jobs.job_dir(st.id)), training_curves(st.history, title=st.title), verdict(st), table_value, gr.Timer(active=active), jobs_value

    @user_errors
    def start(s: Session, ds_label: str, method_name: str, mode_name: str, n_epochs: float, rate: float, with_controls: bool, request: gr.Request):
        from lafg.training.methods import get_method

        get_method(method_name)
        if mode_name != "head" and not svc.cuda:
            raise InputError("full fine-tuning needs a CUDA GPU and this machine has none: use head mode")
        folder_path = dataset_dir(svc, s, ds_label)
        descriptions = dict(shared_descriptions(folder_path))
        descriptions.update({k: v for k, v in s.descriptions.items() if v})
        # The descriptions go to a file in the session's folder: job status files stay small.
        owner = owner_of(s, request)
        desc_file = svc.visitor_dir(owner) / f"descriptions-{content_key(descriptions)}.json"
        desc_file.write_text(json.dumps(descriptions, ensure_ascii=False), encoding="utf-8")
        base = {
            "dataset_dir": str(folder_path), "mode": mode_name, "epochs": int(n_epochs), "lr": float(rate or TrainConfig.lr),
            "descriptions_file": str(desc_file),
            "visual_only": s.visual_only,  # the vocabulary tab's toggle; the library filters (RunConfig.vocab)
        }
        busy = svc.jobs.active()  # all visitors' (titles are not shown: only that the machine is busy)
        methods = [method_name] + (list(controls_for(method_name)) if with_controls else [])
        ids = []
        for m in methods:
            title = f"{m} · {mode_name} · {int(n_epochs)} epochs · {ds_label.split(' (')[0]}"
            ids.append(svc.jobs.submit(lambda ctx: svc.train_job(svc, ctx), {**base, "method": m}, title, owner=owner))
        job_id = ids[0]
        if busy:
            gr.Warning("Another training is running on this machine; yours is queued and starts when it ends.")
        if len(ids) > 1:
            gr.Info(f"queued {len(ids) - 1} control run(s) after it: {', '.join(methods[1:])}")
        s.job_id, s.job_seen = job_id, ""
        out = render(s, job_id, force=True)
        return (s, job_id, *out[:4], gr.Timer(active=True), out[5])

    outputs = [progress, curves, verdict_md, table, timer, job_pick]
    start_btn.click(start, [state, dataset, method, mode, epochs, lr, controls], [state, job_store, *outputs], api_name="start_training")

    @user_errors
    def stop(s: Session, request: gr.Request):
        if not s.job_id:
            raise InputError("no job attached to stop")
        if not svc.jobs.cancel(s.job_id, owner_of(s, request)):
            gr.Info("this job has already finished")
        return render(s, s.job_id, force=True)

    stop_btn.click(stop, [state], outputs, api_name="stop_training")

    @user_errors
    def resume(s: Session, request: gr.Request):
        owner = owner_of(s, request)
        if not s.job_id:
            raise InputError("attach a stopped run first (Re-attach to a job)")
        st = svc.jobs.status(s.job_id, owner)
        kept = stopped_epochs(st, svc.jobs.job_dir(st.id))
        if kept is None or not (svc.jobs.job_dir(st.id) / "checkpoint.pt").is_file():
            raise InputError("only a stopped training run with a saved epoch can be resumed")
        if kept[0] >= kept[1]:
            raise InputError("this run already trained all its epochs")
        title = f"{st.title} · resumed"
        job_id = svc.jobs.submit(lambda ctx: svc.train_job(svc, ctx), {**st.params, "resume_from": st.id}, title, owner=owner)
        s.job_id, s.job_seen = job_id, ""
        return (s, job_id, *render(s, job_id, force=True))

    resume_btn.click(resume, [state], [state, job_store, *outputs], api_name="resume_training")

    def poll(s: Session):
        return render(s, s.job_id)

    timer.tick(poll, [state], outputs, api_name="poll_job", show_progress="hidden")

    @user_errors
    def attach(s: Session, job_id: str | None, request: gr.Request = None):
        if not job_id:
            return (s, gr.skip(), *[gr.skip()] * 4, gr.Timer(active=False), gr.skip())
        svc.jobs.status(job_id, owner_of(s, request))  # an unknown id and another visitor's read the same
        s.job_id, s.job_seen = job_id, ""
        return (s, job_id, *render(s, job_id, force=True))

    job_pick.input(attach, [state, job_pick], [state, job_store, *outputs], api_name="attach_job")

    def refresh(s: Session, request: gr.Request):
        return gr.Dropdown(choices=job_choices(svc, owner_of(s, request)), value=s.job_id or None)

    refresh_btn.click(refresh, [state], job_pick, api_name="list_jobs")
    return {"attach": attach, "job_pick": job_pick, "outputs": outputs, "dataset": dataset, "job_choices": lambda owner="": job_choices(svc, owner)}
