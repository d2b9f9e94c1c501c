"""Retrieve and explain on the embedded demo with the real models (MiniLM, EfficientNet-Lite0, untrained
backbone): explanations cite calibrated chances and the result class's own sentences, the panel shows the
read-out's measured grounding, and a class-name query reads the class's own descriptions."""

from __future__ import annotations

import re

import numpy as np
import pytest

UNSEEN = 2  # the demo's images with all but its last two classes seen: enough classes to hold some out


def demo_split(folder):
    """The demo's images (linked) with every class but the last :data:`UNSEEN` seen."""
    from lafg.app.datasets import DEMO_DIR

    folder.mkdir()
    (folder / "images").symlink_to(DEMO_DIR / "images")
    (folder / "images.csv").write_text((DEMO_DIR / "images.csv").read_text(encoding="utf-8"), encoding="utf-8")
    rows = (DEMO_DIR / "classes.csv").read_text(encoding="utf-8").splitlines()
    split = [r.rsplit(",", 1)[0] + ("," + ("train" if i < len(rows) - 1 - UNSEEN else "test")) for i, r in enumerate(rows[1:])]
    (folder / "classes.csv").write_text("\n".join([rows[0], *split]) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from lafg.app import retrieval
    from lafg.app.datasets import DEMO_DIR, shared_descriptions
    from lafg.app.services import default_services

    svc = default_services(tmp_path_factory.mktemp("grounded"))
    descriptions = dict(shared_descriptions(DEMO_DIR))
    folder = demo_split(tmp_path_factory.mktemp("set") / "demo")
    return svc, retrieval.build_gallery(svc, None, folder, descriptions), descriptions, folder


@pytest.mark.slow
def test_explanations_quote_the_result_class_and_carry_calibrated_chances(demo):
    from lafg.app import retrieval
    from lafg.app.tab_retrieve import explanation_md

    _svc, g, descriptions, _folder = demo
    space = g.space
    assert space.reads == "features" and space.calibration is not None and space.grounding is not None
    assert space.grounding.n_classes >= 2 and 0 < space.grounding.chance < 100
    threshold = space.calibration.cite_threshold
    cited, quoted = 0, 0
    for row in range(0, len(g), 3):
        query = retrieval.query_from_row(g, row)
        for hit in retrieval.search(g, query)[:3]:
            ex = retrieval.explain_hit(g, query, hit)
            assert ex.calibrated and ex.described  # every demo class has descriptions to quote
            md = explanation_md(ex, hit, space)
            assert "How far to trust this" in md and "average precision" in md and "+0.000" not in md
            if not ex.shared:
                assert "nothing to cite" in md
            for c in ex.shared:
                cited += 1
                assert min(c.query, c.result) >= threshold  # only what clears the threshold is cited
                assert f"query {c.query:.0%}, result {c.result:.0%}" in md
                for sentence in c.support:  # the result class's own words, never another class's
                    quoted += 1
                    assert sentence in descriptions[hit.label]
                    assert f"“{sentence}”" in md or c.support.index(sentence) > 0
    assert cited > 0 and quoted > 0


@pytest.mark.slow
def test_a_class_name_query_reads_the_class_own_descriptions(demo):
    from lafg.app import retrieval
    from lafg.language.encode import encode_cached
    from lafg.language.visual import filter_descriptions

    svc, g, descriptions, folder = demo
    unseen = [c for i, c in enumerate(g.classes) if i not in set(retrieval.image_list(svc.work_dir, folder).seen)]
    assert len(unseen) == UNSEEN
    queries = []
    for name in unseen:
        own = filter_descriptions({name: descriptions[name]}).kept[name]
        mean = encode_cached(svc.text_encoder(), own, svc.cache).mean(axis=0)
        query = retrieval.query_from_text(svc, g, name.upper())  # class names match whatever the case
        np.testing.assert_allclose(query.lang, mean / np.linalg.norm(mean), atol=1e-5)
        queries.append(query.lang)
    # ranking the unseen images (never fitted on) by each query puts the class's own images first, on average
    from lafg.retrieval.grounding import mean_average_precision

    rows = np.flatnonzero(np.isin(np.asarray(g.classes)[g.labels], unseen))
    sims = retrieval.unit(g.lang[rows]) @ np.stack(queries).T
    truth = np.asarray(g.classes)[g.labels[rows]][:, None] == np.asarray(unseen)[None, :]
    m = mean_average_precision(sims, truth)
    assert m.map > m.chance + 10, (m.map, m.chance)


def test_markdown_escapes_visitor_and_llm_text():
    """Class names, atom labels and quoted sentences are shown as text, never as live HTML."""
    from types import SimpleNamespace

    from lafg.app.tab_retrieve import explanation_md
    from lafg.retrieval.attribute_space import Calibration, Grounding
    from lafg.retrieval.explain import explain_grounded

    ex = explain_grounded(np.array([0.9]), np.array([0.8]), ["<img src=x onerror=alert(1)>"],
                          {0: ["<script>alert(1)</script> red"]}, threshold=0.5)
    cal = Calibration(np.zeros(1), np.ones(1), np.zeros(1), 1.0, 1.0, 0.0, 0.1)
    space = SimpleNamespace(description="read-out <b>x</b>", calibration=cal, grounding=Grounding(40.0, 20.0, 2, 9, 3))
    hit = SimpleNamespace(label="<i>Bird</i>", score=0.5)
    md = explanation_md(ex, hit, space)
    assert "<img" not in md and "<script>" not in md and "<i>" not in md and "<b>" not in md
    assert "&lt;script&gt;alert(1)&lt;/script&gt; red" in md and "&lt;i&gt;Bird&lt;/i&gt;" in md
    assert re.search(r"query 90%, result 80%", md) and "average precision 40 %, against 20 %" in md
