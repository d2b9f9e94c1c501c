"""The Train tab tells the truth: `full` is offered only with CUDA, and a stopped run shows the epochs it kept
and can be resumed to the end."""

from __future__ import annotations

import json

import gradio as gr
import pytest
from gradio_client.exceptions import AppError

from lafg.app.training import train_job
from lafg.app.ui import build_demo
from tests.app.fakes import fake_services


def mode_choices(demo) -> list:
    radio = next(b for b in demo.blocks.values() if isinstance(b, gr.Radio) and b.elem_id == "train-mode")
    return [value for _label, value in radio.choices]


def test_full_mode_is_offered_only_with_cuda(tmp_path):
    svc = fake_services(tmp_path)
    assert svc.cuda is False
    assert mode_choices(build_demo(svc)) == ["head"]
    svc.cuda = True
    assert mode_choices(build_demo(svc)) == ["head", "full"]


def call(client, name, *args):
    return client.predict(*args, api_name=f"/{name}")


def test_full_mode_is_refused_without_cuda_even_through_the_api(client, app):
    dataset = next(iter(app[1].services.datasets))
    with pytest.raises(AppError, match="CUDA|not in the list of choices"):
        call(client, "start_training", dataset, "lafg", "full", 1, 0.001, False)


def test_a_stopped_run_shows_the_epochs_it_kept_and_resumes_to_the_end(client, app, monkeypatch):
    svc = app[1].services

    def stop_after_two_epochs(services, ctx):
        """The real job; the first run is stopped (as with the Stop button) once two epochs are logged."""
        if not ctx.params.get("resume_from"):
            log = ctx.log

            def logging_then_stop(series, x, y):
                log(series, x, y)
                if x >= 2:
                    services.jobs.cancel(ctx.dir.name)

            ctx.log = logging_then_stop
        return train_job(services, ctx)

    monkeypatch.setattr(svc, "train_job", stop_after_two_epochs)
    dataset = next(iter(svc.datasets))
    with pytest.raises(AppError, match="attach a stopped run|only a stopped"):
        call(client, "resume_training")
    job_id = call(client, "start_training", dataset, "aux", "head", 20, 0.001, False)[0]
    st = svc.jobs.wait(job_id, 120)
    assert st.state == "cancelled", st.error
    # stopped during training or during the evaluation after it: the saved epochs are what was kept
    kept = len((svc.jobs.job_dir(job_id) / "metrics.jsonl").read_text().splitlines())
    assert 2 <= kept < 20 and (st.result is None or st.result["epochs_done"] == kept)
    box = call(client, "attach_job", job_id)[1]
    assert f"Stopped after {kept} of 20 epochs" in box and f"train the other {20 - kept}" in box and f"width:{int(100 * kept / 20)}%" in box
    resumed = call(client, "resume_training")[0]
    done = svc.jobs.wait(resumed, 120)
    assert done.state == "done" and done.result["epochs_done"] == 20 and done.params["resume_from"] == job_id
    lines = (svc.jobs.job_dir(resumed) / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == list(range(1, 21))  # the kept epochs, then the rest
    with pytest.raises(AppError, match="already trained all its epochs|only a stopped"):
        call(client, "resume_training")
