"""Every in-memory cache the visitors share is keyed by everything that shapes its value (issue 18 item 2): two
visitors whose inputs differ never see each other's, and a visitor's edit gets its own entry. End to end through
``gradio_client`` where the cache sits behind an endpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from gradio_client import Client, handle_file

from lafg.app.datasets import DEMO_LABEL

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "assets" / "demo"
DEMO_SET = DEMO_LABEL
PRETRAINED = "pretrained backbone (no training)"
NAMES = list(json.loads((DEMO / "descriptions.json").read_text(encoding="utf-8")))


def marked(tmp_path: Path, word: str) -> str:
    """A descriptions file whose every sentence starts with ``word`` (so every atom label carries it)."""
    data = {n: [f"{word} {n} has a {part}" for part in ("red crown", "black wing bar", "long tail", "pale belly")] for n in NAMES}
    path = tmp_path / f"{word}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def explanation(client: Client) -> str:
    client.predict(PRETRAINED, DEMO_SET, api_name="/build_index")
    md = client.predict("red crown", api_name="/search_text")[1]
    return md


def test_one_visitors_descriptions_never_explain_another_visitors_results(app, tmp_path):
    alice, bob = Client(app[0], verbose=False), Client(app[0], verbose=False)
    alice.predict(handle_file(marked(tmp_path, "quokkafur")), api_name="/import_descriptions")
    assert "quokkafur" in explanation(alice)
    assert "quokkafur" not in explanation(bob)  # a fresh session: the demo's own descriptions
    bob.predict(handle_file(marked(tmp_path, "wombatwing")), api_name="/import_descriptions")
    after_edit = explanation(bob)  # his later edit is not ignored either
    assert "wombatwing" in after_edit and "quokkafur" not in after_edit
    assert "quokkafur" in explanation(alice)  # and Alice still reads her own


def test_the_gallery_key_changes_with_every_input_that_shapes_it(tmp_path):
    from lafg.app import retrieval
    from lafg.app.datasets import DEMO_DIR
    from tests.app.fakes import fake_services

    svc = fake_services(tmp_path)
    desc = json.loads((DEMO / "descriptions.json").read_text(encoding="utf-8"))
    keys = {retrieval.build_gallery(svc, None, DEMO_DIR, desc).key}
    edited = {**desc, NAMES[0]: ["an edited sentence"]}
    keys.add(retrieval.build_gallery(svc, None, DEMO_DIR, edited).key)
    keys.add(retrieval.build_gallery(svc, None, DEMO_DIR, desc, visual_only=not retrieval.VocabularyConfig.visual_only).key)
    assert len(keys) == 3
    assert retrieval.build_gallery(svc, None, DEMO_DIR, dict(desc)).key in keys  # equal inputs share one gallery


def test_the_vocabulary_map_is_keyed_by_its_embeddings_not_only_its_sentences(tmp_path):
    """The shared map cache (UMAP, memory and disk): a bundle carrying the same sentences as another visitor's
    vocabulary but other numbers gets its own map, never the other visitor's (nor gives them its own)."""
    from lafg.app import exports
    from lafg.app.common import Session
    from lafg.app.services import vocab_key
    from lafg.language.side import encode_vocabulary
    from lafg.language.vocabulary import VocabularyConfig
    from lafg.store.export import RunBundle, write_bundle
    from tests.app.fakes import FakeTextEncoder

    desc = json.loads((DEMO / "descriptions.json").read_text(encoding="utf-8"))
    encoder = FakeTextEncoder()
    bob_vocab = encode_vocabulary(desc, NAMES, encoder, VocabularyConfig(n_atoms=4))
    mallory_vocab = encode_vocabulary(desc, NAMES, encoder, VocabularyConfig(n_atoms=4))
    mallory_vocab.embeddings = np.random.default_rng(0).standard_normal(mallory_vocab.embeddings.shape).astype(np.float32)
    path = write_bundle(RunBundle(NAMES, desc, mallory_vocab, None, {"encoder": encoder.name}), tmp_path / "m.zip")
    mallory = Session()
    exports.load_bundle(mallory, str(path), encoder.name)
    assert mallory.vocab.sentences == bob_vocab.sentences
    assert mallory.vocab_key != vocab_key(encoder.name, bob_vocab)
    assert vocab_key(encoder.name, bob_vocab) == vocab_key(encoder.name, encode_vocabulary(desc, NAMES, encoder, VocabularyConfig(n_atoms=4)))


def test_thumbnails_follow_the_file_and_stay_in_each_visitors_folder(tmp_path):
    """The thumbnail cache (files, and each gallery's row → file map): keyed by the image's path, size and time,
    and a visitor's upload gets its thumbnail in that visitor's own folder."""
    from PIL import Image

    from lafg.app.thumbnails import thumbnail
    from lafg.app.uploads import safe_upload_dir

    work = tmp_path / "work"
    folders = [safe_upload_dir(work, "b:alice"), safe_upload_dir(work, "b:bob")]
    thumbs = []
    for folder, colour in zip(folders, ("red", "blue"), strict=True):
        path = folder / "set-1" / "a" / "0.png"  # the same name in both visitors' uploads
        path.parent.mkdir(parents=True)
        Image.new("RGB", (64, 64), colour).save(path)
        thumbs.append(Path(thumbnail(path, work)))
    assert thumbs[0] != thumbs[1] and [t.parents[2] for t in thumbs] == folders
    with Image.open(thumbs[0]) as a, Image.open(thumbs[1]) as b:
        assert a.getpixel((5, 5))[0] > 200 and b.getpixel((5, 5))[2] > 200
    path = folders[0] / "set-1" / "a" / "0.png"
    Image.new("RGB", (80, 80), "green").save(path)  # the file changes: a new thumbnail, not the old one
    again = Path(thumbnail(path, work))
    with Image.open(again) as g:
        assert again != thumbs[0] and g.getpixel((5, 5))[1] > 100
