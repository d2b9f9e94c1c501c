"""A run folder used by two trainings at once is refused; ``--resume`` may not silently change settings."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lafg.errors import InputError
from lafg.training.runlock import acquire_run_lock, resume_differences
from tests.training.test_loop import _cfg, _run


def test_second_training_in_the_same_folder_is_refused(tmp_path):
    held = acquire_run_lock(tmp_path)
    with pytest.raises(InputError, match="in use by another training"):
        _run(_cfg(epochs=1), tmp_path)
    held.release()
    assert _run(_cfg(epochs=1), tmp_path).status == "done"  # free again


def test_lock_held_by_another_process_and_freed_when_it_dies(tmp_path):
    code = f"from lafg.training.runlock import acquire_run_lock; import time; l = acquire_run_lock({str(tmp_path)!r}); print('ok', flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ok"
        with pytest.raises(InputError, match=r"in use by another training \(pid \d+\)"):
            acquire_run_lock(tmp_path)
    finally:
        proc.kill()  # kill -9: the kernel drops the lock
        proc.wait()
    acquire_run_lock(tmp_path).release()


def test_resume_with_other_settings_is_refused_naming_them(tmp_path):
    _run(_cfg(epochs=1), tmp_path)
    with pytest.raises(InputError, match=r"lr 0.01 → 0.05; method 'lafg' → 'aux'.*--override"):
        _run(_cfg(epochs=2, lr=0.05, method="aux"), tmp_path, resume=True)
    assert _run(_cfg(epochs=2), tmp_path, resume=True).epochs_done == 2  # more epochs is fine
    assert _run(_cfg(epochs=3, lr=0.05), tmp_path, resume=True, override=True).epochs_done == 3


def test_resume_differences_ignore_epochs():
    assert resume_differences({"epochs": 1, "lr": 1}, {"epochs": 5, "lr": 1}) == []


def test_no_temp_file_is_left_and_names_are_unique(tmp_path):
    _run(_cfg(epochs=1), tmp_path)
    assert not list(tmp_path.glob("*.tmp"))
