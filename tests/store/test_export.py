import csv
import io
import json
import zipfile

import numpy as np
import pytest

from lafg.errors import InputError
from lafg.language.prototypes import PrototypeConfig, build_prototypes
from lafg.language.vocabulary import VocabularyConfig, build_vocabulary
from lafg.store.export import (
    RunBundle,
    figure_html,
    prototypes_dict,
    read_bundle,
    rows_csv,
    vocabulary_csv,
    write_bundle,
)


def small_session():
    names = ["red bird", "blue bird", "green bird"]
    desc = {"red bird": ["red crown", "black wings"], "blue bird": ["blue back", "black wings"], "green bird": ["green head", "short tail"]}
    sentences = [s for n in names for s in desc[n]]
    owners = np.array([i for i, n in enumerate(names) for _ in desc[n]])
    emb = np.eye(6, 8, dtype=np.float32)[[0, 1, 2, 1, 3, 4]]
    vocab = build_vocabulary(sentences, emb, owners, names, VocabularyConfig(n_atoms=5, backend="sklearn"))  # one atom per distinct sentence
    t = np.eye(3, 8, k=1, dtype=np.float32)
    protos = build_prototypes(names, t, vocab, PrototypeConfig(top_k=2, tau=0.5))
    return names, desc, vocab, protos


def test_bundle_round_trip(tmp_path):
    names, desc, vocab, protos = small_session()
    path = write_bundle(RunBundle(names, desc, vocab, protos, {"source": "test", "visual_only": True}), tmp_path / "s.zip")
    b = read_bundle(path)
    assert b.names == names and b.descriptions == desc and b.settings["source"] == "test"
    assert np.allclose(b.vocabulary.centroids, vocab.centroids) and b.vocabulary.sentences == vocab.sentences
    assert [a.members for a in b.vocabulary.atoms] == [a.members for a in vocab.atoms]
    assert np.allclose(b.prototypes.top_weights, protos.top_weights) and b.prototypes.config.tau == 0.5
    assert b.prototypes.chosen_atoms("blue bird") == protos.chosen_atoms("blue bird")
    only_desc = read_bundle(write_bundle(RunBundle(names, desc), tmp_path / "d.zip"))
    assert only_desc.vocabulary is None and only_desc.prototypes is None


def test_vocabulary_csv_and_prototypes_json():
    names, desc, vocab, protos = small_session()
    rows = list(csv.DictReader(io.StringIO(vocabulary_csv(vocab))))
    assert len(rows) == vocab.n_atoms and sum(int(r["sentences"]) for r in rows) == 6
    wings = next(r for r in rows if "black wings" in r["members"])
    assert set(wings["classes"].split("; ")) == {"red bird", "blue bird"}
    d = prototypes_dict(protos)
    assert [c["class"] for c in d["classes"]] == names and d["config"]["tau"] == 0.5
    assert abs(sum(a["weight"] for a in d["classes"][0]["atoms"]) - 1) < 1e-5
    assert rows_csv([{"a": 1, "b": [1, 2]}, {"c": "x"}]).splitlines()[0] == "a,b,c"


def test_figure_html_is_standalone(tmp_path):
    import plotly.graph_objects as go

    html = figure_html(go.Figure(go.Bar(x=[1], y=[2])), tmp_path / "f.html").read_text()
    assert "Plotly.newPlot" in html and len(html) > 1_000_000  # plotly.js itself is inside: opens offline


def _zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for k, v in members.items():
            z.writestr(k, v)
    return path


