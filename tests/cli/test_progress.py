import io

from lafg.cli.progress import ProgressBar, format_seconds, stage


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_plain_lines_with_eta_that_ignores_cached_work(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("lafg.cli.progress.time.monotonic", clock)
    out = io.StringIO()
    with ProgressBar("extract", unit="images", stream=out, every_s=10) as bar:
        bar(40, 100, "40 cached")  # cached work: not part of the rate
        clock.t += 5
        bar(50, 100)  # 10 images in 5 s → 50 left take 25 s; throttled (under 10 s since the last line)
        assert bar.eta_s() == 25
        clock.t += 6
        bar(60, 100, "features")
        clock.t += 1
        bar(100, 100)
    lines = out.getvalue().splitlines()
    assert lines == [
        "extract: 40/100 images (40%), 0s elapsed, ETA -- [40 cached]",
        "extract: 60/100 images (60%), 11s elapsed, ETA 22s [features]",
        "extract: 100/100 images (100%), 12s elapsed",
    ]


def test_close_prints_the_last_state_once_and_disabled_prints_nothing():
    out = io.StringIO()
    with ProgressBar("describe", unit="classes", stream=out, every_s=1e9) as bar:
        bar(0, 3, "generating a")
        bar(2, 3)
    assert out.getvalue().splitlines()[-1].startswith("describe: 2/3 classes (67%)")
    assert len(out.getvalue().splitlines()) == 2
    quiet = io.StringIO()
    with ProgressBar("x", stream=quiet, enabled=False) as bar:
        bar(1, 2)
    assert quiet.getvalue() == ""


def test_tty_draws_a_tqdm_bar_with_eta():
    out = io.StringIO()
    with ProgressBar("extract", unit="images", stream=out, tty=True) as bar:
        bar(0, 4)
        bar(2, 4, "features")
        bar(4, 4)
    text = out.getvalue()
    assert "extract" in text and "4/4" in text and "100%" in text


def test_stage_and_format_seconds():
    out = io.StringIO()
    with stage("loading LLM x", stream=out):
        pass
    assert out.getvalue().splitlines() == ["loading LLM x ...", "loading LLM x: done in 0s"]
    assert [format_seconds(s) for s in (4.4, 65, 3725)] == ["4s", "1m05s", "1h02m"]


def test_quiet_library_bars_silences_the_loading_weights_bar(monkeypatch):
    from transformers.utils import logging as hf_logging

    from lafg.cli.progress import quiet_library_bars

    # set then removed through monkeypatch, so the value quiet_library_bars() writes is undone after the test too
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "")
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS")
    was = hf_logging.is_progress_bar_enabled()
    try:
        hf_logging.enable_progress_bar()
        quiet_library_bars()
        assert not hf_logging.is_progress_bar_enabled()  # the switch transformers' "Loading weights" bar reads
        import os

        assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"  # and libraries imported later
    finally:
        (hf_logging.enable_progress_bar if was else hf_logging.disable_progress_bar)()
