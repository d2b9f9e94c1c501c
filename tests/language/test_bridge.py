import json

import numpy as np
import pytest

from lafg.errors import BackendError
from lafg.language.bridge import BridgeEncoder, bridge_map, classifier_directions, imagenet_class_names
from lafg.language.encode import TextEncoder
from lafg.language.encoders import create_text_encoder, list_text_encoders


class LookupEncoder(TextEncoder):
    """A hand-made 'text encoder': fixed vectors per text."""

    def __init__(self, table: dict[str, list[float]]):
        self.table = table
        self.dim = len(next(iter(table.values())))
        self.name = "lookup"

    def _encode_batch(self, texts):
        return np.array([self.table[t] for t in texts], np.float32)


def test_classifier_directions_exact():
    w = np.array([[3.0, 4.0], [0.0, 2.0]])
    np.testing.assert_allclose(classifier_directions(w, center=False), [[0.6, 0.8], [0.0, 1.0]], atol=1e-7)
    # unit rows minus their mean (0.3, 0.9)
    np.testing.assert_allclose(classifier_directions(w), [[0.3, -0.1], [-0.3, 0.1]], atol=1e-7)


def test_bridge_map_exact():
    names = np.array([[1.0, 0.0], [0.0, 1.0]])
    directions = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    text = np.array([[1.0, 0.0], [2**-0.5, 2**-0.5]])
    out = bridge_map(text, names, directions, temperature=1.0)
    e = np.exp(1.0)
    # text 0: softmax(1, 0) = (e, 1)/(e+1); text 1: equal similarities → (½, ½)
    np.testing.assert_allclose(out, [[e / (e + 1), 0.0, 2 / (e + 1)], [0.5, 0.0, 1.0]], atol=1e-6)
    sharp = bridge_map(text[:1], names, directions, temperature=1e-3)
    np.testing.assert_allclose(sharp, [[1.0, 0.0, 0.0]], atol=1e-6)  # T → 0: the nearest class name only
    with pytest.raises(ValueError):
        bridge_map(text, names, directions, temperature=0.0)


def test_bridge_encoder_on_a_hand_made_case():
    table = {
        "a photo of a goldfinch.": [1.0, 0.0],
        "a photo of a sports car.": [0.0, 1.0],
        "yellow bird": [1.0, 0.0],
        "fast": [0.6, 0.8],
    }
    enc = BridgeEncoder(
        text_encoder=LookupEncoder(table),
        class_names=["goldfinch", "sports car"],
        classifier=np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 5.0]]),
        temperature=0.1,
        center=False,
    )
    assert enc.dim == 3 and enc.name.startswith("bridge:efficientnet_lite0:T=0.1:center=0:lookup")
    out = enc.encode(["yellow bird", "fast"])
    w_bird = 1 / (1 + np.exp(-10.0))  # softmax((1, 0) / 0.1)
    w_fast = 1 / (1 + np.exp(-2.0))  # softmax((0.6, 0.8) / 0.1) on "sports car"
    expected = np.array([[w_bird, 0.0, 1 - w_bird], [1 - w_fast, 0.0, w_fast]])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert enc.class_weights(["yellow bird"], top=1) == [[(0, pytest.approx(w_bird))]]
    with pytest.raises(BackendError, match="class names"):
        BridgeEncoder(text_encoder=LookupEncoder(table), class_names=["goldfinch"], classifier=np.eye(2))
    with pytest.raises(BackendError, match="no ImageNet classifier"):
        BridgeEncoder(backbone="resnet", text_encoder=LookupEncoder(table))


def test_registered_and_imagenet_names():
    assert "bridge:efficientnet_lite0" in list_text_encoders()
    names = imagenet_class_names()
    assert len(names) == 1000 and names[0] == "tench" and names[-1] == "toilet paper"


@pytest.mark.slow
def test_bridge_on_the_shared_descriptors(shared_data):
    """Integration: the registered backend on real descriptions lands in the 1280-d backbone space and reads
    bird texts as ImageNet birds, car texts as ImageNet vehicles."""
    enc = create_text_encoder("bridge:efficientnet_lite0")
    assert enc.dim == 1280
    cub = json.loads((shared_data / "descriptors" / "cub200_gpt4_adaptclipzs.json").read_text())
    cars = json.loads((shared_data / "descriptors" / "cars196_gpt4_adaptclipzs.json").read_text())
    bird_texts = [d for name in list(cub)[:5] for d in cub[name][:2]]
    car_texts = [d for name in list(cars)[:5] for d in cars[name][:2]]
    emb = enc.encode(bird_texts + car_texts)
    assert emb.shape == (20, 1280) and np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    names = imagenet_class_names()
    top_bird = [names[i] for row in enc.class_weights([f"a photo of a {n}." for n in list(cub)[:5]], 1) for i, _ in row]
    top_car = [names[i] for row in enc.class_weights([f"a photo of a {n}." for n in list(cars)[:5]], 1) for i, _ in row]
    assert set(top_bird) & set(names[7:25] + names[80:101] + names[127:147])  # some ImageNet bird
    assert set(top_car) & {"sports car", "convertible", "minivan", "pickup truck", "station wagon", "limousine", "jeep", "cab", "racing car", "police van", "beach wagon", "car wheel", "grille", "moving van", "tow truck", "minibus", "ambulance"}
    bb, cc, bc = emb[:10] @ emb[:10].T, emb[10:] @ emb[10:].T, emb[:10] @ emb[10:].T
    assert bb.mean() > bc.mean() and cc.mean() > bc.mean()  # birds closer to birds than to cars


def test_the_registrys_bridge_reads_through_the_one_shared_minilm():
    from lafg.language.encoders import create_text_encoder

    bridge = create_text_encoder("bridge:efficientnet_lite0", temperature=0.05, center=False)
    assert bridge.text is create_text_encoder("minilm")
    assert bridge.registry == ("bridge:efficientnet_lite0", {"temperature": 0.05, "center": False})
