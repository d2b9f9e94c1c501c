import csv
import importlib.util
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lafg.app.datasets import available_datasets, load_dataset
from lafg.app.uploads import check_image, extract_zip, safe_upload_dir
from lafg.errors import InputError
from lafg.language.describe import load_descriptions_json

DEMO = Path(__file__).resolve().parents[2] / "assets" / "demo"


def test_demo_assets_are_small_and_complete():
    size = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    assert size <= 2 * 1024 * 1024
    ds = load_dataset(DEMO)
    assert len(ds.classes) == 20 and len(ds) == 120 and len(ds.seen) == 14
    desc = load_descriptions_json(DEMO / "descriptions.json")
    assert set(desc) == set(ds.classes) and all(len(v) >= 6 for v in desc.values())
    # the README (sources, terms) is the one scripts/demo_assets.py writes for exactly these files
    from scripts import demo_assets

    names = {int(c["class_id"]): c["name"] for c in csv.DictReader((DEMO / "classes.csv").open(encoding="utf-8"))}
    image_bytes = sum(p.stat().st_size for p in (DEMO / "images").rglob("*.jpg"))
    assert (DEMO / "README.md").read_text(encoding="utf-8") == demo_assets.README.format(
        n=demo_assets.IMAGES_PER_CLASS, n_classes=len(ds.classes), n_images=len(ds), kib=round(image_bytes / 1024),
        side=demo_assets.SIDE, n_seen=len(demo_assets.SEEN_IDS), n_unseen=len(demo_assets.UNSEEN_IDS),
        seen=", ".join(names[i] for i in demo_assets.SEEN_IDS), unseen=", ".join(names[i] for i in demo_assets.UNSEEN_IDS),
    )
    # the shipped text is the project's own (scripts/demo_text.py), no copied description set
    spec = importlib.util.spec_from_file_location("demo_text", DEMO.parents[1] / "scripts" / "demo_text.py")
    own = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(own)
    assert desc == {c: own.DESCRIPTIONS[c] for c in ds.classes}
    assert "demo (20 CUB birds, embedded)" in available_datasets()


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


def test_restart_reloads_the_stored_readout_and_explains_identically(tmp_path, monkeypatch):
    """The pretrained read-out is fitted once and stored (plain arrays); a restart reloads it without refitting
    and explains every result exactly as before; other descriptions or another seen split refit it."""
    import lafg.retrieval.attribute_space
    from lafg.app import retrieval
    from lafg.app.datasets import DEMO_DIR, shared_descriptions

    from .fakes import fake_services

    fits = []
    real_fit = lafg.retrieval.attribute_space.fit_grounded_readout

    def counting_fit(*a, **k):
        fits.append(1)
        return real_fit(*a, **k)

    monkeypatch.setattr(lafg.retrieval.attribute_space, "fit_grounded_readout", counting_fit)
    monkeypatch.setattr("lafg.pipeline.fit_grounded_readout", counting_fit)
    work = tmp_path / "work"
    descriptions = shared_descriptions(DEMO_DIR)
    first = retrieval.build_gallery(fake_services(work), None, DEMO_DIR, descriptions)
    assert len(fits) == 1 and first.space.kind == "readout"
    assert list((work / "galleries").rglob("readout-*-weight.npy"))
    assert sorted(first.thumbs) == list(range(len(first))) and all(Path(t).is_file() for t in first.thumbs.values())
    monkeypatch.setattr("lafg.app.thumbnails.thumbnail", lambda *a, **k: pytest.fail("thumbnail remade at restart"))
    again = retrieval.build_gallery(fake_services(work), None, DEMO_DIR, descriptions)
    assert len(fits) == 1  # reloaded, not refitted
    assert again.thumbs == first.thumbs  # the stored list
    monkeypatch.undo()
    monkeypatch.setattr(lafg.retrieval.attribute_space, "fit_grounded_readout", counting_fit)
    monkeypatch.setattr("lafg.pipeline.fit_grounded_readout", counting_fit)
    assert again.space.description == first.space.description and "seen classes" in again.space.description
    np.testing.assert_array_equal(again.space.image.weight, first.space.image.weight)
    assert again.space.grounding == first.space.grounding  # the fit-time figure is stored with it
    np.testing.assert_array_equal(np.asarray(again.lang), first.lang)
    for row in (0, 7, 41):
        qa, qb = retrieval.query_from_row(first, row), retrieval.query_from_row(again, row)
        for ha, hb in zip(retrieval.search(first, qa), retrieval.search(again, qb), strict=True):
            ea, eb = retrieval.explain_hit(first, qa, ha), retrieval.explain_hit(again, qb, hb)
            assert (ha.row, ea.similarity, ea.shared, ea.differing) == (hb.row, eb.similarity, eb.shared, eb.differing)
    # Stale: the read-out depends on the descriptions (vocabulary, targets): other ones refit it.
    fewer = {k: v[:-1] for k, v in descriptions.items()}
    retrieval.build_gallery(fake_services(work), None, DEMO_DIR, fewer)
    assert len(fits) == 2
    # ...and on which classes are seen: a copy of the set with another split refits too (same images).
    other = tmp_path / "other"
    other.mkdir()
    (other / "images").symlink_to(DEMO_DIR / "images")
    (other / "images.csv").write_text((DEMO_DIR / "images.csv").read_text(encoding="utf-8"), encoding="utf-8")
    rows = (DEMO_DIR / "classes.csv").read_text(encoding="utf-8").splitlines()
    flipped = [rows[0]] + [r.rsplit(",", 1)[0] + "," + ("test" if r.endswith("train") else "train") for r in rows[1:]]
    (other / "classes.csv").write_text("\n".join(flipped) + "\n", encoding="utf-8")
    g = retrieval.build_gallery(fake_services(work), None, other, descriptions)
    assert len(fits) == 3 and g.space.kind == "readout"


