"""The app's training job in ``full`` mode (whole backbone trained, here on the CPU with a tiny random
backbone) and retrieval through the fine-tuned checkpoint."""

import json
from pathlib import Path

import pytest

from lafg.app import retrieval
from lafg.app.datasets import DEMO_DIR, available_datasets
from lafg.app.embedder import BackboneEmbedder
from lafg.app.jobs import JobRegistry
from lafg.app.services import Services
from lafg.app.training import train_job
from lafg.store.cache import ArrayCache
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
    assert len(gallery) == 120
    query = retrieval.query_from_image(svc, gallery, gallery.paths[0])
    hits = retrieval.search(gallery, query)
    # explanations read the read-out onto the seen classes' own descriptions, fitted on the frozen features
    # (the fine-tuned backbone changes retrieval, not what the attributes read)
    assert len(hits) == 12 and retrieval.explain_hit(gallery, query, hits[0]).method == "readout"
    assert gallery.space.description.startswith("read-out onto the seen classes' own descriptions, fitted on the "
                                                "frozen backbone features of")


@pytest.mark.slow
def test_the_app_and_the_cli_train_the_same_checkpoint(tmp_path, monkeypatch):
    """Same data, descriptions, method, epochs and seed: the app's job and `lafg train` write the same model,
    language side, read-out and run spec (the app runs the library pipeline with its defaults)."""
    import torch

    from lafg.cli import main
    from lafg.language.encoders import create_text_encoder

    monkeypatch.chdir(tmp_path)
    cache = ArrayCache(tmp_path / "cache")
    embedder = BackboneEmbedder("efficientnet_lite0", cache)
    svc = Services(lambda: create_text_encoder("minilm"), lambda: embedder, fake_llm_factory, fake_describe, train_job,
                   JobRegistry(tmp_path / "jobs"), tmp_path, cache, available_datasets())
    desc = str(DEMO_DIR / "descriptions.json")
    params = {"dataset_dir": str(DEMO_DIR), "method": "lafg", "mode": "head", "epochs": 3, "descriptions_file": desc}
    st = svc.jobs.wait(svc.jobs.submit(lambda ctx: svc.train_job(svc, ctx), params, "app"), 300)
    assert st.state == "done", st.error
    cli_out = tmp_path / "cli"
    assert main(["train", "--data", str(DEMO_DIR), "--descriptions", desc, "--method", "lafg", "--epochs", "3",
                 "--out", str(cli_out)]) == 0
    app_ckpt = torch.load(st.result["checkpoint"], weights_only=True)
    cli_ckpt = torch.load(cli_out / "checkpoint.pt", weights_only=True)
    assert app_ckpt["run"] == cli_ckpt["run"]
    for key in ("model", "objective"):
        assert app_ckpt[key].keys() == cli_ckpt[key].keys()
        assert all(torch.equal(app_ckpt[key][k], cli_ckpt[key][k]) for k in app_ckpt[key]), key
    assert torch.equal(app_ckpt["readout"]["weight"], cli_ckpt["readout"]["weight"])
    assert torch.equal(app_ckpt["language"]["vocabulary"]["centroids"], cli_ckpt["language"]["vocabulary"]["centroids"])
