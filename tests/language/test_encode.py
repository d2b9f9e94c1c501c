import numpy as np
import pytest

from lafg.errors import BackendError
from lafg.language.encode import MiniLMEncoder, encode_cached, l2_normalise
from lafg.language.encoders import create_text_encoder, list_text_encoders
from lafg.store.cache import ArrayCache

TINY_CLIP = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def test_registry_and_unknown_name():
    assert list_text_encoders() == ["minilm", "open_clip", "bridge:efficientnet_lite0"]
    with pytest.raises(BackendError, match="unknown text encoder"):
        create_text_encoder("word2vec")


def test_l2_normalise_exact():
    x = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert np.allclose(x, [[0.6, 0.8], [0, 0]])


@pytest.mark.slow
def test_minilm_matches_sentence_transformers(minilm):
    """Our mean pooling reproduces sentence-transformers' embedding of the same bundled model."""
    from sentence_transformers import SentenceTransformer

    from lafg.language.encode import bundled_minilm_dir

    texts = ["A bird with a bright red crown.", "A car with a boxy grille.", "Ñandú, シジュウカラ"]
    ours = minilm.encode(texts)
    ref = SentenceTransformer(str(bundled_minilm_dir()), device="cpu").encode(texts, normalize_embeddings=True)
    assert ours.shape == (3, 384)
    assert np.allclose(ours, ref, atol=1e-5)


@pytest.mark.slow
def test_minilm_semantics(minilm):
    x = minilm.encode(["a bird with a red crown", "a red-crowned bird", "a sedan with chrome wheels"])
    assert x[0] @ x[1] > 0.8 > 0.4 > x[0] @ x[2]
    assert np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)


@pytest.mark.slow
def test_encode_cached_second_call_hits(minilm, tmp_path):
    cache = ArrayCache(tmp_path)
    texts = ["a long tail", "a short bill"]
    first = encode_cached(minilm, texts, cache)
    calls = []
    original = minilm._encode_batch
    minilm._encode_batch = lambda b: calls.append(b) or original(b)
    try:
        second = encode_cached(minilm, texts, cache)
    finally:
        del minilm._encode_batch
    assert calls == [] and np.array_equal(first, second)


def test_minilm_bad_folder_gives_backend_error(tmp_path):
    with pytest.raises(BackendError, match="cannot load the MiniLM"):
        MiniLMEncoder(model_dir=tmp_path)


def test_open_clip_random_tiny_text_tower():
    enc = create_text_encoder("open_clip", shared=False, arch="lafg-tiny-test", pretrained=None, model_cfg=TINY_CLIP)
    x = enc.encode(["a photo of a Blue Jay.", "a photo of a Cardinal.", "a photo of a Blue Jay."])
    assert x.shape == (3, 16) and enc.dim == 16
    assert np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    assert np.allclose(x[0], x[2], atol=1e-6) and not np.allclose(x[0], x[1], atol=1e-3)
    assert enc.name == "open_clip:lafg-tiny-test:random"


def test_open_clip_missing_weights_file_is_a_backend_error(tmp_path):
    with pytest.raises(BackendError, match="cannot load open_clip"):
        create_text_encoder("open_clip", shared=False, arch="lafg-tiny-test", pretrained=str(tmp_path / "none.pt"), model_cfg=TINY_CLIP)