def test_image_list_is_cached_until_the_csv_changes(tmp_path):
    from lafg.app import retrieval
    from lafg.app.datasets import DEMO_DIR

    ds = tmp_path / "set"
    ds.mkdir()
    (ds / "images").symlink_to(DEMO_DIR / "images")
    for name in ("classes.csv", "images.csv"):
        (ds / name).write_text((DEMO_DIR / name).read_text(encoding="utf-8"), encoding="utf-8")
    parsed = load_dataset(ds)
    first = retrieval.image_list(tmp_path / "work", ds)
    assert first.paths == [str(p) for p, _ in parsed.items] and first.seen == parsed.seen
    assert first.labels.tolist() == [c for _, c in parsed.items] and first.classes == parsed.classes
    assert len(list((tmp_path / "work" / "galleries" / "lists").glob("*.json"))) == 1
    assert retrieval.image_list(tmp_path / "work", ds).paths == first.paths  # from the JSON
    lines = (ds / "images.csv").read_text(encoding="utf-8").splitlines()
    (ds / "images.csv").write_text("\n".join(lines[:-3]) + "\n", encoding="utf-8")  # three images fewer
    assert len(retrieval.image_list(tmp_path / "work", ds).paths) == len(first.paths) - 3


def test_the_untrained_space_follows_the_visitors_visual_filter(tmp_path, monkeypatch):
    """The filter toggle reaches the untrained backbone's vocabulary, and each setting has its own stored space."""
    import lafg.language.side
    from lafg.app import retrieval
    from lafg.app.datasets import DEMO_DIR, shared_descriptions

    from .fakes import fake_services

    real = lafg.language.side.seen_language
    seen = []

    def recording(names, descriptions, encoder, vocab_cfg=None, *a, **k):
        seen.append(vocab_cfg.visual_only)
        return real(names, descriptions, encoder, vocab_cfg, *a, **k)

    monkeypatch.setattr(lafg.language.side, "seen_language", recording)
    work, descriptions = tmp_path / "work", shared_descriptions(DEMO_DIR)
    off = retrieval.build_gallery(fake_services(work), None, DEMO_DIR, descriptions, visual_only=False)
    on = retrieval.build_gallery(fake_services(work), None, DEMO_DIR, descriptions, visual_only=True)
    assert seen == [False, True] and off.key != on.key
    assert len(list((work / "galleries").rglob("readout-*-weight.npy"))) == 2  # not one stale space for both
