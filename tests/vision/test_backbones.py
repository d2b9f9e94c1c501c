import numpy as np
import pytest
import torch

from lafg.errors import BackendError, InputError
from lafg.vision.backbones import create_backbone, list_backbones

torch.set_num_threads(2)

OPEN_CLIP_TINY = dict(
    embed_dim=32,
    vision_cfg=dict(image_size=64, layers=2, width=64, patch_size=16, head_width=32),
    text_cfg=dict(context_length=16, vocab_size=100, width=32, heads=2, layers=1),
)


@pytest.fixture(scope="module")
def lite0():
    return create_backbone("efficientnet_lite0")


def _check_split(backbone, reference, ns=None, atol=1e-4):
    torch.manual_seed(0)
    x = torch.randn(2, 3, backbone.image_size, backbone.image_size)
    with torch.no_grad():
        full = backbone(x)
        assert full.shape == (2, backbone.feature_dim)
        torch.testing.assert_close(full, reference(x), atol=atol, rtol=1e-4)
        for n in ns if ns is not None else range(backbone.n_stages + 1):
            bottom, top = backbone.split_at(n)
            torch.testing.assert_close(top(bottom(x)), full, atol=atol, rtol=1e-4)


def test_registry_lists_backends():
    names = list_backbones()
    assert "efficientnet_lite0" in names and "timm:<name>" in names and "open_clip:<name>" in names
    with pytest.raises(InputError, match="unknown backbone"):
        create_backbone("resnet9000")
    with pytest.raises(InputError):
        create_backbone("timm:")


def test_lite0_split_matches_original_forward(lite0):
    assert lite0.feature_dim == 1280 and lite0.mean == lite0.std == (0.5, 0.5, 0.5) and lite0.image_size == 224
    assert lite0.n_stages == 7 and not lite0.training

    def original(x):  # the package's own forward, minus the classifier
        return torch.flatten(torch.nn.functional.adaptive_avg_pool2d(lite0.model.extract_features(x), 1), 1)

    _check_split(lite0, original, ns=(0, 1, 2, 7))
    bottom, top = lite0.split_at(1)
    with torch.no_grad():
        act = bottom(torch.zeros(1, 3, 224, 224))
    assert act.shape == (1, 192, 7, 7)  # input of the last MBConv block
    # bottom and top share (not copy) the backbone's parameters and split them between them
    ids = {id(p) for p in lite0.parameters()}
    top_ids, bottom_ids = {id(p) for p in top.parameters()}, {id(p) for p in bottom.parameters()}
    assert top_ids <= ids and bottom_ids <= ids and not top_ids & bottom_ids
    with pytest.raises(InputError):
        lite0.split_at(8)


def test_lite0_top_trains_in_place(lite0):
    _, top = lite0.split_at(1)
    top.train()
    x = torch.randn(4, 192, 7, 7)
    top(x).pow(2).mean().backward()
    assert all(p.grad is not None for p in top.parameters() if p.requires_grad)
    lite0.zero_grad(set_to_none=True)
    lite0.eval()


@pytest.mark.parametrize("name", ["timm:test_efficientnet", "timm:test_resnet", "timm:test_vit", "timm:test_convnext"])
def test_timm_random_tiny_split(name):
    backbone = create_backbone(name, pretrained=False)
    assert backbone.n_stages >= 2 and backbone.name.endswith("[random]")
    _check_split(backbone, backbone.model)


def test_timm_unknown_model_is_a_backend_error():
    with pytest.raises(BackendError, match="no_such_model"):
        create_backbone("timm:no_such_model", pretrained=False)


def test_open_clip_random_tiny_visual_tower():
    backbone = create_backbone("open_clip:ViT-S-32", pretrained=False, **OPEN_CLIP_TINY)
    assert backbone.feature_dim == 32 and backbone.image_size == 64 and backbone.n_stages == 2
    _check_split(backbone, backbone.model)


def test_transforms(lite0):
    from PIL import Image

    img = Image.new("RGB", (300, 250), (255, 0, 0))
    x = lite0.eval_transform()(img)
    assert x.shape == (3, 224, 224)
    torch.testing.assert_close(x[:, 100, 100], torch.tensor([1.0, -1.0, -1.0]))
    torch.manual_seed(0)
    assert lite0.train_transform()(img).shape == (3, 224, 224)


@pytest.mark.slow
def test_lite0_pretrained_features_group_cub_classes(lite0, shared_data):
    from lafg.vision.data import load_image, load_image_set

    paths, labels, _ = load_image_set(shared_data / "cub100").split("unseen")
    picked = [i for c in range(4) for i in np.flatnonzero(labels == c)[:3]]
    x = torch.stack([lite0.eval_transform()(load_image(paths[i])) for i in picked])
    with torch.no_grad():
        f = torch.nn.functional.normalize(lite0(x), dim=1)
    sim = f @ f.T
    y = torch.as_tensor(labels[picked])
    same = (y[:, None] == y[None, :]) & ~torch.eye(len(y), dtype=torch.bool)
    diff = y[:, None] != y[None, :]
    assert sim[same].mean() > sim[diff].mean() + 0.05


@pytest.mark.parametrize("name", ["efficientnet_lite0", "timm:test_vit"])
def test_deepcopy_gives_an_independent_backbone(name):
    import copy

    backbone = create_backbone(name, pretrained=name == "efficientnet_lite0")
    clone = copy.deepcopy(backbone)
    x = torch.randn(1, 3, backbone.image_size, backbone.image_size)
    with torch.no_grad():
        before = backbone(x)
        for p in clone.parameters():
            p.add_(0.05)
        assert torch.equal(backbone(x), before)  # the original's stem/head do not reach into the clone
        bottom, top = clone.split_at(1)
        torch.testing.assert_close(top(bottom(x)), clone(x), atol=1e-4, rtol=1e-4)
        assert not torch.allclose(clone(x), before)
