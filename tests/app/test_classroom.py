"""Issue 10's app features through the API: published descriptions for a preset, off-topic flags, the visual
filter, colour-by-class map, prototype weights, compare, exports and the run bundle round trip."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError


def call(client, name, *args):
    return client.predict(*args, api_name=f"/{name}")


def paths(value) -> list[Path]:
    items = value if isinstance(value, list) else [value]
    out = []
    for v in items:
        v = v.get("value", v) if isinstance(v, dict) and "value" in v else v
        v = v.get("path", v) if isinstance(v, dict) else v
        out.append(Path(v))
    return out


def test_preset_loads_published_descriptions_with_citation(client):
    text, info, _dd, desc, *_ = call(client, "set_names", "", None, "pets37")
    assert text.splitlines()[0] == "Abyssinian" and "37 classes" in info
    assert "Menon" in info and "WaffleCLIP" in info and desc.strip()
    info, _desc, flags = call(client, "generate_descriptions", "published", "", "", "none", "", "Describe {class_name}", 5)
    assert "37 classes" in info and flags == ""
    call(client, "set_names", "Blue Jay\nMy own bird", None, None)
    with pytest.raises(AppError, match="no published descriptions"):
        call(client, "generate_descriptions", "published", "", "", "none", "", "Describe {class_name}", 5)


def test_offtopic_flags_and_drop(client, tmp_path):
    call(client, "set_names", "Great Dane\nGolden Retriever\nBeagle", None, None)
    data = {"Great Dane": ["A Great Dane is a Golden Retriever with a golden coat.", "a very tall dog with a short coat"],
            "Golden Retriever": ["a dog with a long golden coat"], "Beagle": ["a small hound with floppy ears"]}
    f = tmp_path / "d.json"
    f.write_text(json.dumps(data), encoding="utf-8")
    call(client, "import_descriptions", handle_file(str(f)))
    flags = call(client, "check_offtopic")
    assert "names another class (Golden Retriever)" in flags and "1 sentence" in flags
    info, desc, flags = call(client, "drop_offtopic", "Great Dane")
    assert desc == "a very tall dog with a short coat" and "No off-topic" in flags


def test_visual_filter_colour_weights_compare_exports_bundle(client, tmp_path):
    call(client, "set_names", "Red bird\nBlue bird\nGreen bird", None, None)
    data = {"Red bird": ["a bird with a red crown", "a bird with black wings", "known for its loud song"],
            "Blue bird": ["a bird with a blue back", "a bird with black wings", "often seen at bird feeders"],
            "Green bird": ["a bird with a green head", "a bird with a short tail", "it feeds on seeds"]}
    f = tmp_path / "birds.json"
    f.write_text(json.dumps(data), encoding="utf-8")
    call(client, "import_descriptions", handle_file(str(f)))
    fig, info, rows, _dd, _md, _t, aside = call(client, "build_vocabulary", 40, "PCA", True, "class")
    assert "kept **6**, set aside **3**" in info and "known for its loud song" in aside
    assert "40 atoms requested" in info and "Try **N ≈" in info  # clamped N is said, with a suggestion
    plot = json.loads(fig["plot"])
    assert {t["name"] for t in plot["data"] if not t["name"].startswith("atom")} == {"Red bird", "Blue bird", "Green bird"}
    _fig, info, *_ = call(client, "build_vocabulary", 4, "PCA", False, "atom")
    assert "Visual filter" not in info
    fig = call(client, "colour_map", "class")
    assert "coloured by class" in json.loads(fig["plot"])["layout"]["title"]["text"]
    out = call(client, "build_prototypes", "a photo of a {}.", 2, 0.05)
    info, spread = out[0], json.loads(out[6]["plot"])
    assert "τ_p = 0.05" in info and "largest − smallest" in spread["layout"]["xaxis"]["title"]["text"]
    assert "Borrowed" in out[8]  # the vocabulary tab's own-vs-borrowed panel refreshed
    _fig, md = call(client, "compare_classes", "Red bird", "Blue bird")
    sep, shared = md.split("**Shared attributes**")
    sep_atoms = {ln.split(":")[0] for ln in sep.splitlines() if ln.startswith("- atom")}
    assert sep_atoms and not sep_atoms & {ln.split(":")[0] for ln in shared.splitlines() if ln.startswith("- atom")}
    with pytest.raises(AppError, match="two different classes"):
        call(client, "compare_classes", "Red bird", "Red bird")

    files, _note = call(client, "export_vocabulary")
    names = {p.name for p in paths(files)}
    assert {"vocabulary.json", "atoms.csv", "vocabulary_map.html"} <= names
    files, _ = call(client, "export_prototypes")
    protos = json.loads(next(p for p in paths(files) if p.name == "prototypes.json").read_text())
    assert protos["config"]["tau"] == 0.05 and len(protos["classes"]) == 3
    files, note = call(client, "export_bundle")
    bundle = paths(files)[0]
    assert bundle.name == "lafg-session.zip" and "prototypes" in note
    assert {"manifest.json", "vocabulary.npz", "prototypes.npz"} <= set(zipfile.ZipFile(bundle).namelist())

    call(client, "set_names", "Something else", None, None)  # the session moves on …
    out = call(client, "load_bundle", handle_file(str(bundle)))  # … and comes back
    assert "Loaded 3 classes" in out[0] and "4 atoms" in out[0] and "3 prototypes" in out[0]
    assert out[1] == "Red bird\nBlue bird\nGreen bird"
    assert "τ_p = 0.05" in out[12]
    evil = tmp_path / "evil.zip"
    evil.write_bytes(b"PK not really")
    with pytest.raises(AppError, match="not a zip"):
        call(client, "load_bundle", handle_file(str(evil)))


def test_search_results_export_with_explanations(client):
    import csv

    with pytest.raises(AppError, match="search first"):
        call(client, "export_results")
    demo = json.loads((Path(__file__).resolve().parents[2] / "assets" / "demo" / "descriptions.json").read_text(encoding="utf-8"))
    call(client, "set_names", "\n".join(demo), None, None)
    models = call(client, "list_models")[0]["choices"]
    call(client, "build_index", models[0][0], "demo (20 CUB birds, embedded)")
    # a query whose results have attributes above the explanation's threshold on the demo (fake models)
    call(client, "search_text", "a black bird with red shoulder patches")
    files, _ = call(client, "export_results")
    by_name = {p.name: p for p in paths(files)}
    rows = list(csv.DictReader(by_name["results.csv"].open(encoding="utf-8")))
    full = json.loads(by_name["results.json"].read_text(encoding="utf-8"))
    assert len(rows) == len(full["results"]) >= 5 and rows[0]["rank"] == "1"
    assert full["query"]["text"] == "a black bird with red shoulder patches" and full["results"][0]["explained_by"] in ("readout", "projector")  # lafg.retrieval.attribute_space kinds
    assert json.loads(rows[0]["shared"])  # the explanation's shared attributes travel with each row


def test_user_errors_leave_no_traceback_in_the_server_log(client, capfd, tmp_path):
    capfd.readouterr()
    call(client, "set_names", "Only one", None, None)
    with pytest.raises(AppError, match="build the attribute vocabulary first"):
        call(client, "build_prototypes", "a photo of a {}.", 3, 1.0)
    with pytest.raises(AppError, match="not a zip"):
        bad = tmp_path / "junk.zip"
        bad.write_bytes(b"not a zip at all")
        call(client, "load_bundle", handle_file(str(bad)))
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err


def test_values_gradio_itself_refuses_cost_one_log_line(app, client, capfd, caplog):
    """A hostile client's value outside a dropdown's choices, or a payload of the wrong shape, is refused with
    Gradio's message and logged in one line: no traceback per request in a public Space's log."""
    import logging

    capfd.readouterr()
    with caplog.at_level(logging.INFO, logger="lafg.app"):
        with pytest.raises(AppError, match="not in the list of choices"):  # a server variable the operator never allowed
            call(client, "generate_descriptions", "bundled", "", "", "PATH", "", "Describe a {class_name} in {n} lines", 2)
        with pytest.raises(AppError, match="not in the list of choices"):
            call(client, "set_projection", {"not": "a choice"})
        # raw HTTP (gradio_client would upload the file): a server file the client never uploaded, too few inputs
        image = str(Path(__file__).resolve().parents[2] / "assets" / "demo" / "images" / "010.Red_winged_Blackbird" / "0000.jpg")
        answer = _raw_call(app[0], "search_image", [{"path": image, "meta": {"_type": "gradio.FileData"}}])
        assert "event: error" in answer and "invalid input (InvalidPathError)" in answer and "not uploaded by a user" in answer
        answer = _raw_call(app[0], "set_projection", [])
        assert "event: error" in answer and "invalid input (ValueError)" in answer
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    refused = [r.getMessage() for r in caplog.records if "input refused" in r.getMessage()]
    assert len(refused) == 4 and all("\n" not in m for m in refused), refused


def test_the_page_load_events_take_whatever_the_browser_stored(app, capfd):
    """localStorage is the client's: a stored job id, owner token or session recipe of the wrong type is ignored."""
    for value in ({"x": 1}, [1, 2], 7):
        answer = _raw_call(app[0], "on_load", [None, value, value])
        assert "event: complete" in answer, answer
        answer = _raw_call(app[0], "restore_session", [None, value])
        assert "event: complete" in answer, answer
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err


def _raw_call(url: str, api: str, data: list) -> str:
    import urllib.request

    req = urllib.request.Request(f"{url}gradio_api/call/{api}", data=json.dumps({"data": data}).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        event = json.loads(resp.read())["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/{api}/{event}", timeout=60) as resp:
        return resp.read().decode()
