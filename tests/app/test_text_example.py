"""The Retrieve tab's text-search examples find their class on the embedded demo (real models, untrained
backbone: what a visitor who types the placeholder gets first)."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_the_search_box_examples_find_their_class_on_the_demo(tmp_path):
    from lafg.app import retrieval
    from lafg.app.datasets import DEMO_DIR, shared_descriptions
    from lafg.app.services import default_services
    from lafg.app.tab_retrieve import NAME_EXAMPLE, TEXT_EXAMPLE

    svc = default_services(tmp_path)
    gallery = retrieval.build_gallery(svc, None, DEMO_DIR, shared_descriptions(DEMO_DIR))
    for query, cls in (TEXT_EXAMPLE, (NAME_EXAMPLE, NAME_EXAMPLE)):
        assert cls in gallery.classes
        hits = retrieval.search(gallery, retrieval.query_from_text(svc, gallery, query))
        labels = [h.label for h in hits]
        # the first result is the class, and most of its 6 demo images are among the 12 results
        assert labels[0] == cls and labels.count(cls) >= 4, (query, labels)
