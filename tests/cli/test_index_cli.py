import json

import numpy as np
import pytest

from lafg.app.datasets import DEMO_DIR
from lafg.cli import main


def test_sharded_embed_merge_build_search_info(tmp_path, capsys):
    out = tmp_path / "gallery"
    for shard in ("1/2", "0/2"):  # any order: the merge puts shards in order
        assert main(["embed", "--data", str(DEMO_DIR), "--out", str(out), "--shard", shard, "--threads", "1",
                     "--workers", "0"]) == 0
    metas = [json.loads((out / f"features-000{i}-of-0002.json").read_text()) for i in (0, 1)]
    n = sum(m["count"] for m in metas)
    assert n >= 20 and abs(metas[0]["count"] - metas[1]["count"]) <= 1
    capsys.readouterr()
    assert main(["index", "build", "--features", str(out), "--kind", "flat", "--threads", "1"]) == 0
    built = json.loads(capsys.readouterr().out)
    assert built["count"] == n and built["kind"] == "flat"
    merged = np.load(out / "features.npy")
    whole = np.concatenate([np.load(out / f"features-000{i}-of-0002.npy") for i in (0, 1)])
    np.testing.assert_array_equal(merged, whole)
    gallery = json.loads((out / "index.faiss.gallery.json").read_text())
    assert gallery["paths"] == metas[0]["paths"] + metas[1]["paths"]

    assert main(["index", "search", "--index", str(out / "index.faiss"), "--row", "3", "-k", "4", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits[0]["id"] == 3 and hits[0]["score"] == pytest.approx(1.0, abs=1e-4) and len(hits) == 4
    image = gallery["paths"][5]
    assert main(["index", "search", "--index", str(out / "index.faiss"), "--image", image, "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits[0]["path"] == image and hits[0]["class"] == gallery["classes"][gallery["labels"][5]]
    assert main(["index", "info", "--index", str(out / "index.faiss")]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == n


def test_missing_shard_and_bad_input_are_one_line_errors(tmp_path, capsys):
    out = tmp_path / "g"
    assert main(["embed", "--data", str(DEMO_DIR), "--out", str(out), "--shard", "0/3", "--workers", "0"]) == 0
    capsys.readouterr()
    assert main(["index", "build", "--features", str(out)]) == 2
    assert "shard(s) [1, 2] of 3 missing" in capsys.readouterr().err
    assert main(["embed", "--data", str(DEMO_DIR), "--out", str(out), "--shard", "3/3"]) == 2
    assert main(["index", "build", "--features", str(tmp_path / "nothing.txt")]) == 2
    np.save(tmp_path / "v.npy", np.random.default_rng(0).normal(size=(500, 8)).astype(np.float32))
    assert main(["index", "build", "--features", str(tmp_path / "v.npy"), "--kind", "ivf-sq8"]) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "ivf-sq8"


def test_budget_picks_the_compressed_kind_and_refuses_what_cannot_fit(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "v.npy", rng.normal(size=(1500, 16)).astype(np.float32))
    out = tmp_path / "idx" / "i.faiss"
    assert main(["index", "build", "--features", str(tmp_path / "v.npy"), "--max-ram", "100K", "--out", str(out)]) == 0
    built = json.loads(capsys.readouterr().out)
    assert built["kind"] == "ivf-pq-rerank" and built["max_ram"] == 100 * 1024 and built["resident_bytes"] <= 100 * 1024
    assert (tmp_path / "idx" / "i.faiss.vectors.npy").is_file() and built["calibrated_recall@10"] >= 0.9
    assert main(["index", "search", "--index", str(out), "--row", "3", "-k", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["id"] == 3
    assert main(["index", "build", "--features", str(tmp_path / "v.npy"), "--max-ram", "10K", "--out", str(out)]) == 2
    assert "the smallest kind, ivf-pq-rerank, needs" in capsys.readouterr().err
    assert main(["index", "build", "--features", str(tmp_path / "v.npy"), "--max-ram", "lots"]) == 2
