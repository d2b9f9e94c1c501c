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


# ----------------------------------------------------------------------------------- specs, ANN, persistence
from lafg.index import (  # noqa: E402
    AUTO_FLAT_MAX,
    FeatureStore,
    IndexSpec,
    exact_topk,
    files_fingerprint,
    gallery_store,
    memory_bytes,
    recall_at_k,
    topk_rows,
)


def _mixture(n, d=32, centres=40, seed=0):
    """Clustered data whose neighbours are not trivial (overlapping clusters, noise as large as the spread)."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, d))
    return (c[rng.integers(0, centres, n)] + 0.8 * rng.normal(size=(n, d))).astype(np.float32)


def test_auto_spec_by_size():
    assert IndexSpec().resolve(AUTO_FLAT_MAX, 512).kind == "flat"
    big = IndexSpec().resolve(1_000_000, 512)
    assert big.kind == "ivf-sq8" and big.nlist == 1024 and big.factory(512) == "IVF1024,SQ8"
    huge = IndexSpec().resolve(10_000_000, 512)
    assert huge.kind == "ivf-pq" and huge.factory(512) == "IVF4096,PQ256x4fsr"
    with pytest.raises(InputError, match="unknown index kind"):
        IndexSpec("lsh")


@pytest.mark.parametrize("kind", ["flat", "flat-fp16", "hnsw", "ivf-sq8", "ivf-pq"])
def test_every_kind_searches_reloads_memory_mapped_and_keeps_ids(kind, tmp_path):
    x = _mixture(3000)
    ids = np.arange(3000) * 7 + 5
    index = build_index(x, ids=ids, spec=IndexSpec(kind, target_recall=0.9))
    q = x[:50] + 0.05
    truth = exact_topk(x, q, 10, ids)
    found = index.search(q, 10)[1]
    floor = {"ivf-pq": 0.5}.get(kind, 0.9)  # PQ codes cap recall; the others are calibrated to 0.9
    assert recall_at_k(found, truth) >= floor
    index.save(tmp_path / "g.faiss")
    loaded = EmbeddingIndex.load(tmp_path / "g.faiss")
    assert loaded.info() == index.info() and loaded.spec.kind == kind
    np.testing.assert_array_equal(loaded.search(q, 10)[1], found)


def test_calibration_picks_the_smallest_breadth_reaching_the_target():
    x = _mixture(4000)
    loose = build_index(x, spec=IndexSpec("ivf-sq8", nlist=64, target_recall=0.5))
    tight = build_index(x, spec=IndexSpec("ivf-sq8", nlist=64, target_recall=0.99))
    assert 1 <= loose.spec.nprobe < tight.spec.nprobe <= 64
    fixed = build_index(x, spec=IndexSpec("ivf-sq8", nlist=64, nprobe=3))
    assert fixed.spec.nprobe == 3


def test_exact_topk_and_topk_rows_match_a_full_sort():
    x = _mixture(500)
    q = x[7] + 0.1
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = unit @ (q / np.linalg.norm(q))
    order = np.argsort(-sims, kind="stable")[:10]
    scores, rows = topk_rows(unit, q, 10)
    assert rows.tolist() == order.tolist()
    np.testing.assert_allclose(scores, sims[order], rtol=1e-5)
    assert exact_topk(x, q[None], 10, chunk=64)[0].tolist() == order.tolist()
    assert recall_at_k(np.array([[1, 2, 3]]), np.array([[3, 4, 5]])) == pytest.approx(1 / 3)


def test_feature_store_reuses_until_the_fingerprint_changes(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return np.arange(6, dtype=np.float32).reshape(3, 2), np.array([0, 2, 5])

    store = FeatureStore(tmp_path / "g", "v1")
    feats, kept = store.arrays(["features", "kept"], compute)
    again = FeatureStore(tmp_path / "g", "v1").arrays(["features", "kept"], compute)
    assert len(calls) == 1 and isinstance(again[0], np.memmap)
    np.testing.assert_array_equal(again[1], kept)
    FeatureStore(tmp_path / "g", "v2").arrays(["features", "kept"], compute)
    assert len(calls) == 2
    index = store.index("emb", _mixture(100))
    assert EmbeddingIndex.load(tmp_path / "g" / "emb.faiss").info() == index.info()
    assert memory_bytes(type("G", (), {})()) == 0


def test_gallery_store_tags_follow_files_and_checkpoints(tmp_path):
    img = tmp_path / "a.jpg"
    img.write_bytes(b"x")
    ckpt = tmp_path / "c.pt"
    ckpt.write_bytes(b"1")
    s1, t1, l1 = gallery_store(tmp_path, "m", tmp_path, [str(img)], str(ckpt), {"a": ["b"]})
    s2, t2, l2 = gallery_store(tmp_path, "m", tmp_path, [str(img)], str(ckpt), {"a": ["c"]})
    assert s1.folder == s2.folder and s1.fingerprint == s2.fingerprint and t1 == t2 and l1 != l2
    fp = files_fingerprint([str(img)])
    img.write_bytes(b"xy")
    assert files_fingerprint([str(img)]) != fp
    ckpt.write_bytes(b"22")
    assert gallery_store(tmp_path, "m", tmp_path, [str(img)], str(ckpt))[1] != t1
