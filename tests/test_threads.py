import faiss
import pytest
import torch

from lafg import threads
from lafg.errors import InputError


@pytest.fixture(autouse=True)
def _restore():
    before = torch.get_num_threads()
    yield
    threads.set_threads(before)


def test_env_setting_wins_and_bad_values_fall_back(monkeypatch):
    monkeypatch.setenv("LAFG_THREADS", "3")
    assert threads.default_threads() == 3
    monkeypatch.setenv("LAFG_THREADS", "lots")
    assert 1 <= threads.default_threads() <= threads.MAX_DEFAULT


def test_default_leaves_the_loaded_cores(monkeypatch):
    monkeypatch.delenv("LAFG_THREADS", raising=False)
    monkeypatch.setattr(threads, "available_cpus", lambda: 16)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (5.2, 0, 0))
    assert threads.default_threads() == 8  # 16 − 5 = 11, capped at 8
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (12.0, 0, 0))
    assert threads.default_threads() == 4
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (40.0, 0, 0))
    assert threads.default_threads() == 1


def test_set_threads_applies_to_torch_and_faiss():
    assert threads.set_threads(2) == 2
    assert torch.get_num_threads() == 2 and faiss.omp_get_max_threads() == 2 and threads.threads() == 2
    threads.set_threads(1)
    assert torch.get_num_threads() == 1 and faiss.omp_get_max_threads() == 1
    with pytest.raises(InputError, match="at least 1"):
        threads.set_threads(0)
