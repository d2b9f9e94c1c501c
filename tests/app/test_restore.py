"""Tabs 1–3 survive a reload: the browser keeps a recipe (lafg.app.restore) and the vocabulary and prototypes
are rebuilt from it, equal to the ones built before."""

from __future__ import annotations

import re

import numpy as np
import pytest

from lafg.app import restore
from lafg.app.common import Session
from lafg.errors import InputError
from lafg.language.prototypes import PrototypeConfig
from lafg.language.side import encode_vocabulary, language_prototypes
from lafg.language.vocabulary import VocabularyConfig
from tests.app.fakes import FakeTextEncoder, fake_services

NAMES = ["Red Finch", "Blue Finch", "Green Finch", "Grey Finch"]
DESC = {n: [f"a {n.split()[0].lower()} bird with a {part}" for part in ("short beak", "long tail", "pale belly", "dark wing bar")] for n in NAMES}


def built_session(svc) -> Session:
    s = Session(names=list(NAMES), descriptions={k: list(v) for k, v in DESC.items()}, source="typed in", visual_only=False)
    s.offtopic = {"Red Finch": [(DESC["Red Finch"][0], "reads more like Blue Finch")]}
    s.vocab = encode_vocabulary(s.descriptions, s.names, FakeTextEncoder(), VocabularyConfig(n_atoms=6, visual_only=False), svc.cache)
    s.prototypes = language_prototypes(s.names, s.descriptions, FakeTextEncoder(), None, PrototypeConfig(top_k=3, tau=0.05), "lafg", s.vocab, svc.cache)
    return s


def stored_recipe(page) -> str | None:
    """The session recipe as the browser holds it (Gradio encrypts it: only whether it changed can be seen)."""
    return page.evaluate("() => localStorage.getItem('lafg-session')")


def wait_for_new_recipe(page, before: str | None) -> str | None:
    """Wait until a save replaced the stored recipe ``before``; the new value."""
    page.wait_for_function("b => localStorage.getItem('lafg-session') !== b", arg=before, timeout=30_000)
    return stored_recipe(page)


def test_a_recipe_rebuilds_the_same_vocabulary_and_prototypes(tmp_path):
    svc = fake_services(tmp_path)
    before = built_session(svc)
    data = restore.recipe(before)
    assert data["vocab"] == {"n_atoms": 6, "seed": 0, "visual_only": False} and data["protos"]["top_k"] == 3
    restored, todo = restore.read_recipe(data, svc)
    s = Session(owner="b:owner", job_id="job-1")
    message = restore.rebuild(svc, restored, todo, s.owner)
    restore.adopt(s, restored)
    assert message == "Restored from this browser: 4 classes, 16 sentences, 6 atoms, 4 prototypes."
    assert s.names == NAMES and s.descriptions == DESC and s.source == "typed in" and s.owner == "b:owner" and s.job_id == "job-1"
    assert s.offtopic == before.offtopic
    assert [a.label for a in s.vocab.atoms] == [a.label for a in before.vocab.atoms]
    np.testing.assert_allclose(s.vocab.centroids, before.vocab.centroids, atol=1e-6)
    np.testing.assert_allclose(s.prototypes.vectors, before.prototypes.vectors, atol=1e-6)
    assert restore.settings_values(s) == (6, False, "atom", "PCA", "a photo of a {}.", 3, 0.05, "lafg")
    assert restore.same_as(s, restore.recipe(s))


def test_the_session_hash_follows_tabs_1_to_3_only():
    s = Session(names=["a", "b"], descriptions={"a": ["x"]})
    h = hash(s)
    s.job_id, s.hits, s.upload_tag = "j", [1], "t"  # tabs 4–5: not kept in the browser
    assert hash(s) == h
    s.descriptions["a"].append("y")
    assert hash(s) != h


@pytest.mark.parametrize("change, message", [
    ({"vocab": {"n_atoms": 100_000}}, "N atoms out of range"),
    ({"vocab": {"n_atoms": 6}, "protos": {"top_k": 3, "tau": 0.0}}, "τ_p out of range"),
    ({"vocab": {"n_atoms": 6}, "protos": {"top_k": 3, "tau": 0.1, "template": "no slot"}}, "must contain"),
    ({"descriptions": {"Red Finch": "not a list"}}, "must be a list"),
    ({"names": ["n"] * 3000}, "at most"),
])
def test_a_recipe_edited_in_the_browser_is_refused(tmp_path, change, message):
    svc = fake_services(tmp_path)
    data = {**restore.recipe(Session(names=list(NAMES), descriptions=dict(DESC))), **change}
    with pytest.raises(InputError, match=message):
        restore.read_recipe(data, svc)


