import numpy as np
import pytest

from lafg.retrieval.index import EmbeddingIndex, write_shard
from lafg.store.atomic import atomic_path, atomic_write_bytes, atomic_write_text


def test_atomic_write_leaves_no_temp_files_and_replaces(tmp_path):
    target = tmp_path / "x.json"
    atomic_write_bytes(target, b"1")
    atomic_write_bytes(target, b"22")
    assert target.read_bytes() == b"22" and [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_atomic_path_keeps_the_old_file_when_the_writer_fails_and_names_temps_uniquely(tmp_path):
    target = tmp_path / "x.npy"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target, suffix=".tmp.npy") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed half-way")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["x.npy"]
    with atomic_path(target) as a, atomic_path(target) as b:  # two writers of one file at once
        assert a != b and a.parent == b.parent == tmp_path and a.name.startswith(".x.npy.")
        a.write_text("a")
        b.write_text("b")
    assert target.read_text() == "a" and [p.name for p in tmp_path.iterdir()] == ["x.npy"]


def test_index_and_shard_writes_leave_only_their_files(tmp_path):
    """lafg.retrieval.index writes through the same writer: the index, its sidecar and a shard, no temp files left."""
    index = EmbeddingIndex(4)
    index.add(np.eye(4, dtype=np.float32), np.arange(4))
    index.save(tmp_path / "g.faiss")
    write_shard(tmp_path, 0, 1, np.ones((2, 4), np.float32), {"model": "m"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features-0000-of-0001.json", "features-0000-of-0001.npy", "g.faiss", "g.faiss.json"]
    assert EmbeddingIndex.load(tmp_path / "g.faiss").search(np.eye(4, dtype=np.float32)[:1], 1)[1][0][0] == 0
