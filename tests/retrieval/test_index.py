import json
from pathlib import Path

import numpy as np
import pytest

from lafg.errors import InputError
from lafg.retrieval.index import EmbeddingIndex, build_index, unit_rows


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
from lafg.retrieval.index import (  # noqa: E402
    AUTO_FLAT_MAX,
    FeatureStore,
    IndexSpec,
    exact_topk,
    files_fingerprint,
    gallery_store,
    memory_bytes,
    neighbour_recall,
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
    huge = IndexSpec().resolve(10_000_000, 512)  # past RAM: compressed codes, re-ranked from disk
    assert huge.kind == "ivf-pq-rerank" and huge.factory(512) == "OPQ64,IVF2048,PQ64np"
    assert IndexSpec("ivf-pq").resolve(10_000_000, 512).factory(512) == "IVF4096,PQ256x4fsr"
    with pytest.raises(InputError, match="unknown index kind"):
        IndexSpec("lsh")


@pytest.mark.parametrize("kind", ["flat", "flat-fp16", "hnsw", "ivf-sq8", "ivf-pq", "ivf-pq-rerank"])
def test_every_kind_searches_reloads_memory_mapped_and_keeps_ids(kind, tmp_path):
    x = _mixture(3000)
    ids = np.arange(3000) * 7 + 5
    index = build_index(x, ids=ids, spec=IndexSpec(kind, target_recall=0.9))
    q = x[:50] + 0.05
    truth = exact_topk(x, q, 10, ids)
    found = index.search(q, 10)[1]
    floor = {"ivf-pq": 0.5}.get(kind, 0.9)  # PQ codes cap recall; the others are calibrated to 0.9
    assert neighbour_recall(found, truth) >= floor
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
    assert neighbour_recall(np.array([[1, 2, 3]]), np.array([[3, 4, 5]])) == pytest.approx(1 / 3)


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


# ------------------------------------------------------------------------ ivf-pq-rerank and memory budgets
from lafg.retrieval.index import RERANK, RerankIndex, parse_bytes, resident_bytes  # noqa: E402


def test_rerank_finds_what_its_codes_alone_miss_within_100_bytes_per_vector():
    both = _mixture(4100, d=64, seed=1)
    x, q = both[:4000], both[4000:]  # held-out queries from the same clusters
    truth = exact_topk(x, q, 10)
    index = build_index(x, spec=IndexSpec(RERANK, pq_bytes=8, target_recall=0.95))  # 8 dims per byte, as at d 512
    assert isinstance(index, RerankIndex) and index.spec.factory(64) == "OPQ8,IVF64,PQ8np"
    assert neighbour_recall(index.search(q, 10)[1], truth) >= 0.93
    assert index.recall >= 0.93  # what calibration measured on gallery rows, kept for the sidecar
    codes_only = neighbour_recall(index.index.search(unit_rows(q), 10)[1], truth)  # the same codes, no re-ranking
    assert codes_only < 0.7
    n = len(index)
    assert (index.nbytes - resident_bytes(index.spec, 0, 64)) / n == 8 + 8  # codes + ids; the vectors are not in RAM
    scores, ids = index.search(q[:3], 5)  # exact cosines (of the fp16 rows), best first
    exact = np.einsum("qd,qkd->qk", unit_rows(q[:3]), unit_rows(x[ids.ravel()]).reshape(3, 5, 64))
    np.testing.assert_allclose(scores, exact, atol=2e-3)
    assert (np.diff(scores, axis=1) <= 0).all()


def test_rerank_round_trip_reads_the_memory_mapped_fp16_vectors(tmp_path):
    x = _mixture(3000, d=32)
    ids = np.arange(3000) * 3 + 1
    index = build_index(x, ids=ids, spec=IndexSpec(RERANK, max_ram=10**6))
    path = tmp_path / "g.faiss"
    index.save(path)
    meta = json.loads((tmp_path / "g.faiss.json").read_text())
    assert meta["spec"]["max_ram"] == 10**6 and meta["calibrated_recall@10"] == index.recall > 0.9
    assert meta["vectors"] == "g.faiss.vectors.npy" and meta["ids"] == "g.faiss.ids.npy"
    loaded = EmbeddingIndex.load(path)
    assert isinstance(loaded.vectors, np.memmap) and loaded.vectors.dtype == np.float16
    assert Path(loaded.vectors.filename) == tmp_path / "g.faiss.vectors.npy"
    q = x[:20] + 0.05
    np.testing.assert_array_equal(loaded.search(q, 10)[1], index.search(q, 10)[1])
    assert loaded.info() == index.info() and loaded.vector(7).dtype == np.float32
    np.testing.assert_allclose(loaded.vector(7), unit_rows(x[7])[0], atol=1e-3)
    # The exact scores come from the file: turn row 123 towards the query on disk and it wins after a reload.
    loaded.set_search_params(nprobe=loaded.spec.nlist, rerank=400)
    target = loaded.search(q[:1], 100)[1][0]
    row = int(np.flatnonzero(ids == target[90])[0])  # a candidate ranked far down
    on_disk = np.load(tmp_path / "g.faiss.vectors.npy", mmap_mode="r+")
    on_disk[row] = unit_rows(q[:1])[0].astype(np.float16)
    on_disk.flush()
    del on_disk
    reloaded = EmbeddingIndex.load(path)
    reloaded.set_search_params(nprobe=loaded.spec.nlist, rerank=400)
    scores, found = reloaded.search(q[:1], 3)
    assert found[0, 0] == ids[row] and scores[0, 0] == pytest.approx(1.0, abs=2e-3)
    (tmp_path / "g.faiss.vectors.npy").unlink()
    with pytest.raises(InputError, match="vectors file"):
        EmbeddingIndex.load(path)


def test_rerank_builds_from_an_fp16_file_without_copying_it(tmp_path):
    x = unit_rows(_mixture(2000, d=16)).astype(np.float16)
    path = tmp_path / "i.faiss.vectors.npy"
    np.save(path, x)
    index = build_index(np.load(path, mmap_mode="r"), spec=RERANK)
    before = path.stat().st_mtime_ns
    index.save(tmp_path / "i.faiss")
    assert path.stat().st_mtime_ns == before and not (tmp_path / "i.faiss.ids.npy").exists()
    assert EmbeddingIndex.load(tmp_path / "i.faiss").search(x[5].astype(np.float32), 1)[1][0, 0] == 5
    np.save(tmp_path / "raw.npy", 3 * x)  # not unit rows: refused (the scores would not be cosines)
    with pytest.raises(InputError, match="unit rows"):
        build_index(np.load(tmp_path / "raw.npy", mmap_mode="r"), spec=RERANK)
    with pytest.raises(InputError, match="at least 1000 rows"):
        build_index(x[:500].astype(np.float32), spec=RERANK)
    with pytest.raises(InputError, match="built whole"):
        index.add(x[:1])


def test_budget_picks_the_first_kind_that_fits_and_refuses_clearly():
    n, d = 1_000_000, 512
    assert IndexSpec(max_ram=parse_bytes("4G")).resolve(n, d).kind == "ivf-sq8"  # past flat's 100k rows
    assert IndexSpec(max_ram=parse_bytes("100M")).resolve(n, d).kind == RERANK
    assert IndexSpec(max_ram=parse_bytes("1G")).resolve(50_000, d).kind == "flat"
    assert IndexSpec(max_ram=parse_bytes("40M")).resolve(50_000, d).kind == "ivf-sq8"
    spec = IndexSpec(max_ram=parse_bytes("100M")).resolve(n, d)
    assert resident_bytes(spec, n, d) == n * (64 + 8) + 4 * d * (1024 + d + 256) <= 100 * 2**20
    with pytest.raises(InputError, match=r"ivf-pq-rerank, needs 72\.\d MiB: raise the budget"):
        IndexSpec(max_ram=parse_bytes("50M")).resolve(n, d)
    with pytest.raises(InputError, match=r"a ivf-sq8 index of 1,000,000 × 512 keeps .* over the budget.*ivf-pq-rerank needs"):
        IndexSpec("ivf-sq8", max_ram=parse_bytes("100M")).resolve(n, d)
    assert parse_bytes("1.5GB") == int(1.5 * 2**30) and parse_bytes("800k") == 800 * 1024 and parse_bytes(4096) == 4096
    for bad in ("lots", "-1G", "0"):
        with pytest.raises(InputError, match="memory"):
            parse_bytes(bad)


def test_store_rebuilds_an_index_when_the_request_changes_and_the_app_budget_scales(tmp_path):
    from lafg.retrieval.index import GALLERY_INDEX_FLOOR, gallery_index_spec

    store = FeatureStore(tmp_path / "g", "v1")
    x = _mixture(1500)
    flat = store.index("emb", x)
    assert flat.spec.kind == "flat" and store.index("emb", x).spec.kind == "flat"  # reused
    compressed = store.index("emb", x, IndexSpec(RERANK))  # a new request: rebuilt, vectors beside it
    assert isinstance(compressed, RerankIndex) and (tmp_path / "g" / "emb.faiss.vectors.npy").is_file()
    assert isinstance(FeatureStore(tmp_path / "g", "v1").index("emb", x, IndexSpec(RERANK)), RerankIndex)
    assert gallery_index_spec(5_000, 0, 2**40) == IndexSpec()  # no budget: by size alone
    assert gallery_index_spec(5_000, 2048, 2**40).max_ram == GALLERY_INDEX_FLOOR  # small galleries stay exact
    assert gallery_index_spec(5_000, 2048, 2**40).resolve(5_000, 1280).kind == "flat"
    big = gallery_index_spec(100_000, 2048, 2**40)
    assert big.max_ram == 2048 * 100_000 and big.resolve(100_000, 1280).kind == "ivf-sq8"
    assert gallery_index_spec(10**7, 2048, 2**31).resolve(10**7, 1280).kind == RERANK  # the cache's cap binds