def test_grounded_prototypes_come_back_grounded_with_the_vocabulary_maps_own_key(tmp_path):
    from lafg.app.services import vocab_key

    svc = fake_services(tmp_path)
    before = built_session(svc)
    before.prototypes = language_prototypes(before.names, before.descriptions, FakeTextEncoder(), None,
                                            PrototypeConfig(top_k=3, tau=0.05), "grounded", before.vocab, svc.cache)
    data = restore.recipe(before)
    restored, todo = restore.read_recipe(data, svc)
    restore.rebuild(svc, restored, todo, "b:owner")
    assert restored.prototypes.variant == "grounded" and restore.settings_values(restored)[-1] == "grounded"
    np.testing.assert_allclose(restored.prototypes.vectors, before.prototypes.vectors, atol=1e-6)
    assert restored.vocab_key == vocab_key(FakeTextEncoder().name, restored.vocab)  # tab 2's key: one map, not two
    data["protos"]["variant"] = "<b>x</b>"
    with pytest.raises(InputError, match="unknown prototype variant"):
        restore.read_recipe(data, svc)


def test_nothing_usable_is_ignored(tmp_path):
    svc = fake_services(tmp_path)
    for data in (None, [], {"v": 99, "names": NAMES}, {"v": 1, "names": []}, {"v": 1, "too_big": True}, {"v": 1, "names": [3]}):
        assert restore.read_recipe(data, svc) is None


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_a_reload_restores_tabs_1_to_3_in_chromium(app, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    from tests.app.test_browser import ARGS, CHROMIUM, open_tab, skip_without_chromium

    skip_without_chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app[0])
        names = page.locator("#names-box textarea")
        expect(names).not_to_have_value("", timeout=30_000)
        kept = names.input_value().splitlines()[:4]  # four of the demo's classes, whatever the demo is
        names.fill("\n".join(kept))
        page.get_by_role("button", name="Use these names").click()
        expect(page.locator("#names-info")).to_contain_text("4 classes", timeout=15_000)
        desc = page.locator("#desc-edit textarea")
        desc.fill(desc.input_value() + "\na sentence typed before the reload")
        page.get_by_role("button", name="Save edits").click()
        expect(page.locator("#names-info")).to_contain_text("sentences", timeout=10_000)
        page.wait_for_timeout(500)
        open_tab(page, "2 · Attribute vocabulary")
        page.get_by_label("number input for N atoms").fill("6")
        page.get_by_label("number input for N atoms").press("Enter")
        saved = stored_recipe(page)
        page.get_by_role("button", name="Build vocabulary").click()
        expect(page.locator("#vocab-info")).to_contain_text("6 atoms", timeout=60_000)
        saved = wait_for_new_recipe(page, saved)  # the vocabulary's save has landed
        open_tab(page, "3 · Prototypes")
        page.get_by_label("number input for K atoms per class").fill("2")
        page.get_by_label("number input for K atoms per class").press("Enter")
        page.locator("#proto-variant input[value=grounded]").check()
        page.get_by_role("button", name="Build prototypes").click()
        expect(page.locator("#proto-info")).to_contain_text("top-2", timeout=30_000)
        wait_for_new_recipe(page, saved)  # the keep_session event has written the prototypes' recipe

        page.reload()
        expect(page.locator("#restore-note")).to_contain_text("Restored from this browser: 4 classes", timeout=60_000)
        expect(names).to_have_value("\n".join(kept))
        expect(page.locator("#desc-edit textarea")).to_have_value(re.compile("a sentence typed before the reload"))
        open_tab(page, "2 · Attribute vocabulary")
        expect(page.locator("#vocab-info")).to_contain_text("6 atoms")
        expect(page.locator("#vocab-info")).to_contain_text("restored after a reload")
        expect(page.get_by_label("number input for N atoms")).to_have_value("6")
        open_tab(page, "3 · Prototypes")
        expect(page.locator("#proto-info")).to_contain_text("restored after a reload")
        expect(page.locator("#proto-info")).to_contain_text("top-2")
        expect(page.get_by_label("number input for K atoms per class")).to_have_value("2")
        expect(page.locator("#proto-variant input[value=grounded]")).to_be_checked()  # the prototypes' own atoms
        assert "Traceback" not in page.content()
        browser.close()


def test_start_again_from_the_demo_resets_tabs_1_to_3(app):
    """The reset event: a session with other names goes back to the embedded demo's names and descriptions."""
    from lafg.app.common import demo_session

    demo = app[1]
    fn = next(f.fn for f in demo.fns.values() if f.api_name == "reset_to_demo")
    s = Session(names=["Only one"], descriptions={"Only one": ["x"]}, owner="b:me", job_id="j")
    out = fn(s)
    fresh = demo_session()
    assert out[0] is s and s.names == fresh.names and s.descriptions == fresh.descriptions and s.owner == "b:me" and s.job_id == "j"
    assert out[1] == "Back to the embedded demo." and s.vocab is None and s.prototypes is None
