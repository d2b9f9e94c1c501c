import json

import numpy as np
import pytest

from lafg.errors import InputError
from lafg.index import EmbeddingIndex, build_index


def test_search_returns_cosine_best_first():
    emb = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    index = EmbeddingIndex(2)
    index.add(emb, np.array([10, 20, 30]))
    scores, ids = index.search(np.array([[3.0, 0.1]]), k=3)
    assert ids.tolist() == [[10, 30, 20]]
    q = np.array([3.0, 0.1]) / np.linalg.norm([3.0, 0.1])
    expected = [q @ [1, 0], q @ (np.array([1, 1]) / np.sqrt(2)), q @ [0, 1]]
    np.testing.assert_allclose(scores[0], expected, atol=1e-6)


def test_default_ids_continue_and_missing_results_are_minus_one():
    index = EmbeddingIndex(3)
    index.add(np.eye(3)[:2])
    index.add(np.eye(3)[2:])
    assert len(index) == 3
    _, ids = index.search(np.eye(3)[2], k=5)
    assert ids[0, 0] == 2 and ids[0, 3:].tolist() == [-1, -1]


def test_does_not_modify_caller_arrays():
    emb = np.array([[3.0, 4.0]], dtype=np.float32)
    EmbeddingIndex(2).add(emb)
    assert emb.tolist() == [[3.0, 4.0]]


def test_save_and_load_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(50, 8)).astype(np.float32)
    calls = []
    index = build_index(emb, progress=lambda d, t, m: calls.append((d, t)))
    assert calls[-1] == (50, 50)
    path = tmp_path / "sub" / "gallery.faiss"
    index.save(path)
    meta = json.loads((tmp_path / "sub" / "gallery.faiss.json").read_text())
    assert meta["dim"] == 8 and meta["count"] == 50
    loaded = EmbeddingIndex.load(path)
    a = index.search(emb[:5], 4)
    b = loaded.search(emb[:5], 4)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_allclose(a[0], b[0])
    assert (a[1][:, 0] == np.arange(5)).all()


def test_errors(tmp_path):
    index = EmbeddingIndex(4)
    with pytest.raises(InputError, match="dimension 4"):
        index.add(np.zeros((2, 3)))
    with pytest.raises(InputError, match="ids"):
        index.add(np.ones((2, 4)), np.array([1]))
    with pytest.raises(InputError, match="not found"):
        EmbeddingIndex.load(tmp_path / "missing.faiss")
    index.add(np.ones((1, 4)))
    index.save(tmp_path / "x.faiss")
    (tmp_path / "x.faiss.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(InputError, match="not a"):
        EmbeddingIndex.load(tmp_path / "x.faiss")
