import zipfile
from pathlib import Path

import numpy as np
import pytest

from lafg.app.datasets import available_datasets, load_dataset
from lafg.app.uploads import check_image, extract_zip, safe_upload_dir
from lafg.describe import load_descriptions_json
from lafg.errors import InputError

DEMO = Path(__file__).resolve().parents[2] / "assets" / "demo"


def test_demo_assets_are_small_and_complete():
    size = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    assert size <= 3 * 1024 * 1024
    ds = load_dataset(DEMO)
    assert len(ds.classes) == 10 and len(ds) == 80 and len(ds.seen) == 5
    desc = load_descriptions_json(DEMO / "descriptions.json")
    assert set(desc) == set(ds.classes) and all(len(v) > 10 for v in desc.values())
    assert "Wah" in (DEMO / "README.md").read_text(encoding="utf-8")
    assert "demo (10 CUB birds, embedded)" in available_datasets()


def test_upload_folder_names_are_sanitised(tmp_path):
    folder = safe_upload_dir(tmp_path, "../../etc/passwd")
    assert folder.parent == tmp_path / "uploads" and ".." not in folder.name


def test_zip_extraction_keeps_only_images_inside(tmp_path):
    img = next(DEMO.rglob("*.jpg"))
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(img, "cls_a/x.jpg")
        z.writestr("../outside.jpg", b"x")
        z.writestr("cls_a/run.sh", b"rm -rf /")
    out = extract_zip(archive, tmp_path / "out")
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["cls_a/x.jpg"] and not (tmp_path / "outside.jpg").exists()


def test_corrupt_images_and_bad_json_get_specific_errors(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really")
    with pytest.raises(InputError, match="not a readable image"):
        check_image(bad)
    js = tmp_path / "d.json"
    js.write_text('["a", "b"]', encoding="utf-8")
    with pytest.raises(InputError, match="expected a JSON object mapping each class name"):
        load_descriptions_json(js)


def test_unit_rows():
    from lafg.app.training import unit

    assert np.allclose(np.linalg.norm(unit(np.array([[3.0, 4.0], [0.0, 0.0]])), axis=1), [1.0, 0.0])


def test_gallery_persists_and_a_restart_reloads_it_without_embedding(tmp_path):
    """A fresh Services on the same folder (an app restart) maps features and indexes back from disk."""
    from lafg.app import retrieval
    from lafg.app.datasets import DEMO_DIR, shared_descriptions

    from .fakes import FakeEmbedder, fake_services

    calls = []

    class Counting(FakeEmbedder):
        def embed(self, paths, views=1, progress=None):
            calls.append(len(paths))
            return super().embed(paths, views, progress)

    def services():
        svc = fake_services(tmp_path / "work")
        svc.image_embedder_factory = Counting
        return svc

    descriptions = shared_descriptions(DEMO_DIR)
    first = retrieval.build_gallery(services(), None, DEMO_DIR, descriptions)
    assert calls == [len(first.paths)]
    again = retrieval.build_gallery(services(), None, DEMO_DIR, descriptions)
    assert calls == [len(first.paths)]  # nothing re-embedded
    assert isinstance(again.feats, np.memmap)
    np.testing.assert_array_equal(np.asarray(again.emb), first.emb)
    for make in (lambda g: retrieval.query_from_row(g, 3), lambda g: retrieval.query_from_text(services(), g, "Blue Jay")):
        a, b = retrieval.search(first, make(first)), retrieval.search(again, make(again))
        assert [h.row for h in a] == [h.row for h in b] and len(a) == 12
    text = retrieval.search(again, retrieval.query_from_text(services(), again, "Blue Jay"))
    sims = retrieval.unit(again.lang) @ retrieval.unit(retrieval.query_from_text(services(), again, "Blue Jay").lang)
    assert [h.row for h in text] == np.argsort(-sims, kind="stable")[:12].tolist()  # the old full sort's answer
