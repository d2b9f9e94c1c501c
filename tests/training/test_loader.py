import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision import transforms as T

from lafg.training.distributed import local_batch
from lafg.training.inputs import ImageInputs
from lafg.training.loader import loader_workers, prefetch
from lafg.training.loop import TrainConfig, train
from lafg.vision.data import load_image

AUGMENT = T.Compose([T.RandomResizedCrop(16, scale=(0.3, 1.0)), T.RandomHorizontalFlip(), T.ToTensor()])


def _images(tmp_path, n=24):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = tmp_path / f"{i}.png"
        Image.fromarray((rng.random((20, 24, 3)) * 255).astype(np.uint8)).save(path)
        paths.append(str(path))
    return paths


def test_workers_build_the_batches_the_loop_would(tmp_path):
    inputs = ImageInputs(_images(tmp_path), AUGMENT, load_image)
    batches = [np.arange(b * 6, b * 6 + 6) for b in range(4)]
    serial_gen, worker_gen = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    serial = [local_batch(inputs, idx, serial_gen) for idx in batches]
    fed = list(prefetch(inputs, batches, worker_gen, "cpu", workers=2))
    assert len(fed) == 4
    for a, b in zip(serial, fed, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert torch.equal(serial_gen.get_state(), worker_gen.get_state())  # the loop's generator moves on the same
    assert not torch.equal(serial[0], serial[1])


def test_no_workers_on_cpu_by_default_and_env_override(monkeypatch):
    monkeypatch.delenv("LAFG_LOADER_WORKERS", raising=False)
    assert loader_workers("cpu") == 0
    monkeypatch.setenv("LAFG_LOADER_WORKERS", "3")
    assert loader_workers("cpu") == 3
    assert prefetch(ImageInputs([], AUGMENT, load_image), [], torch.Generator(), "cpu", workers=2) is None


def test_full_mode_training_is_the_same_with_loader_workers(tmp_path, monkeypatch):
    paths = _images(tmp_path)
    labels = np.repeat(np.arange(6), 4)

    def run(workers: str, out):
        monkeypatch.setenv("LAFG_LOADER_WORKERS", workers)
        torch.manual_seed(0)
        trunk = nn.Sequential(nn.Conv2d(3, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        cfg = TrainConfig(method="aux", mode="full", epochs=2, classes_per_batch=3, images_per_class=2, embed_dim=8)
        steps = []
        train(cfg, ImageInputs(paths, AUGMENT, load_image), labels, out, in_dim=8, trunk=trunk,
              progress=lambda e: steps.append(e.terms["aux"]), device="cpu")
        return steps

    serial, workers = run("0", tmp_path / "a"), run("2", tmp_path / "b")
    assert len(serial) == 8
    np.testing.assert_allclose(workers, serial, rtol=1e-6)
