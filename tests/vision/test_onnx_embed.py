import json

import numpy as np
import pytest
import torch
from torch import nn

from lafg.errors import BackendError
from lafg.vision.backbones import Backbone, create_backbone
from lafg.vision.features import extract_features
from lafg.vision.onnx_embed import OnnxBackbone, onnx_backbone, runtime_for

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def lite0():
    return create_backbone("efficientnet_lite0")


def test_onnx_features_equal_torch_features(lite0, tmp_path):
    from lafg.app.datasets import DEMO_DIR

    paths = sorted((DEMO_DIR / "images").rglob("*.jpg"))[:6]
    assert len(paths) == 6
    ref = extract_features(lite0, paths, lite0.eval_transform(), batch_size=4, num_workers=0, engine="torch")
    fast = extract_features(lite0, paths, lite0.eval_transform(), batch_size=4, num_workers=0, engine="onnx")
    assert fast.shape == ref.shape == (6, 1280)
    np.testing.assert_allclose(fast, ref, atol=1e-4, rtol=1e-4)
    assert not np.allclose(ref[0], ref[1])  # real, distinct features


def test_export_is_cached_and_auto_picks_onnx_on_cpu(lite0, tmp_path):
    module = onnx_backbone(lite0, cache_dir=tmp_path, n_threads=1)
    assert isinstance(module, OnnxBackbone)
    meta = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert meta["ok"] and meta["max_rel_diff"] < 1e-4
    assert onnx_backbone(lite0, cache_dir=tmp_path, n_threads=1) is module  # exported once per process
    assert isinstance(runtime_for(lite0), OnnxBackbone)
    assert runtime_for(lite0, "torch") is lite0


def test_auto_respects_the_switch_and_training_copies_differ(lite0, monkeypatch):
    monkeypatch.setenv("LAFG_ONNX", "0")
    assert runtime_for(lite0) is lite0
    monkeypatch.delenv("LAFG_ONNX")
    tuned = create_backbone("efficientnet_lite0", pretrained=False)
    assert runtime_for(tuned).path != runtime_for(lite0).path  # other weights, other export


class _NotExportable(nn.Module):
    def forward(self, x):
        return torch.from_numpy(x.numpy().mean(axis=(2, 3)))  # leaves the graph: the tracer cannot follow


def test_backbone_that_does_not_export_falls_back_to_torch(tmp_path):
    bad = Backbone("bad", _NotExportable(), 3, (0.5,) * 3, (0.5,) * 3, 32, None, [], None, channels_last=False)
    assert onnx_backbone(bad, cache_dir=tmp_path) is None
    assert runtime_for(bad) is bad
    with pytest.raises(BackendError, match="does not export"):
        runtime_for(bad, "onnx")


def test_int8_is_opt_in_close_to_fp32_cached_per_calibration_set_and_cached_apart(lite0, tmp_path):
    from lafg.app.datasets import DEMO_DIR
    from lafg.errors import InputError
    from lafg.store.cache import ArrayCache
    from lafg.vision.onnx_embed import int8_backbone

    paths = sorted((DEMO_DIR / "images").rglob("*.jpg"))
    calibration, queries = paths[:24], paths[-6:]
    int8 = int8_backbone(lite0, calibration, cache_dir=tmp_path, n_threads=1)
    assert int8.precision == "int8" and int8.name.endswith("[int8]") and "int8" in int8.path.name
    assert isinstance(runtime_for(lite0), OnnxBackbone) and runtime_for(lite0).precision == "fp32"  # not a default
    fp32 = extract_features(lite0, queries, lite0.eval_transform(), 4, num_workers=0, engine="onnx")
    q8 = extract_features(lite0, queries, lite0.eval_transform(), 4, num_workers=0, engine=int8)
    cos = np.sum(fp32 * q8, axis=1) / np.linalg.norm(fp32, axis=1) / np.linalg.norm(q8, axis=1)
    assert q8.shape == fp32.shape and cos.min() > 0.95 and not np.allclose(q8, fp32, atol=1e-3)
    stamp = int8.path.stat().st_mtime_ns
    assert int8_backbone(lite0, calibration, cache_dir=tmp_path, n_threads=1).path.stat().st_mtime_ns == stamp
    assert int8_backbone(lite0, paths[24:48], cache_dir=tmp_path, n_threads=1).path != int8.path
    cache = ArrayCache(tmp_path / "feats")  # int8 features are cached under their own name, apart from fp32 ones
    extract_features(lite0, queries[:2], lite0.eval_transform(), 2, cache=cache, num_workers=0, engine=int8)
    again = extract_features(lite0, queries[:2], lite0.eval_transform(), 2, cache=cache, num_workers=0, engine="onnx")
    np.testing.assert_allclose(again, fp32[:2], atol=1e-5)
    with pytest.raises(InputError, match="at least 16"):
        int8_backbone(lite0, paths[:3], cache_dir=tmp_path)


def test_an_int8_models_name_and_file_follow_its_calibration_images_and_transform(tmp_path):
    """Its name keys the feature cache: two calibrations must never share cached features."""
    from torchvision import transforms as T

    from lafg.vision.onnx_embed import calibration_key

    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.jpg")
        paths[-1].write_bytes(b"x" * (i + 1))
    a, b = T.Compose([T.Resize(224), T.ToTensor()]), T.Compose([T.Resize(256), T.ToTensor()])
    keys = {calibration_key(paths, a), calibration_key(paths, b), calibration_key(paths[:2], a)}
    assert len(keys) == 3 and calibration_key(list(reversed(paths)), a) == calibration_key(paths, a)
