import threading
import time

import pytest

from lafg.app.jobs import JobRegistry
from lafg.errors import InputError, LafgError


def quick(ctx):
    for epoch in range(3):
        ctx.check_cancelled()
        ctx.log("loss", epoch, 1.0 / (epoch + 1))
        ctx.progress(epoch + 1, 3, f"epoch {epoch + 1}")
    return {"recall@1": 0.5}


def test_job_runs_and_records_history(tmp_path):
    reg = JobRegistry(tmp_path)
    job = reg.submit(quick, {"epochs": 3}, "t")
    st = reg.wait(job, 10)
    assert st.state == "done" and st.result == {"recall@1": 0.5}
    assert [p[1] for p in st.history["loss"]] == [1.0, 0.5, pytest.approx(1 / 3)]
    # a second registry (a reloaded app) reads the same status from disk
    assert JobRegistry(tmp_path).status(job).state == "done"


def test_one_at_a_time_queue_and_cancel(tmp_path):
    reg = JobRegistry(tmp_path)
    release = threading.Event()

    def slow(ctx):
        while not release.is_set():
            if ctx.cancelled():
                return {}
            time.sleep(0.02)
        return {"ok": True}

    first = reg.submit(slow, {}, "first")
    second = reg.submit(slow, {}, "second")
    time.sleep(0.3)
    assert reg.status(first).state == "running"
    assert reg.status(second).state == "queued" and "ahead" in reg.status(second).message
    assert reg.cancel(second)
    assert reg.status(second).state == "cancelled"
    reg.cancel(first)
    assert reg.wait(first, 5).state == "cancelled"


def test_failures_are_recorded_not_raised(tmp_path):
    reg = JobRegistry(tmp_path)

    def bad_input(ctx):
        raise InputError("no images")

    def bug(ctx):
        raise RuntimeError("boom")

    assert reg.wait(reg.submit(bad_input, {}), 5).error == "no images"
    st = reg.wait(reg.submit(bug, {}), 5)
    assert st.state == "failed" and "boom" in st.error


def test_job_ids_cannot_escape_the_root(tmp_path):
    reg = JobRegistry(tmp_path)
    with pytest.raises(LafgError):
        reg.status("../etc")


def test_second_registry_on_the_same_machine_waits_for_the_first(tmp_path):
    release = threading.Event()

    def slow(ctx):
        release.wait(10)
        return {}

    first_reg, second_reg = JobRegistry(tmp_path), JobRegistry(tmp_path)  # two app processes sharing a work folder
    first = first_reg.submit(slow, {}, "first")
    time.sleep(0.3)
    second = second_reg.submit(quick, {}, "second")
    time.sleep(0.6)
    st = second_reg.status(second)
    assert st.state == "waiting" and "another training is running on this machine" in st.message
    release.set()
    assert first_reg.wait(first, 10).state == "done"
    assert second_reg.wait(second, 10).state == "done"


def test_jobs_left_active_by_a_dead_process_are_marked_interrupted(tmp_path):
    import json

    folder = tmp_path / "20260101-000000-abcdef"
    folder.mkdir()
    (folder / "status.json").write_text(json.dumps({"id": folder.name, "title": "t", "params": {}, "state": "running", "pid": 999999}), encoding="utf-8")
    st = JobRegistry(tmp_path).status(folder.name)
    assert st.state == "interrupted" and "checkpoint is kept" in st.message


def test_eta_is_estimated_within_a_stage(tmp_path):
    seen = {}

    def staged(ctx):
        ctx.progress(0, 2, "preparing")
        time.sleep(0.4)
        ctx.progress(2, 2, "prepared")
        ctx.progress(0, 100, "training")
        time.sleep(0.1)
        ctx.progress(50, 100, "training")
        seen["eta"] = ctx._status.eta_s
        return {}

    reg = JobRegistry(tmp_path)
    reg.wait(reg.submit(staged, {}), 10)
    assert 0.05 < seen["eta"] < 0.35  # from the training stage alone, not the 0.4 s of preparation


def test_owners_see_and_stop_only_their_jobs_and_stop_takes_effect_without_cooperation(tmp_path):
    from lafg.app.jobs import STOPPING

    reg = JobRegistry(tmp_path, machine_lock=False, poll_s=0.05)

    def never_looks(ctx):  # reports progress but never checks cancelled()
        for i in range(100_000):
            ctx.progress(i, 100_000, "busy")
            time.sleep(0.02)
        return {}

    job = reg.submit(never_looks, {}, "alice's", owner="alice")
    assert [s.id for s in reg.list("alice")] == [job] and reg.list("bob") == [] and reg.list("") == []
    with pytest.raises(LafgError, match="no such job"):
        reg.cancel(job, owner="bob")
    with pytest.raises(LafgError, match="no such job"):
        reg.status(job, owner="bob")
    while reg.status(job).state != "running":
        time.sleep(0.02)
    t0 = time.perf_counter()
    assert reg.cancel(job, owner="alice")
    assert reg.status(job).message == STOPPING
    assert reg.wait(job, 10).state == "cancelled" and time.perf_counter() - t0 < 5
