"""The app's training job in ``full`` mode (whole backbone trained, here on the CPU with a tiny random
backbone) and retrieval through the fine-tuned checkpoint."""

import json
from pathlib import Path

import pytest

from lafg.app import retrieval
from lafg.app.services import DEMO_DIR, BackboneEmbedder, Services, available_datasets
from lafg.app.training import train_job
from lafg.cache import ArrayCache
from lafg.jobs import JobRegistry
from tests.app.fakes import FakeTextEncoder, fake_describe, fake_llm_factory


@pytest.mark.slow
def test_full_mode_job_then_retrieval_through_the_finetuned_backbone(tmp_path):
    cache = ArrayCache(tmp_path / "cache")
    embedder = BackboneEmbedder("timm:resnet10t", cache, pretrained=False)
    svc = Services(FakeTextEncoder, lambda: embedder, fake_llm_factory, fake_describe, train_job, JobRegistry(tmp_path / "jobs"), tmp_path, cache, available_datasets())
    desc = json.loads((DEMO_DIR / "descriptions.json").read_text(encoding="utf-8"))
    (tmp_path / "d.json").write_text(json.dumps(desc), encoding="utf-8")
    params = {"dataset_dir": str(DEMO_DIR), "method": "lafg", "mode": "full", "epochs": 1, "descriptions_file": str(tmp_path / "d.json"), "n_atoms": 8}
    st = svc.jobs.wait(svc.jobs.submit(lambda ctx: svc.train_job(svc, ctx), params, "full"), 240)
    assert st.state == "done", st.error
    assert st.result["mode"] == "full" and st.result["device"] in ("cpu", "cuda") and Path(st.result["checkpoint"]).is_file()
    gallery = retrieval.build_gallery(svc, st.result["checkpoint"], DEMO_DIR, desc)
    assert gallery.image_fn is not None and len(gallery) == 80
    query = retrieval.query_from_image(svc, gallery, gallery.paths[0])
    hits = retrieval.search(gallery, query)
    assert len(hits) == 12 and retrieval.explain_hit(gallery, query, hits[0]).method == "projector"