def test_hostile_bundles_are_refused(tmp_path, monkeypatch):
    import lafg.store.export

    monkeypatch.setattr(lafg.store.export, "MAX_MEMBER_BYTES", 4096)
    manifest = json.dumps({"format": "lafg-run-bundle", "version": 1, "names": ["a"]}).encode()
    desc = json.dumps({"a": ["x y"]}).encode()
    # a traversal member is never read nor extracted
    ok = read_bundle(_zip(tmp_path / "t.zip", {"manifest.json": manifest, "descriptions.json": desc, "../../evil.txt": b"x"}))
    assert ok.names == ["a"] and not (tmp_path.parent.parent / "evil.txt").exists()
    with pytest.raises(InputError, match="not a zip"):
        (tmp_path / "n.zip").write_bytes(b"nope")
        read_bundle(tmp_path / "n.zip")
    with pytest.raises(InputError, match="not a LaFG run bundle"):
        read_bundle(_zip(tmp_path / "m.zip", {"manifest.json": b'{"format": "other"}', "descriptions.json": desc}))
    with pytest.raises(InputError, match="too large"):
        read_bundle(_zip(tmp_path / "big.zip", {"manifest.json": b" " * 5000, "descriptions.json": desc}))
    buf = io.BytesIO()
    np.savez(buf, centroids=np.array([object()], dtype=object), embeddings=np.zeros((1, 2)))
    vocab_json = json.dumps({"class_names": ["a"], "sentences": ["x y"], "sentence_class": [0], "sentence_atom": [0], "atoms": [{"label": "x"}]}).encode()
    with pytest.raises(InputError, match="not a valid array file"):  # pickled objects are never loaded
        read_bundle(_zip(tmp_path / "p.zip", {"manifest.json": manifest, "descriptions.json": desc, "vocabulary.json": vocab_json, "vocabulary.npz": buf.getvalue()}))
    buf = io.BytesIO()
    np.savez(buf, centroids=np.zeros((1, 2)), embeddings=np.zeros((1, 2)))
    bad = json.dumps({"class_names": ["a"], "sentences": ["x y"], "sentence_class": [5], "sentence_atom": [0], "atoms": [{"label": "x"}]}).encode()
    with pytest.raises(InputError, match="indices below"):
        read_bundle(_zip(tmp_path / "i.zip", {"manifest.json": manifest, "descriptions.json": desc, "vocabulary.json": bad, "vocabulary.npz": buf.getvalue()}))


def test_cli_bundle_show_unpack_pack(tmp_path, capsys):
    from lafg.cli import main

    names, desc, vocab, protos = small_session()
    path = write_bundle(RunBundle(names, desc, vocab, protos, {"encoder": "fake"}), tmp_path / "s.zip")
    assert main(["bundle", "show", str(path)]) == 0
    assert "3 classes, 6 description sentences" in capsys.readouterr().out
    assert main(["bundle", "unpack", str(path), "--out", str(tmp_path / "run")]) == 0
    assert {"descriptions.json", "vocab.npz", "prototypes.json"} <= {p.name for p in (tmp_path / "run").iterdir()}
    assert main(["bundle", "pack", str(tmp_path / "run"), "--out", str(tmp_path / "again.zip")]) == 0
    again = read_bundle(tmp_path / "again.zip")
    assert again.names == names and np.allclose(again.prototypes.vectors, protos.vectors)
    assert main(["bundle", "show", str(tmp_path / "missing.zip")]) == 2


@pytest.mark.skipif(not __import__("shutil").which("chromium") and not __import__("os").path.exists("/usr/bin/chromium"), reason="PNG export needs a local Chrome/Chromium")
def test_figure_png_through_kaleido(tmp_path):
    import plotly.graph_objects as go

    from lafg.store.export import figure_png

    path = figure_png(go.Figure(go.Bar(x=[1, 2], y=[2, 3])), tmp_path / "f.png", scale=1)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 2000


FORMULAS = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+2", "-2+3", "@SUM(A1)", "\tx", "\r=1"]


def test_no_csv_cell_is_a_formula():
    """Issue 18 item 6: visitor or LLM text starting = + - @ (or tab, CR) is exported as text (a leading ')."""
    names = [f"{f} bird" for f in FORMULAS]
    sentences = [f"{f} crown" for f in FORMULAS]
    emb = np.eye(len(FORMULAS), 8, dtype=np.float32)
    vocab = build_vocabulary(sentences, emb, np.arange(len(FORMULAS)), names, VocabularyConfig(n_atoms=len(FORMULAS), backend="sklearn"))
    cells = [c for row in csv.reader(io.StringIO(vocabulary_csv(vocab))) for c in row]
    cells += [c for row in csv.reader(io.StringIO(rows_csv([{"class": f, "score": -0.5, "shared": [f]} for f in FORMULAS] + [{"=cmd": 1}])))
              for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r") or (c[:1] == "-" and c != "-0.5")]
    assert "'=HYPERLINK(\"http://evil\",\"x\")" in cells and "-0.5" in cells  # numbers stay numbers
