import threading
import time

import pytest

import lafg.app.jobs
from lafg.app.jobs import FINISHED, JobRegistry
from lafg.errors import InputError, LafgError
from tests.waiting import GUARD_S, wait_event, wait_until


def quick(ctx):
    for epoch in range(3):
        ctx.check_cancelled()
        ctx.log("loss", epoch, 1.0 / (epoch + 1))
        ctx.progress(epoch + 1, 3, f"epoch {epoch + 1}")
    return {"recall@1": 0.5}


def test_job_runs_and_records_history(tmp_path):
    reg = JobRegistry(tmp_path)
    job = reg.submit(quick, {"epochs": 3}, "t")
    st = reg.wait(job, GUARD_S)
    assert st.state == "done" and st.result == {"recall@1": 0.5}
    assert [p[1] for p in st.history["loss"]] == [1.0, 0.5, pytest.approx(1 / 3)]
    # a second registry (a reloaded app) reads the same status from disk
    assert JobRegistry(tmp_path).status(job).state == "done"


def test_one_at_a_time_queue_and_cancel(tmp_path):
    reg = JobRegistry(tmp_path)
    release, started = threading.Event(), {"first": threading.Event(), "second": threading.Event()}

    def slow(ctx):
        started[ctx.params["name"]].set()
        while not release.wait(0.02):  # holds the machine until released or stopped
            if ctx.cancelled():
                return {}
        return {"ok": True}

    try:
        first = reg.submit(slow, {"name": "first"}, "first")
        second = reg.submit(slow, {"name": "second"}, "second")
        wait_event(started["first"], "the first job starting")
        assert reg.status(first).state == "running"
        assert reg.status(second).state == "queued" and "ahead" in reg.status(second).message
        assert reg.cancel(second)
        assert reg.status(second).state == "cancelled"
        reg.cancel(first)
        assert reg.wait(first, GUARD_S).state == "cancelled"
        assert not started["second"].is_set()  # a job cancelled in the queue never runs
    finally:
        release.set()


def test_failures_are_recorded_not_raised(tmp_path):
    reg = JobRegistry(tmp_path)

    def bad_input(ctx):
        raise InputError("no images")

    def bug(ctx):
        raise RuntimeError("boom")

    assert reg.wait(reg.submit(bad_input, {}), GUARD_S).error == "no images"
    st = reg.wait(reg.submit(bug, {}), GUARD_S)
    assert st.state == "failed" and "boom" in st.error


def test_job_ids_cannot_escape_the_root(tmp_path):
    reg = JobRegistry(tmp_path)
    with pytest.raises(LafgError):
        reg.status("../etc")


def test_second_registry_on_the_same_machine_waits_for_the_first(tmp_path):
    release, started = threading.Event(), threading.Event()

    def slow(ctx):
        started.set()
        release.wait(GUARD_S)
        return {}

    first_reg, second_reg = JobRegistry(tmp_path), JobRegistry(tmp_path)  # two app processes sharing a work folder
    try:
        first = first_reg.submit(slow, {}, "first")
        wait_event(started, "the first registry's job starting")  # it holds the machine now
        second = second_reg.submit(quick, {}, "second")
        st = wait_until(lambda: (s := second_reg.status(second)).state != "queued" and s, "the second job leaving its queue")
        assert st.state == "waiting" and "another training is running on this machine" in st.message
    finally:
        release.set()
    assert first_reg.wait(first, GUARD_S).state == "done"
    assert second_reg.wait(second, GUARD_S).state == "done"


def test_jobs_left_active_by_a_dead_process_are_marked_interrupted(tmp_path):
    import json

    folder = tmp_path / "20260101-000000-abcdef"
    folder.mkdir()
    (folder / "status.json").write_text(json.dumps({"id": folder.name, "title": "t", "params": {}, "state": "running", "pid": 999999}), encoding="utf-8")
    st = JobRegistry(tmp_path).status(folder.name)
    assert st.state == "interrupted" and "checkpoint is kept" in st.message


class FakeClock:
    """``lafg.app.jobs``' view of the ``time`` module with a wall clock that moves only when a test moves it."""

    def __init__(self):
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now

    def __getattr__(self, name):  # sleep, strftime, ...: the real ones
        return getattr(time, name)


def test_eta_is_estimated_within_a_stage(tmp_path, monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(lafg.app.jobs, "time", clock)
    reg = JobRegistry(tmp_path)
    etas = []

    def staged(ctx):
        ctx.progress(0, 2, "preparing")
        clock.now += 40.0  # a long preparation stage...
        ctx.progress(2, 2, "prepared")
        ctx.progress(20, 100, "training")  # ...then a new stage (a new total), resumed at step 20
        clock.now += 10.0
        ctx.progress(50, 100, "training")  # 30 steps in 10 s: the 50 left take 50 × 10/30 s
        etas.append(reg.status(ctx.dir.name).eta_s)
        clock.now += 6.0
        ctx.progress(80, 100, "training")  # 60 steps in 16 s: the 20 left take 20 × 16/60 s
        etas.append(reg.status(ctx.dir.name).eta_s)
        return {}

    job = reg.submit(staged, {})
    assert wait_until(lambda: reg.status(job).state in FINISHED, "the job finishing") and reg.status(job).state == "done"
    # steps left × the time per step measured in the training stage alone (the 40 s of preparation left out)
    assert etas == [pytest.approx(50 * 10.0 / 30), pytest.approx(20 * 16.0 / 60)]


def test_owners_see_and_stop_only_their_jobs_and_stop_takes_effect_without_cooperation(tmp_path):
    from lafg.app.jobs import STOPPING

    reg = JobRegistry(tmp_path, machine_lock=False, poll_s=0.05)
    reporting, go_on, give_up, returned = threading.Event(), threading.Event(), threading.Event(), threading.Event()

    def never_looks(ctx):  # reports progress but never checks cancelled()
        ctx.progress(0, 100, "busy")
        reporting.set()
        go_on.wait(GUARD_S)  # the test stops it while it is here
        step = 0
        while not give_up.is_set():  # a job that would run for ever; Stop has to end it from ctx.progress
            step += 1
            ctx.progress(step % 100, 100, "busy")
            give_up.wait(0.02)
        returned.set()
        return {}

    job = reg.submit(never_looks, {}, "alice's", owner="alice")
    try:
        assert [s.id for s in reg.list("alice")] == [job] and reg.list("bob") == [] and reg.list("") == []
        with pytest.raises(LafgError, match="no such job"):
            reg.cancel(job, owner="bob")
        with pytest.raises(LafgError, match="no such job"):
            reg.status(job, owner="bob")
        wait_event(reporting, "the job reporting progress")
        assert reg.status(job).state == "running"  # bob's attempts did not touch it
        assert reg.cancel(job, owner="alice")
        assert reg.status(job).state == "running" and reg.status(job).message == STOPPING  # shown at once
        go_on.set()
        st = wait_until(lambda: (s := reg.status(job)).state in FINISHED and s, "the stopped job ending")
        assert st.state == "cancelled" and "checkpoint is kept" in st.message
        assert not returned.is_set()  # stopped by its own progress report, not by finishing
    finally:
        go_on.set()
        give_up.set()
